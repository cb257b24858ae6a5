// The CPU module's one alignment rule: every buffer it allocates and every sub-buffer offset in
// one is a multiple of 64 bytes (a cache line, and what AVX-512 aligned loads need).
#pragma once

#include <cstdint>
#include <cstdlib>
#include <memory>

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

// bytes (rounded up to kAlignment) at a kAlignment-aligned address; throws E_NATIVE ENOMEM naming
// `what` when the allocation fails.
inline uint8_t* AlignedAlloc(int64_t bytes, const char* what) {
  void* p = std::aligned_alloc(kAlignment, static_cast<size_t>(RoundUp(bytes, kAlignment)));
  if (p == nullptr) {
    throw Error(kCodeNative, "ENOMEM", Concat("could not allocate ", bytes, " bytes for the ", what), "aligned_alloc");
  }
  return static_cast<uint8_t*>(p);
}

}  // namespace inception::cpu
