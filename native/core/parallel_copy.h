// Large host-to-host copies split across threads (e.g. a batch's input into pinned staging memory:
// 274 MB for 256 images at 299x299, which one thread copies at a single core's memory bandwidth).
// Header-only, no CUDA: tested with the host compiler (tests/native/parallel-copy.test.ts).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <thread>
#include <vector>

namespace inception {

// Below this many bytes one memcpy is as fast as starting threads.
constexpr size_t kParallelCopyMinBytes = size_t{16} << 20;
// Each thread copies at least this much (fewer threads for mid-sized copies).
constexpr size_t kParallelCopyBytesPerThread = size_t{8} << 20;

// How many threads a copy of `bytes` uses, at most `max_threads` (0: the hardware's count, capped at 8).
inline unsigned ParallelCopyThreads(size_t bytes, unsigned max_threads = 0) {
  if (bytes < kParallelCopyMinBytes) return 1;
  unsigned limit = max_threads != 0 ? max_threads : std::min(8u, std::max(1u, std::thread::hardware_concurrency()));
  const size_t by_size = bytes / kParallelCopyBytesPerThread;
  return static_cast<unsigned>(std::max<size_t>(1, std::min<size_t>(limit, by_size)));
}

// memcpy(dst, src, bytes) on ParallelCopyThreads(bytes, max_threads) threads (the calling thread
// copies the first chunk); chunks are 64-byte aligned in offset, the last takes the remainder.
// If a thread cannot be started, its chunk is copied on the calling thread.
inline void ParallelCopy(void* dst, const void* src, size_t bytes, unsigned max_threads = 0) {
  const unsigned threads = ParallelCopyThreads(bytes, max_threads);
  if (threads <= 1) {
    std::memcpy(dst, src, bytes);
    return;
  }
  char* d = static_cast<char*>(dst);
  const char* s = static_cast<const char*>(src);
  const size_t chunk = (bytes / threads + 63) / 64 * 64;
  std::vector<std::thread> workers;
  workers.reserve(threads - 1);
  for (unsigned t = 1; t < threads; ++t) {
    const size_t begin = std::min(bytes, t * chunk);
    const size_t end = t + 1 == threads ? bytes : std::min(bytes, (t + 1) * chunk);
    if (begin >= end) continue;
    try {
      workers.emplace_back([=] { std::memcpy(d + begin, s + begin, end - begin); });
    } catch (...) {
      std::memcpy(d + begin, s + begin, end - begin);
    }
  }
  std::memcpy(d, s, std::min(bytes, chunk));
  for (std::thread& w : workers) w.join();
}

}  // namespace inception
