/**
 * ForEachCopyChunk and ParallelCopyFloatsFindNonFinite (native/core/parallel_copy.h), built with the
 * host C++ compiler (no GPU): the chunks must cover a copy byte-exactly for every size and thread count,
 * including sizes that do not divide evenly, and the checked copy must report exactly the smallest
 * index of a NaN/+Inf/-Inf (it feeds the "Input value at index i" error), wherever it lies relative
 * to the threads' chunks and the 64 KiB scan blocks. All comparisons are exact: indices and bytes.
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
  unsigned char* d = dst.data() + 1;  // unaligned on purpose
  const unsigned char* s = src.data() + 3;
  ForEachCopyChunk(bytes, max_threads, [d, s](unsigned, size_t begin, size_t end) { std::memcpy(d + begin, s + begin, end - begin); });
  size_t bad = 0;
  for (size_t i = 0; i < bytes; ++i) bad += dst[i + 1] != src[i + 3];
  bool guards = dst[0] == 0xAB;
  for (size_t i = bytes + 1; i < dst.size(); ++i) guards = guards && dst[i] == 0xAB;
  std::printf("%u %zu %d\\n", ParallelCopyThreads(bytes, max_threads), bad, guards ? 1 : 0);
  return 0;
}
`;

describe.skipIf(hostCxx === undefined)(`ForEachCopyChunk, copying with memcpy (host compiler)${hostCxx === undefined ? ' [SKIPPED: no C++ compiler]' : ''}`, () => {
  let driver: HostDriver;
  beforeAll(async () => {
    driver = await buildHostDriver('parallel-copy', DRIVER);
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

const CHECKED_DRIVER = `
#include <cfloat>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>
#include "core/parallel_copy.h"
using namespace inception;
static float FromBits(uint32_t bits) { float f; std::memcpy(&f, &bits, 4); return f; }
// The finite pattern: ordinary values, -0, the largest float and subnormals (none may be reported).
static float Finite(size_t i) {
  switch (i % 7) {
    case 0: return FLT_MAX;
    case 1: return -FLT_MAX;
    case 2: return FromBits(1);            // smallest subnormal
    case 3: return -0.0f;
    case 4: return FromBits(0x7F7FFFFFu);  // exponent 0xFE, all mantissa bits
    default: return static_cast<float>(i % 1000) * 0.37f - 100.0f;
  }
}
static float Bad(const std::string& kind) {
  if (kind == "nan") return FromBits(0x7FC00000u);
  if (kind == "-nan") return FromBits(0xFFC00001u);   // sign set, payload
  if (kind == "snan") return FromBits(0x7F800001u);   // signalling NaN: smallest mantissa
  if (kind == "inf") return FromBits(0x7F800000u);
  if (kind == "-inf") return FromBits(0xFF800000u);
  std::fprintf(stderr, "unknown kind %s\\n", kind.c_str());
  std::exit(2);
}
int main(int argc, char** argv) {
  // args: count max_threads scenario... ; a scenario is "-" (all finite) or "pos:kind,pos:kind".
  // Prints per scenario: "<threads used> <index found> <mismatched bytes> <guards ok>".
  const size_t count = std::strtoull(argv[1], nullptr, 10);
  const unsigned max_threads = static_cast<unsigned>(std::atoi(argv[2]));
  std::vector<float> src(count + 1), dst(count + 17);
  for (size_t i = 0; i < src.size(); ++i) src[i] = Finite(i);
  for (int a = 3; a < argc; ++a) {
    std::vector<size_t> touched;
    std::string spec = argv[a];
    if (spec != "-") {
      size_t start = 0;
      while (start < spec.size()) {
        size_t comma = spec.find(',', start);
        if (comma == std::string::npos) comma = spec.size();
        const std::string item = spec.substr(start, comma - start);
        const size_t colon = item.find(':');
        const size_t pos = std::strtoull(item.substr(0, colon).c_str(), nullptr, 10);
        src[pos + 1] = Bad(item.substr(colon + 1));
        touched.push_back(pos + 1);
        start = comma + 1;
      }
    }
    std::memset(dst.data(), 0xAB, dst.size() * sizeof(float));
    // src + 1 and dst + 1: not 64-byte aligned on purpose.
    const int64_t found = ParallelCopyFloatsFindNonFinite(dst.data() + 1, src.data() + 1, count, max_threads);
    size_t bad = 0;
    const unsigned char* d = reinterpret_cast<const unsigned char*>(dst.data() + 1);
    const unsigned char* s = reinterpret_cast<const unsigned char*>(src.data() + 1);
    if (std::memcmp(d, s, count * sizeof(float)) != 0) {
      for (size_t i = 0; i < count * sizeof(float); ++i) bad += d[i] != s[i];
    }
    bool guards = true;
    const unsigned char* raw = reinterpret_cast<const unsigned char*>(dst.data());
    for (size_t i = 0; i < sizeof(float); ++i) guards = guards && raw[i] == 0xAB;
    for (size_t i = (count + 1) * sizeof(float); i < dst.size() * sizeof(float); ++i) guards = guards && raw[i] == 0xAB;
    std::printf("%u %lld %zu %d\\n", ParallelCopyThreads(count * sizeof(float), max_threads), static_cast<long long>(found), bad, guards ? 1 : 0);
    for (size_t p : touched) src[p] = Finite(p);
  }
  return 0;
}
`;

describe.skipIf(hostCxx === undefined)(`ParallelCopyFloatsFindNonFinite (host compiler)${hostCxx === undefined ? ' [SKIPPED: no C++ compiler]' : ''}`, () => {
  let driver: HostDriver;
  beforeAll(async () => {
    driver = await buildHostDriver('parallel-copy-checked', CHECKED_DRIVER);
  });
  afterAll(() => driver?.dispose());

  const MIB = 1024 * 1024;
  const BLOCK = (64 * 1024) / 4; // floats per scan block
  const KINDS = ['nan', '-nan', 'snan', 'inf', '-inf'];

  /** First float index of each thread's chunk: chunks are bytes/threads rounded up to 64 bytes. */
  function chunkStarts(count: number, threads: number): number[] {
    const chunkFloats = Math.ceil((count * 4) / threads / 64) * 16;
    return Array.from({ length: threads }, (_, t) => t * chunkFloats).filter((start) => start < count);
  }

  /** Runs the scenarios (lists of [index, kind]) on one driver call; one parsed line each. */
  function run(count: number, maxThreads: number, scenarios: [number, string][][]): { threads: number; found: number; bad: number; guards: number }[] {
    const args = scenarios.map((s) => (s.length === 0 ? '-' : s.map(([i, k]) => `${i}:${k}`).join(',')));
    return driver.run([String(count), String(maxThreads), ...args]).map((line) => {
      const [threads, found, bad, guards] = line.split(' ').map(Number);
      return { threads: threads!, found: found!, bad: bad!, guards: guards! };
    });
  }

  it('small counts (one thread): all finite is -1, every kind is found at every position', () => {
    for (const count of [0, 1, 2, 5, 17]) {
      const scenarios: [number, string][][] = [[]];
      for (let at = 0; at < count; at++) for (const kind of KINDS) scenarios.push([[at, kind]]);
      const results = run(count, 4, scenarios);
      expect(results[0]).toEqual({ threads: 1, found: -1, bad: 0, guards: 1 });
      results.slice(1).forEach((r, i) => expect(r, `count ${count} scenario ${i}`).toEqual({ threads: 1, found: Math.floor(i / KINDS.length), bad: 0, guards: 1 }));
    }
  });

  const sizes: [string, number][] = [
    ['just under the parallel threshold', 4 * MIB - 1],
    ['at the threshold', 4 * MIB],
    ['over it, not a multiple of 16 floats', 10 * MIB + 3],
    ['68 MB (a batch of 64 at 299x299)', 64 * 3 * 299 * 299],
  ];
  // Thread caps: 1, 2 and 3 (the first chunk boundaries), 5 and 8 (the caps of the two sizes that
  // split, 10 MiB+3 floats into 5 chunks and 68 MB into 8); below the threshold one thread always
  // runs. The 68 MB size takes 1, 3 and 8 only: 2 and 5 split it by the same rule the 10 MiB size
  // already checks, and each of its cases copies and scans 68 MB several times.
  const capsOf = (count: number): number[] => (count * 4 < 16 * MIB ? [1, 8] : count * 4 > 64 * MIB ? [1, 3, 8] : [1, 2, 3, 5, 8]);
  for (const [label, count] of sizes) {
    for (const maxThreads of capsOf(count)) {
      it(`${count} floats (${label}), max ${maxThreads} threads: byte-exact copy, smallest bad index at edges, chunk and block boundaries`, () => {
        const expectedThreads = count * 4 < 16 * MIB ? 1 : Math.max(1, Math.min(maxThreads, Math.floor((count * 4) / (8 * MIB))));
        const starts = chunkStarts(count, expectedThreads);
        const singles = new Set<number>([0, 1, BLOCK - 1, BLOCK, BLOCK + 1, count - BLOCK, count - 1]);
        for (const s of starts.slice(1)) for (const at of [s - 1, s, s + 1, s + BLOCK - 1, s + BLOCK]) singles.add(at);
        const positions = [...singles].filter((p) => p >= 0 && p < count).sort((a, b) => a - b);
        const scenarios: [number, string][][] = [[]];
        const expected: number[] = [-1];
        positions.forEach((at, i) => {
          scenarios.push([[at, KINDS[i % KINDS.length]!]]);
          expected.push(at);
        });
        // Several bad values, one late in each chunk and one early in the last: the smallest wins,
        // whichever thread finishes first.
        const late = starts.map((s, t) => Math.min(count - 1, (starts[t + 1] ?? count) - 2));
        scenarios.push([...late].reverse().map((at, i): [number, string] => [at, KINDS[i % KINDS.length]!]));
        expected.push(Math.min(...late));
        if (starts.length > 2) {
          // The second chunk's second block beats later chunks, the last chunk's included.
          const last = starts[starts.length - 1]!;
          scenarios.push([
            [count - 1, 'inf'],
            [last + 3, 'nan'],
            [starts[1]! + BLOCK + 5, '-inf'],
          ]);
          expected.push(starts[1]! + BLOCK + 5);
        }
        const results = run(count, maxThreads, scenarios);
        expect(results.length).toBe(scenarios.length);
        results.forEach((r, i) => {
          expect(r, `scenario ${JSON.stringify(scenarios[i])}`).toEqual({ threads: expectedThreads, found: expected[i], bad: 0, guards: 1 });
        });
      });
    }
  }
});
