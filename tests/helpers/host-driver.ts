/**
 * Small C++ drivers compiled with the host compiler, for the native code that needs no GPU
 * (the algo cache file, the graph-API layouts, the parallel copy): build once per test file into a
 * temporary folder, then run with arguments and read the printed lines.
 */
import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { firstWorkingCommand } from './commands';

/** The host C++ compiler, or undefined when none runs here (the tests then skip, saying so). */
export const hostCxx = firstWorkingCommand(['c++', 'g++']);

const NATIVE = join(__dirname, '../../native');

export interface HostDriver {
  /** A folder for the test's own files (removed by dispose). */
  readonly dir: string;
  /** Runs the driver; its stdout split into non-empty lines. */
  run(args: readonly string[], env?: NodeJS.ProcessEnv): string[];
  dispose(): void;
}

/**
 * Compiles `source` (+ native/`extraSources`) with -std=c++17 -Wall -Wextra -pthread and -Inative.
 * The compiler runs asynchronously: a compile takes seconds (tens on a loaded machine), and a test
 * worker that blocks its event loop that long misses vitest's RPC deadline.
 */
export async function buildHostDriver(name: string, source: string, extraSources: readonly string[] = []): Promise<HostDriver> {
  if (hostCxx === undefined) throw new Error('no host C++ compiler (c++ or g++) found');
  const dir = mkdtempSync(join(tmpdir(), `${name}-`));
  const src = join(dir, 'driver.cc');
  const exe = join(dir, 'driver');
  writeFileSync(src, source);
  await promisify(execFile)(hostCxx, ['-std=c++17', '-O1', '-Wall', '-Wextra', '-pthread', `-I${NATIVE}`, src, ...extraSources.map((s) => join(NATIVE, s)), '-o', exe], { maxBuffer: 16 * 1024 * 1024 });
  return {
    dir,
    run: (args, env) =>
      execFileSync(exe, [...args], { env: { ...process.env, ...env }, encoding: 'utf8' })
        .trim()
        .split('\n')
        .filter((line) => line !== ''),
    dispose: () => rmSync(dir, { recursive: true, force: true }),
  };
}
