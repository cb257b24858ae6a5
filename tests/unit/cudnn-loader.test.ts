/**
 * The cuDNN loader of inception_cuda.node against fake cuDNN installations built here with the
 * C compiler (tiny shared libraries exporting every symbol we resolve): search by
 * INCEPTION_CUDNN_PATH, the clear error for a missing sub-library or cuBLASLt, the refusal of a
 * non-9.x version, and a successful load that preloads every sub-library by absolute path first.
 * Exact-value assertions only. Order matters: a successful load is cached for the process, so it
 * runs last.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { candidatePaths } from '../../src/native/binding';
import { loadCudaModule } from '../../src/native/cuda-backend';
import { firstWorkingCommand } from '../helpers/commands';

const moduleBuilt = candidatePaths('inception_cuda').some((p) => existsSync(p));
const cc = firstWorkingCommand(['cc', 'gcc']);
const SUBLIBS = ['libcudnn_graph.so.9', 'libcudnn_ops.so.9', 'libcudnn_heuristic.so.9', 'libcudnn_engines_precompiled.so.9', 'libcudnn_engines_runtime_compiled.so.9', 'libcudnn_cnn.so.9'];

/** Every symbol the module resolves, read from the X-macro list in cudnn_api.h. */
function resolvedSymbols(): string[] {
  const header = readFileSync(join(__dirname, '../../native/cuda/cudnn_api.h'), 'utf8');
  return [...header.matchAll(/X\(\w+,\s*(cudnn\w+),/g)].map((m) => m[1]!);
}

function buildFakeCudnn(dir: string, version: number, omit: readonly string[] = []): void {
  mkdirSync(dir, { recursive: true });
  const src = join(dir, 'fake.c');
  const body = resolvedSymbols()
    .map((s) => (s === 'cudnnGetVersion' ? `unsigned long ${s}(void) { return ${version}UL; }` : s === 'cudnnGetCudartVersion' ? `unsigned long ${s}(void) { return 13000UL; }` : `int ${s}(void) { return 0; }`))
    .join('\n');
  writeFileSync(src, body + '\n');
  execFileSync(cc!, ['-shared', '-fPIC', '-o', join(dir, 'libcudnn.so.9'), src]);
  writeFileSync(join(dir, 'empty.c'), 'int inception_fake_marker(void) { return 0; }\n');
  for (const lib of [...SUBLIBS, 'libcublasLt.so.13']) {
    if (!omit.includes(lib)) execFileSync(cc!, ['-shared', '-fPIC', '-o', join(dir, lib), join(dir, 'empty.c')]);
  }
}

describe.skipIf(!moduleBuilt || cc === undefined)(`cuDNN loader with fake installations${!moduleBuilt ? ' (skipped: inception_cuda.node not built)' : cc === undefined ? ' (skipped: no C compiler)' : ''}`, () => {
  const root = mkdtempSync(join(tmpdir(), 'fake-cudnn-'));
  const saved = process.env.INCEPTION_CUDNN_PATH;
  afterAll(() => {
    if (saved === undefined) delete process.env.INCEPTION_CUDNN_PATH;
    else process.env.INCEPTION_CUDNN_PATH = saved;
    rmSync(root, { recursive: true, force: true });
  });
  const cudnnInfo = (path: string) => {
    process.env.INCEPTION_CUDNN_PATH = path;
    return loadCudaModule().info().cudnn;
  };

  it('names a missing sub-library instead of letting the shim abort', () => {
    const dir = join(root, 'no-cnn');
    buildFakeCudnn(dir, 90600, ['libcudnn_cnn.so.9']);
    const info = cudnnInfo(dir);
    expect(info.loaded).toBe(false);
    expect(info.error).toBe(`the cuDNN installation at ${dir} is incomplete: libcudnn_cnn.so.9 is missing; reinstall it (\`pip install --force-reinstall nvidia-cudnn-cu13\`)`);
  });

  it('names cuBLASLt when it cannot be found', () => {
    const dir = join(root, 'no-cublaslt');
    buildFakeCudnn(dir, 90600, ['libcublasLt.so.13']);
    const info = cudnnInfo(dir);
    expect(info.loaded).toBe(false);
    expect(info.error).toContain(`cuDNN was found at ${dir} but cuBLASLt (libcublasLt.so.13 or .12), which its convolutions need, was not`);
  });

  it('refuses cuDNN 8 with the version it found', () => {
    const dir = join(root, 'v8');
    buildFakeCudnn(dir, 8907);
    const info = cudnnInfo(join(dir, 'libcudnn.so.9'));
    expect(info.loaded).toBe(false);
    expect(info.error).toContain('is cuDNN 8907 (version number 8907); this backend needs cuDNN 9.x');
  });

  it('loads a complete 9.x installation, sub-libraries first, by absolute path', () => {
    const dir = join(root, 'good');
    buildFakeCudnn(dir, 90600);
    const info = cudnnInfo(dir);
    expect(info.error).toBeNull();
    expect(info.loaded).toBe(true);
    expect(info.version).toBe('9.6.0');
    expect(info.cudartVersion).toBe('13.0');
    expect(info.source).toBe('INCEPTION_CUDNN_PATH');
    // nvrtc is absent, so the runtime-compiled engines are skipped (they need it).
    expect(info.libraries).toEqual([
      join(dir, 'libcublasLt.so.13'),
      ...SUBLIBS.filter((l) => l !== 'libcudnn_engines_runtime_compiled.so.9').map((l) => join(dir, l)),
      join(dir, 'libcudnn.so.9'),
    ]);
  });
});
