// The machine's measured fp32 peak: a large oneDNN matmul timed natively (what a well-shaped
// GEMM reaches on these cores and threads), the yardstick for the per-layer profile.
#pragma once

#include <napi.h>

#include <cstdint>
#include <string>

namespace inception::cpu {

struct PeakResult {
  double gflops = 0;    // best run: 2*m*n*k / seconds / 1e9
  double best_ms = 0;
  int64_t m = 0, n = 0, k = 0;
  int32_t threads = 0;
  int32_t repeats = 0;
  std::string impl;     // oneDNN impl_info_str() of the matmul
  // A large 1x1 convolution (what most of the networks' time is), [1,conv_channels,conv_hw,conv_hw]
  // -> same shape, oneDNN's own layouts: often faster than the matmul on the same cores.
  double conv_gflops = 0;
  double conv_best_ms = 0;
  int64_t conv_channels = 0, conv_hw = 0;
  std::string conv_impl;
  // A 3x3 convolution [1,192,35,35] -> [1,192,35,35] (pad 1), the networks' other big shape.
  double conv3_gflops = 0;
  double conv3_best_ms = 0;
  std::string conv3_impl;
};

// Runs `repeats` timed matmuls [size x size] x [size x size] and `repeats` timed 1x1 convs
// (each after 2 warm-ups) on `threads` threads; best run of each. Throws inception::Error.
PeakResult MeasurePeak(int64_t size, int32_t threads, int32_t repeats);

// peakGflops({ size?, threads?, repeats? }) -> Promise<{ gflops, bestMs, m, n, k, threads, repeats, impl }>
Napi::Value JsPeakGflops(const Napi::CallbackInfo& info);

}  // namespace inception::cpu
