// Large host-to-host copies split across threads (e.g. a batch's input into pinned staging memory:
// 274 MB for 256 images at 299x299, which one thread copies at a single core's memory bandwidth).
// ParallelCopyFloatsFindNonFinite also finds the first NaN/Inf while copying, so an input check
// costs no extra pass over memory and no time on the JS thread.
// Header-only, no CUDA: tested with the host compiler (tests/native/parallel-copy.test.ts).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <thread>
#include <vector>

namespace inception {

// Below this many bytes one memcpy is as fast as starting threads.
constexpr size_t kParallelCopyMinBytes = size_t{16} << 20;
// Each thread copies at least this much (fewer threads for mid-sized copies).
constexpr size_t kParallelCopyBytesPerThread = size_t{8} << 20;
// ParallelCopyFloatsFindNonFinite copies this much, then scans it while it is still in cache.
constexpr size_t kCheckedCopyBlockBytes = size_t{64} << 10;

// How many threads a copy of `bytes` uses, at most `max_threads` (0: the hardware's count, capped at 8).
inline unsigned ParallelCopyThreads(size_t bytes, unsigned max_threads = 0) {
  if (bytes < kParallelCopyMinBytes) return 1;
  unsigned limit = max_threads != 0 ? max_threads : std::min(8u, std::max(1u, std::thread::hardware_concurrency()));
  const size_t by_size = bytes / kParallelCopyBytesPerThread;
  return static_cast<unsigned>(std::max<size_t>(1, std::min<size_t>(limit, by_size)));
}

// Splits [0, bytes) into ParallelCopyThreads(bytes, max_threads) chunks and calls
// work(chunk_index, begin, end) for each non-empty one, each chunk on its own thread (the calling
// thread does chunk 0 and joins the others). Chunk offsets are multiples of 64 bytes, the last
// chunk takes the remainder. If a thread cannot be started, its chunk runs on the calling thread.
// Returns the number of chunks (work's chunk_index is below it).
template <typename Work>
unsigned ForEachCopyChunk(size_t bytes, unsigned max_threads, const Work& work) {
  const unsigned threads = ParallelCopyThreads(bytes, max_threads);
  if (threads <= 1) {
    work(0u, size_t{0}, bytes);
    return 1;
  }
  const size_t chunk = (bytes / threads + 63) / 64 * 64;
  std::vector<std::thread> workers;
  workers.reserve(threads - 1);
  for (unsigned t = 1; t < threads; ++t) {
    const size_t begin = std::min(bytes, t * chunk);
    const size_t end = t + 1 == threads ? bytes : std::min(bytes, (t + 1) * chunk);
    if (begin >= end) continue;
    try {
      workers.emplace_back([&work, t, begin, end] { work(t, begin, end); });
    } catch (...) {
      work(t, begin, end);
    }
  }
  work(0u, size_t{0}, std::min(bytes, chunk));
  for (std::thread& w : workers) w.join();
  return threads;
}

// memcpy(dst, src, bytes) on ParallelCopyThreads(bytes, max_threads) threads (see ForEachCopyChunk).
inline void ParallelCopy(void* dst, const void* src, size_t bytes, unsigned max_threads = 0) {
  char* d = static_cast<char*>(dst);
  const char* s = static_cast<const char*>(src);
  ForEachCopyChunk(bytes, max_threads, [d, s](unsigned, size_t begin, size_t end) { std::memcpy(d + begin, s + begin, end - begin); });
}

// Whether any of values[0, count) is NaN, +Inf or -Inf (exponent bits all ones). Branch-free and
// vectorisable: (bits & exponent) + lowest exponent bit carries into the sign bit exactly when
// the exponent is 0xFF, and the carries are OR-ed together.
inline bool AnyNonFinite(const float* values, size_t count) {
  uint32_t carries = 0;
  for (size_t i = 0; i < count; ++i) {
    uint32_t bits;
    std::memcpy(&bits, values + i, sizeof bits);
    carries |= (bits & 0x7F800000u) + 0x00800000u;
  }
  return (carries & 0x80000000u) != 0;
}

// Index of the first NaN/Inf of values[0, count), or -1 when all are finite (one block scan, then
// the exact position only when the scan found something).
inline int64_t FirstNonFinite(const float* values, size_t count) {
  if (!AnyNonFinite(values, count)) return -1;
  for (size_t i = 0; i < count; ++i) {
    uint32_t bits;
    std::memcpy(&bits, values + i, sizeof bits);
    if ((bits & 0x7F800000u) == 0x7F800000u) return static_cast<int64_t>(i);
  }
  return -1;
}

// ParallelCopy of `count` floats (every one is copied, whatever it holds) that also returns the
// index of the first NaN, +Inf or -Inf in src, or -1 when all are finite. Each thread copies its
// chunk kCheckedCopyBlockBytes at a time and scans each block right after copying it; the answer
// is the smallest index any thread found.
inline int64_t ParallelCopyFloatsFindNonFinite(float* dst, const float* src, size_t count, unsigned max_threads = 0) {
  constexpr size_t kBlock = kCheckedCopyBlockBytes / sizeof(float);
  const size_t bytes = count * sizeof(float);
  // One slot per chunk, each on its own cache line (threads write them once, at the end).
  struct alignas(64) Found {
    int64_t index = -1;
  };
  std::vector<Found> found(ParallelCopyThreads(bytes, max_threads));
  ForEachCopyChunk(bytes, max_threads, [&](unsigned chunk, size_t begin_byte, size_t end_byte) {
    // Chunk offsets are multiples of 64 bytes and `bytes` is a multiple of sizeof(float).
    const size_t end = end_byte / sizeof(float);
    int64_t first = -1;
    for (size_t i = begin_byte / sizeof(float); i < end; i += kBlock) {
      const size_t n = std::min(kBlock, end - i);
      std::memcpy(dst + i, src + i, n * sizeof(float));
      if (first < 0) {
        const int64_t at = FirstNonFinite(src + i, n);
        if (at >= 0) first = static_cast<int64_t>(i) + at;
      }
    }
    found[chunk].index = first;
  });
  // Chunks are in index order: the first chunk that found one has the smallest index.
  for (const Found& f : found) {
    if (f.index >= 0) return f.index;
  }
  return -1;
}

}  // namespace inception
