/**
 * Finding the backend modules (src/native/binding.ts, src/native/platform.ts): node-gyp-build's
 * order (override, build/Release, prebuilds/<platform>-<arch>), the tag matching that keeps a
 * glibc binary off musl, and the error a user meets on a platform we ship no binary for. Plain
 * file-system fixtures in a temporary folder; no native code is loaded.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { BackendUnavailableError } from '../../src/errors';
import { candidatePaths, findPrebuild, loadNativeModule, notFoundMessage } from '../../src/native/binding';
import { FROM_SOURCE_COMMAND, type PlatformTarget, supportedPlatformFor } from '../../src/native/platform';

const linuxGlibc: PlatformTarget = { platform: 'linux', arch: 'x64', libc: 'glibc' };
const unsupported: readonly PlatformTarget[] = [
  { platform: 'linux', arch: 'arm64', libc: 'glibc' },
  { platform: 'linux', arch: 'x64', libc: 'musl' },
  { platform: 'darwin', arch: 'arm64', libc: null },
  { platform: 'win32', arch: 'x64', libc: null },
];

let root: string;
let bare: string;
const savedEnv = { INCEPTION_CPU_PREBUILD: process.env.INCEPTION_CPU_PREBUILD, PREBUILDS_ONLY: process.env.PREBUILDS_ONLY };

function touch(path: string): void {
  mkdirSync(join(path, '..'), { recursive: true });
  writeFileSync(path, '');
}

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'inception-binding-'));
  for (const file of ['inception_cpu.node', 'inception_cuda.node', 'libdnnl.so.2', 'manifest.json']) touch(join(root, 'prebuilds', 'linux-x64', file));
  touch(join(root, 'prebuilds', 'linux-x64', 'inception_cpu.napi.musl.node'));
  touch(join(root, 'prebuilds', 'darwin-x64+arm64', 'inception_cpu.node'));
  bare = mkdtempSync(join(tmpdir(), 'inception-binding-bare-'));
  delete process.env.INCEPTION_CPU_PREBUILD;
  delete process.env.PREBUILDS_ONLY;
});
afterEach(() => {
  delete process.env.INCEPTION_CPU_PREBUILD;
  delete process.env.PREBUILDS_ONLY;
});
afterAll(() => {
  rmSync(root, { recursive: true, force: true });
  rmSync(bare, { recursive: true, force: true });
  for (const [key, value] of Object.entries(savedEnv)) if (value !== undefined) process.env[key] = value;
});

describe('prebuild lookup', () => {
  it('finds each module by its own name in prebuilds/linux-x64 on glibc', () => {
    expect(findPrebuild('inception_cpu', root, linuxGlibc)).toBe(join(root, 'prebuilds', 'linux-x64', 'inception_cpu.node'));
    expect(findPrebuild('inception_cuda', root, linuxGlibc)).toBe(join(root, 'prebuilds', 'linux-x64', 'inception_cuda.node'));
  });

  it('takes only a musl-tagged file on musl, never the untagged glibc one', () => {
    expect(findPrebuild('inception_cpu', root, { platform: 'linux', arch: 'x64', libc: 'musl' })).toBe(join(root, 'prebuilds', 'linux-x64', 'inception_cpu.napi.musl.node'));
    expect(findPrebuild('inception_cuda', root, { platform: 'linux', arch: 'x64', libc: 'musl' })).toBeUndefined();
  });

  it('matches node-gyp-build platform-arch tuples, multi-arch ones included', () => {
    expect(findPrebuild('inception_cpu', root, { platform: 'linux', arch: 'arm64', libc: 'glibc' })).toBeUndefined();
    // An untagged file in a folder for a platform outside SUPPORTED_PLATFORMS is not assumed to fit.
    expect(findPrebuild('inception_cpu', root, { platform: 'darwin', arch: 'arm64', libc: null })).toBeUndefined();
  });

  it('looks in build/Release before prebuilds, as node-gyp-build does; PREBUILDS_ONLY skips it', () => {
    expect(candidatePaths('inception_cpu', root, linuxGlibc)).toEqual([
      join(root, 'build', 'Release', 'inception_cpu.node'),
      join(root, 'prebuilds', 'linux-x64', 'inception_cpu.node'),
    ]);
    process.env.PREBUILDS_ONLY = '1';
    expect(candidatePaths('inception_cpu', root, linuxGlibc)).toEqual([join(root, 'prebuilds', 'linux-x64', 'inception_cpu.node')]);
  });

  it('INCEPTION_CPU_PREBUILD names the one file to load', () => {
    process.env.INCEPTION_CPU_PREBUILD = '/opt/custom/inception_cpu.node';
    expect(candidatePaths('inception_cpu', root, linuxGlibc)).toEqual(['/opt/custom/inception_cpu.node']);
  });
});

describe('unsupported platforms', () => {
  it('linux-x64 with glibc is the one supported platform', () => {
    expect(supportedPlatformFor(linuxGlibc)?.folder).toBe('linux-x64');
    for (const target of unsupported) expect(supportedPlatformFor(target)).toBeUndefined();
  });

  it.each(unsupported.map((t) => [`${t.platform}-${t.arch}${t.libc !== null ? ` (${t.libc})` : ''}`, t] as const))(
    'on %s the error names the platform, the supported ones and the from-source command',
    (described, target) => {
      let error: unknown;
      try {
        loadNativeModule('inception_cpu', 'a source build needs oneDNN 2.x: apt-get install libdnnl-dev', { root: bare, target });
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(BackendUnavailableError);
      const message = (error as Error).message;
      expect(message).toContain(`this package has no prebuilt binary for ${described}.`);
      expect(message).toContain('Prebuilt binaries: linux-x64 (glibc): glibc >= 2.34 and libstdc++ from GCC 12 or newer');
      expect(message).toContain(FROM_SOURCE_COMMAND);
      expect(message).toContain('apt-get install libdnnl-dev');
    },
  );

  it('on the supported platform a missing file is reported as missing, with where it was looked for', () => {
    const message = notFoundMessage('inception_cpu', candidatePaths('inception_cpu', bare, linuxGlibc), 'hint', linuxGlibc);
    expect(message).toContain(`not found at ${join(bare, 'build', 'Release', 'inception_cpu.node')} or ${join(bare, 'prebuilds', 'linux-x64', 'inception_cpu.node')}`);
    expect(message).not.toContain('no prebuilt binary');
  });
});
