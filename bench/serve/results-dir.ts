/**
 * Where a serve benchmark writes its results: `--out DIR` (relative to the directory npm was run
 * from, INIT_CWD, else the current one), or by default a new temporary directory, so that a run
 * never leaves files in the package (a checkout or a read-only install). The repository's own
 * results: `--out bench/results`.
 */
import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

export function resultsDir(argv: readonly string[], prefix: string): string {
  const index = argv.indexOf('--out');
  if (index < 0) return mkdtempSync(join(tmpdir(), `inception-cudnn-${prefix}-`));
  const value = argv[index + 1];
  if (value === undefined || value.startsWith('--')) throw new Error('--out needs a directory');
  const dir = resolve(process.env.INIT_CWD ?? process.cwd(), value);
  mkdirSync(dir, { recursive: true });
  return dir;
}
