/**
 * ParallelCopy (native/core/parallel_copy.h), built with the host C++ compiler (no GPU): the copy
 * must be byte-exact for every size and thread count, including sizes that do not divide evenly.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildHostDriver, hostCxx, type HostDriver } from '../helpers/host-driver';

const DRIVER = `
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>
#include "core/parallel_copy.h"
using namespace inception;
int main(int argc, char** argv) {
  // args: bytes max_threads -> prints "<threads used> <mismatches> <untouched guard bytes ok>"
  const size_t bytes = std::strtoull(argv[1], nullptr, 10);
  const unsigned max_threads = static_cast<unsigned>(std::atoi(argv[2]));
  std::vector<unsigned char> src(bytes + 64), dst(bytes + 64, 0xAB);
  for (size_t i = 0; i < src.size(); ++i) src[i] = static_cast<unsigned char>((i * 131 + 7) % 251);
  ParallelCopy(dst.data() + 1, src.data() + 3, bytes, max_threads);  // unaligned on purpose
  size_t bad = 0;
  for (size_t i = 0; i < bytes; ++i) bad += dst[i + 1] != src[i + 3];
  bool guards = dst[0] == 0xAB;
  for (size_t i = bytes + 1; i < dst.size(); ++i) guards = guards && dst[i] == 0xAB;
  std::printf("%u %zu %d\\n", ParallelCopyThreads(bytes, max_threads), bad, guards ? 1 : 0);
  return 0;
}
`;

describe.skipIf(hostCxx === undefined)(`ParallelCopy (host compiler)${hostCxx === undefined ? ' [SKIPPED: no C++ compiler]' : ''}`, () => {
  let driver: HostDriver;
  beforeAll(() => {
    driver = buildHostDriver('parallel-copy', DRIVER);
  });
  afterAll(() => driver?.dispose());

  const MIB = 1024 * 1024;
  const cases: [number, number, number][] = [
    // bytes, max threads, expected threads
    [0, 4, 1],
    [1, 4, 1],
    [16 * MIB - 1, 8, 1], // under the threshold: one memcpy
    [16 * MIB, 8, 2], // 16 MiB / 8 MiB per thread
    [16 * MIB + 3, 3, 2],
    [40 * MIB + 5, 3, 3], // capped by max_threads
    [40 * MIB + 5, 8, 5],
    [100 * MIB + 63, 7, 7],
  ];
  for (const [bytes, max, threads] of cases) {
    it(`copies ${bytes} bytes exactly on ${threads} thread(s) (max ${max}) and writes nothing outside`, () => {
      const [used, bad, guards] = driver.run([String(bytes), String(max)])[0]!.split(' ').map(Number);
      expect(used).toBe(threads);
      expect(bad).toBe(0);
      expect(guards).toBe(1);
    });
  }
});
