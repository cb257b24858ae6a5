// The CPU module's one alignment rule: every buffer it allocates and every sub-buffer offset in
// one is a multiple of 64 bytes (a cache line, and what AVX-512 aligned loads need).
#pragma once

#include <sys/mman.h>

#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>

#include "core/error.h"

namespace inception::cpu {

constexpr int64_t kAlignment = 64;

inline int64_t RoundUp(int64_t value, int64_t to) { return (value + to - 1) / to * to; }

struct AlignedFree {
  void operator()(void* p) const { std::free(p); }
};
// A kAlignment-aligned allocation, freed with std::free.
template <typename T>
using AlignedPtr = std::unique_ptr<T, AlignedFree>;

// Blocks of at least kHugePageBytes are aligned to it and offered to the kernel as transparent huge
// pages (MADV_HUGEPAGE; THP's default `madvise` mode uses them only when asked). Arenas and
// scratchpads are first touched in the first run, and where a 4 KiB page fault is slow (~12 us on
// a KVM guest measured here) a 100 MB arena cost ~0.3 s of faults; a 2 MiB page takes one fault.
// The advice is a hint: where THP is off or unsupported it fails, harmlessly, and is ignored.
// INCEPTION_CPU_HUGE_PAGES=0 turns it off (with THP's `defrag` setting, a huge-page fault may
// compact memory first, which some latency-bound services would rather avoid).
constexpr int64_t kHugePageBytes = int64_t{2} << 20;
inline bool HugePagesWanted() {
  const char* setting = std::getenv("INCEPTION_CPU_HUGE_PAGES");
  return setting == nullptr || std::string(setting) != "0";
}

// bytes (rounded up to the block's alignment) at a kAlignment-aligned address, 2 MiB aligned and
// advised as above for blocks of kHugePageBytes or more; throws E_NATIVE ENOMEM naming `what` when
// the allocation fails.
inline uint8_t* AlignedAlloc(int64_t bytes, const char* what) {
  const bool huge = bytes >= kHugePageBytes && HugePagesWanted();
  const int64_t alignment = huge ? kHugePageBytes : kAlignment;
  const size_t size = static_cast<size_t>(RoundUp(bytes, alignment));
  void* p = std::aligned_alloc(static_cast<size_t>(alignment), size);
  if (p == nullptr) {
    throw Error(kCodeNative, "ENOMEM", Concat("could not allocate ", bytes, " bytes for the ", what), "aligned_alloc");
  }
#ifdef MADV_HUGEPAGE
  if (huge) (void)madvise(p, size, MADV_HUGEPAGE);
#endif
  return static_cast<uint8_t*>(p);
}

}  // namespace inception::cpu
