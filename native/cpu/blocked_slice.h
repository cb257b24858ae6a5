// A channel slice of a 16-channel-blocked (nChw16c) activation buffer, as the CPU module's own
// kernels address it: a dense tensor or a concat view whose first channel is a multiple of 16.
#pragma once

#include <cstdint>

namespace inception::cpu {

// Image i of the slice starts at first + i * image_stride (floats); within an image, channel
// block b is the plane [H][W][16] at b * H * W * 16.
struct BlockedSlice {
  float* first = nullptr;
  int64_t image_stride = 0;
};

}  // namespace inception::cpu
