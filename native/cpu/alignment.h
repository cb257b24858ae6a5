// The CPU module's one alignment rule: every buffer it allocates and every sub-buffer offset in
// one is a multiple of 64 bytes (a cache line, and what AVX-512 aligned loads need).
#pragma once

#include <cstdint>

namespace inception::cpu {

constexpr int64_t kAlignment = 64;

inline int64_t RoundUp(int64_t value, int64_t to) { return (value + to - 1) / to * to; }

}  // namespace inception::cpu
