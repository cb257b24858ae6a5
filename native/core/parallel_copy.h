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

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace inception {

// Below this many bytes one memcpy is as fast as starting threads.
constexpr size_t kParallelCopyMinBytes = size_t{16} << 20;
// Each thread copies at least this much (fewer threads for mid-sized copies).
constexpr size_t kParallelCopyBytesPerThread = size_t{8} << 20;
// ParallelCopyFloatsFindNonFinite tests this much at once (and re-reads it, from cache, to locate a bad value).
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

// Bit 31 of the result is set exactly when `bits` is a NaN or +-Inf (exponent bits all ones): the
// lowest exponent bit added to the exponent carries into the sign bit only from 0xFF. OR-ing the
// carries of many values is a branch-free, vectorisable test of all of them at once.
inline uint32_t ExponentCarry(uint32_t bits) { return (bits & 0x7F800000u) + 0x00800000u; }
constexpr uint32_t kNonFiniteCarry = 0x80000000u;

// Index of the first NaN/Inf of values[0, count), or -1 when all are finite.
inline int64_t FirstNonFinite(const float* values, size_t count) {
  for (size_t i = 0; i < count; ++i) {
    uint32_t bits;
    std::memcpy(&bits, values + i, sizeof bits);
    if ((ExponentCarry(bits) & kNonFiniteCarry) != 0) return static_cast<int64_t>(i);
  }
  return -1;
}

// Copies src[0, n) to dst in one pass and returns the OR of their ExponentCarry. With SSE2 the
// stores are streaming (non-temporal): the destination is a staging buffer read next by the GPU's
// DMA, not by this core, so writing it around the cache saves reading it in first. Measured on a
// 2-core x86 VM, 68.7 MB on one thread (medians of 3 x 15): memcpy alone 5.6-6.1 ms, memcpy of
// each 64 KiB block then a scan of it 7.5-8.1 ms, this 3.5-4.4 ms.
inline uint32_t CopyFloatsOrCarries(float* dst, const float* src, size_t n) {
  uint32_t carries = 0;
  size_t i = 0;
  auto copy_one = [&](size_t k) {
    uint32_t bits;
    std::memcpy(&bits, src + k, sizeof bits);
    carries |= ExponentCarry(bits);
    std::memcpy(dst + k, &bits, sizeof bits);
  };
#if defined(__SSE2__)
  // Scalar until dst is 16-byte aligned (streaming stores need it), then 64 bytes per step.
  for (; i < n && (reinterpret_cast<uintptr_t>(dst + i) & 15) != 0; ++i) copy_one(i);
  const __m128i exponent = _mm_set1_epi32(0x7F800000), low_bit = _mm_set1_epi32(0x00800000);
  __m128i acc = _mm_setzero_si128();
  for (; i + 16 <= n; i += 16) {
    __m128i v[4];
    for (int k = 0; k < 4; ++k) {
      v[k] = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i + 4 * k));
      acc = _mm_or_si128(acc, _mm_add_epi32(_mm_and_si128(v[k], exponent), low_bit));
    }
    for (int k = 0; k < 4; ++k) _mm_stream_si128(reinterpret_cast<__m128i*>(dst + i + 4 * k), v[k]);
  }
  _mm_sfence();  // streaming stores are weakly ordered: done before anyone else reads dst
  alignas(16) uint32_t lanes[4];
  _mm_store_si128(reinterpret_cast<__m128i*>(lanes), acc);
  carries |= lanes[0] | lanes[1] | lanes[2] | lanes[3];
#endif
  for (; i < n; ++i) copy_one(i);
  return carries;
}

// A copy of `count` floats on ForEachCopyChunk's threads (every one is copied, whatever it holds) that also returns the
// index of the first NaN, +Inf or -Inf in src, or -1 when all are finite. Each thread copies its
// chunk kCheckedCopyBlockBytes at a time, testing the values as it copies them
// (CopyFloatsOrCarries), and looks for the exact index only in the first block whose test fails,
// while that block is still in cache; the answer is the smallest index any thread found.
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
      const bool bad = (CopyFloatsOrCarries(dst + i, src + i, n) & kNonFiniteCarry) != 0;
      if (bad && first < 0) first = static_cast<int64_t>(i) + FirstNonFinite(src + i, n);
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
