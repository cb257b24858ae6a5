/**
 * The on-disk cuDNN algorithm cache (native/cuda/algo_cache.cc) without a GPU: the file is plain
 * C++ (no CUDA), so it is compiled here with a tiny driver that looks entries up and stores them.
 * Checks: a version-1 file (two values per entry) loads and its entries read back as algorithm-only
 * (hasPath 0); a whole timed decision [algo, math, split, viaScratch] round-trips through the file
 * (version 2) next to old entries, which are kept as they were; a graph-API decision is five values
 * with the -2 marker and a five-value entry without the marker is not read as one; a malformed
 * entry ends the parse without an error (the cache only saves time). Exact-value assertions only.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildHostDriver, hostCxx, type HostDriver } from '../helpers/host-driver';

const DRIVER = `
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include "cuda/algo_cache.h"
using namespace inception::cuda;
// argv: (get KEY | put KEY ALGO MATH SPLIT VIA | putgraph KEY ENGINE CONFIG | save)...
// get prints: algo math hasPath split viaScratch graph graphConfig
int main(int argc, char** argv) {
  for (int i = 1; i < argc;) {
    if (!std::strcmp(argv[i], "get")) {
      CachedAlgo v;
      if (LookupCachedAlgo(argv[i + 1], &v)) {
        std::printf("%d %d %d %d %d %d %d\\n", v.algo, v.math_type, v.has_path, v.split, v.via_scratch, v.graph, v.graph_config);
      } else {
        std::printf("miss\\n");
      }
      i += 2;
    } else if (!std::strcmp(argv[i], "put")) {
      CachedAlgo v;
      v.algo = std::atoi(argv[i + 2]);
      v.math_type = std::atoi(argv[i + 3]);
      v.has_path = true;
      v.split = std::atoi(argv[i + 4]) != 0;
      v.via_scratch = std::atoi(argv[i + 5]) != 0;
      StoreCachedAlgo(argv[i + 1], v);
      i += 6;
    } else if (!std::strcmp(argv[i], "putgraph")) {
      CachedAlgo v;
      v.algo = std::atoi(argv[i + 2]);
      v.graph = true;
      v.graph_config = std::atoi(argv[i + 3]);
      v.has_path = true;
      StoreCachedAlgo(argv[i + 1], v);
      i += 4;
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

const OLD_KEY = 'GPU|cudnn 91900|fp16|find|relu|x 2x8x9x9:648/1/72/8|w 16x8x3x3|p 1/1|s 1/1|y 1296/1/144/16';
const TIMED_KEY = 'GPU|cudnn 91900|fp16|timed|relu|x 2x8x9x9:648/1/72/8|w 16x8x3x3|p 1/1|s 1/1|y 2592/1/288/32';
const GRAPH_KEY = `${TIMED_KEY}|graph-api`;

describe.skipIf(hostCxx === undefined)(`algo cache file format${hostCxx === undefined ? ' [SKIPPED: no C++ compiler]' : ''}`, () => {
  let driver: HostDriver;
  beforeAll(async () => {
    driver = await buildHostDriver('algo-cache', DRIVER, ['cuda/algo_cache.cc']);
  });
  afterAll(() => driver?.dispose());
  const run = (file: string, args: string[]): string[] => driver.run(args, { INCEPTION_CUDNN_ALGO_CACHE: file });

  it('loads a version-1 file: its entries are algorithm-only', () => {
    const file = join(driver.dir, 'v1.json');
    writeFileSync(file, `{"version":1,"entries":{\n"${OLD_KEY}":[1,1],\n"other":[-1,0]\n}}\n`);
    expect(run(file, ['get', OLD_KEY, 'get', 'other', 'get', TIMED_KEY])).toEqual(['1 1 0 0 0 0 0', '-1 0 0 0 0 0 0', 'miss']);
  });

  it('writes a whole timed decision (version 2) and keeps the old entries as they were', () => {
    const file = join(driver.dir, 'v1.json');
    run(file, ['put', TIMED_KEY, '0', '2', '1', '1', 'save']);
    const text = readFileSync(file, 'utf8');
    expect(text.startsWith('{"version":2,"entries":{')).toBe(true);
    const entries = (JSON.parse(text) as { entries: Record<string, number[]> }).entries;
    expect(entries).toEqual({ [OLD_KEY]: [1, 1], other: [-1, 0], [TIMED_KEY]: [0, 2, 1, 1] });
    // A new process reads the decision back whole.
    expect(run(file, ['get', TIMED_KEY, 'get', OLD_KEY])).toEqual(['0 2 1 1 1 0 0', '1 1 0 0 0 0 0']);
  });

  it('stores a graph-API decision as five values with the -2 marker, next to legacy entries', () => {
    const file = join(driver.dir, 'graph.json');
    writeFileSync(file, `{"version":2,"entries":{\n"${TIMED_KEY}":[1,1,0,0]\n}}\n`);
    run(file, ['putgraph', GRAPH_KEY, '7', '3', 'save']);
    const entries = (JSON.parse(readFileSync(file, 'utf8')) as { entries: Record<string, number[]> }).entries;
    expect(entries).toEqual({ [TIMED_KEY]: [1, 1, 0, 0], [GRAPH_KEY]: [7, -2, 0, 0, 3] });
    // A new process reads both back: the legacy one is not a graph decision, the graph one is.
    expect(run(file, ['get', TIMED_KEY, 'get', GRAPH_KEY])).toEqual(['1 1 1 0 0 0 0', '7 -2 1 0 0 1 3']);
  });

  it('reads no five-value entry without the graph marker, and stops at a malformed entry without failing', () => {
    const unmarked = join(driver.dir, 'unmarked.json');
    writeFileSync(unmarked, `{"version":2,"entries":{\n"a":[1,1,0,0],\n"b":[7,1,0,0,3],\n"c":[4,4]\n}}\n`);
    expect(run(unmarked, ['get', 'a', 'get', 'b', 'get', 'c'])).toEqual(['1 1 1 0 0 0 0', 'miss', 'miss']);
    const bad = join(driver.dir, 'bad.json');
    writeFileSync(bad, `{"version":2,"entries":{\n"a":[1,1,0,1],\n"b":[1,2,3],\n"c":[4,4]\n}}\n`);
    expect(run(bad, ['get', 'a', 'get', 'b', 'get', 'c'])).toEqual(['1 1 1 0 1 0 0', 'miss', 'miss']);
  });
});
