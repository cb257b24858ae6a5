/**
 * scripts/build-native.sh (npm run build:native) recovers from a stale CMake cache: a build
 * folder first configured where oneDNN could not be found (here: the system prefixes hidden with
 * CMAKE_IGNORE_PREFIX_PATH, as if libdnnl-dev were not installed yet) leaves the CPU module out;
 * the next build:native, once the headers can be found, must configure it in again. Configure
 * steps only (no compile), in a temporary build folder.
 */
import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const repo = resolve(__dirname, '..', '..');
const haveOneDnn = existsSync('/usr/include/oneapi/dnnl/dnnl.hpp');
const haveCmake = (() => {
  try {
    execFileSync('cmake', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();
const skip = !haveOneDnn ? ' [SKIPPED: oneDNN headers not installed (apt-get install libdnnl-dev)]' : !haveCmake ? ' [SKIPPED: cmake not installed]' : '';
const out = mkdtempSync(join(tmpdir(), 'inception-stale-cmake-'));
afterAll(() => rmSync(out, { recursive: true, force: true }));

function configured(): { includeDir: string; cpuTarget: boolean } {
  const cache = readFileSync(join(out, 'CMakeCache.txt'), 'utf8');
  const includeDir = /^DNNL_INCLUDE_DIR:PATH=(.*)$/m.exec(cache)?.[1] ?? '';
  return { includeDir, cpuTarget: readFileSync(join(out, 'build.ninja'), 'utf8').includes('inception_cpu.node') };
}

describe.skipIf(skip !== '')(`build:native after a configure that missed oneDNN${skip}`, () => {
  it('configures the CPU module in once oneDNN can be found, without deleting the build folder', async () => {
    // Asynchronous: a CMake configure takes seconds, and a blocked test worker misses vitest's RPC deadline.
    const run = async (args: string[]): Promise<void> => {
      await promisify(execFile)('bash', [join(repo, 'scripts', 'build-native.sh'), '--out', out, '--configure-only', ...args], { cwd: repo, timeout: 120_000, maxBuffer: 16 * 1024 * 1024 });
    };
    await run(['--CDCMAKE_IGNORE_PREFIX_PATH=/usr']);
    expect(configured()).toEqual({ includeDir: 'DNNL_INCLUDE_DIR-NOTFOUND', cpuTarget: false });
    await run(['--CDCMAKE_IGNORE_PREFIX_PATH=/nonexistent']);
    expect(configured()).toEqual({ includeDir: '/usr/include', cpuTarget: true });
  }, 240_000);
});
