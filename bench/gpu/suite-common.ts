/** What every device-suite stage shares: arguments, logging, per-stage result files, checkpoints. */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { getModel } from '../../src/models/registry';
import type { ModelName } from '../../src/models/types';
import { type Profile, writeSyntheticCheckpoint } from '../../src/weights/synthetic';

export interface Args {
  readonly stage: string;
  readonly work: string;
  readonly fixtures: string;
  readonly out: string;
  /** Flags without values, e.g. --cpu-only. */
  readonly flags: readonly string[];
  /** The first positional argument after the stage (child stages: a result file). */
  readonly target?: string;
}

export function parseArgs(argv: readonly string[]): Args {
  const get = (flag: string, fallback: string): string => {
    const i = argv.indexOf(flag);
    return i >= 0 && argv[i + 1] !== undefined ? argv[i + 1]! : fallback;
  };
  const valued = new Set(['--work', '--fixtures', '--out']);
  const positional: string[] = [];
  const flags: string[] = [];
  for (let i = 1; i < argv.length; i++) {
    const a = argv[i]!;
    if (valued.has(a)) i++;
    else if (a.startsWith('--')) flags.push(a);
    else positional.push(a);
  }
  return {
    stage: argv[0] ?? 'info',
    work: get('--work', '/tmp/inception-gpu'),
    fixtures: get('--fixtures', 'fixtures'),
    out: get('--out', '.'),
    flags,
    target: positional[0],
  };
}

const t0 = Date.now();
export function log(message: string): void {
  console.log(`[${((Date.now() - t0) / 1000).toFixed(1).padStart(6)}s] ${message}`);
}

/** Logs "<stage>: k/n cases pass in t s" and marks the process failed unless every case passed. */
export function finishCases(stage: string, rows: readonly { readonly pass: boolean }[], startedMs: number): void {
  log(`${stage}: ${rows.filter((r) => r.pass).length}/${rows.length} cases pass in ${((Date.now() - startedMs) / 1000).toFixed(1)} s`);
  if (!rows.every((r) => r.pass)) process.exitCode = 1;
}

export function errorText(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}

export function saveStage(args: Args, stage: string, data: unknown): void {
  const dir = join(args.work, 'results');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, `${stage}.json`), JSON.stringify(data, null, 1));
}

export function readStage(args: Args, stage: string): Record<string, unknown> | null {
  try {
    return JSON.parse(readFileSync(join(args.work, 'results', `${stage}.json`), 'utf8')) as Record<string, unknown>;
  } catch {
    return null;
  }
}

/** <work>/<model>_<profile>.safetensors, written by the synthetic generator on first use. */
export async function ensureCheckpoint(args: Args, model: ModelName, profile: Profile): Promise<string> {
  const path = join(args.work, `${model}_${profile}.safetensors`);
  if (!existsSync(path)) {
    const started = Date.now();
    await writeSyntheticCheckpoint(getModel(model).checkpoint, profile, path);
    log(`wrote ${path} in ${Date.now() - started} ms`);
  }
  return path;
}

export const MIB = 1024 * 1024;
export const mib = (bytes: number): string => (bytes / MIB).toFixed(1);
