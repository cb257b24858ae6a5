/**
 * The on-disk cuDNN algorithm cache (native/cuda/algo_cache.cc) without a GPU: the file is plain
 * C++ (no CUDA), so it is compiled here with a tiny driver that looks entries up and stores them.
 * Checks: a version-1 file (two values per entry) loads and its entries read back as algorithm-only
 * (hasPath 0); a whole timed decision [algo, math, split, viaScratch] round-trips through the file
 * (version 2) next to old entries, which are kept as they were; a malformed entry ends the parse
 * without an error (the cache only saves time). Exact-value assertions only.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { firstWorkingCommand } from '../helpers/commands';

const cxx = firstWorkingCommand(['c++', 'g++']);

const DRIVER = `
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include "cuda/algo_cache.h"
using namespace inception::cuda;
// argv: (get KEY | put KEY ALGO MATH SPLIT VIA | save)...
int main(int argc, char** argv) {
  for (int i = 1; i < argc;) {
    if (!std::strcmp(argv[i], "get")) {
      CachedAlgo v;
      if (LookupCachedAlgo(argv[i + 1], &v)) std::printf("%d %d %d %d %d\\n", v.algo, v.math_type, v.has_path, v.split, v.via_scratch);
      else std::printf("miss\\n");
      i += 2;
    } else if (!std::strcmp(argv[i], "put")) {  // a whole decision: algo math split via
      CachedAlgo v;
      v.algo = std::atoi(argv[i + 2]);
      v.math_type = std::atoi(argv[i + 3]);
      v.has_path = true;
      v.split = std::atoi(argv[i + 4]) != 0;
      v.via_scratch = std::atoi(argv[i + 5]) != 0;
      StoreCachedAlgo(argv[i + 1], v);
      i += 6;
    } else if (!std::strcmp(argv[i], "save")) {
      SaveAlgoCache();
      i += 1;
    } else {
      return 2;
    }
  }
  return 0;
}
`;

const dir = mkdtempSync(join(tmpdir(), 'algo-cache-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function buildDriver(): string {
  const src = join(dir, 'driver.cc');
  const exe = join(dir, 'driver');
  writeFileSync(src, DRIVER);
  const root = join(__dirname, '../..');
  execFileSync(cxx!, ['-std=c++17', '-O0', `-I${join(root, 'native')}`, src, join(root, 'native/cuda/algo_cache.cc'), '-o', exe]);
  return exe;
}

function run(exe: string, file: string, args: string[]): string[] {
  return execFileSync(exe, args, { env: { ...process.env, INCEPTION_CUDNN_ALGO_CACHE: file }, encoding: 'utf8' }).trim().split('\n').filter((l) => l !== '');
}

const OLD_KEY = 'GPU|cudnn 91900|fp16|find|relu|x 2x8x9x9:648/1/72/8|w 16x8x3x3|p 1/1|s 1/1|y 1296/1/144/16';
const TIMED_KEY = 'GPU|cudnn 91900|fp16|timed|relu|x 2x8x9x9:648/1/72/8|w 16x8x3x3|p 1/1|s 1/1|y 2592/1/288/32';

describe.skipIf(cxx === undefined)(`algo cache file format${cxx === undefined ? ' [SKIPPED: no C++ compiler]' : ''}`, () => {
  let exe = '';

  it('loads a version-1 file: its entries are algorithm-only', () => {
    exe = buildDriver();
    const file = join(dir, 'v1.json');
    writeFileSync(file, `{"version":1,"entries":{\n"${OLD_KEY}":[1,1],\n"other":[-1,0]\n}}\n`);
    expect(run(exe, file, ['get', OLD_KEY, 'get', 'other', 'get', TIMED_KEY])).toEqual(['1 1 0 0 0', '-1 0 0 0 0', 'miss']);
  });

  it('writes a whole timed decision (version 2) and keeps the old entries as they were', () => {
    const file = join(dir, 'v1.json');
    run(exe, file, ['put', TIMED_KEY, '0', '2', '1', '1', 'save']);
    const text = readFileSync(file, 'utf8');
    expect(text.startsWith('{"version":2,"entries":{')).toBe(true);
    const entries = (JSON.parse(text) as { entries: Record<string, number[]> }).entries;
    expect(entries).toEqual({ [OLD_KEY]: [1, 1], other: [-1, 0], [TIMED_KEY]: [0, 2, 1, 1] });
    // A new process reads the decision back whole.
    expect(run(exe, file, ['get', TIMED_KEY, 'get', OLD_KEY])).toEqual(['0 2 1 1 1', '1 1 0 0 0']);
  });

  it('stops at a malformed entry without failing', () => {
    const file = join(dir, 'bad.json');
    writeFileSync(file, `{"version":2,"entries":{\n"a":[1,1,0,1],\n"b":[1,2,3],\n"c":[4,4]\n}}\n`);
    expect(run(exe, file, ['get', 'a', 'get', 'b', 'get', 'c'])).toEqual(['1 1 1 0 1', 'miss', 'miss']);
  });
});
