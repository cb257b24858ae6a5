#include "cpu/small_map_conv.h"

#include <immintrin.h>

#include <algorithm>
#include <array>
#include <utility>

#include "core/error.h"
#include "cpu/alignment.h"

namespace inception::cpu {

namespace {
constexpr int32_t kRows = SmallMapConv::kMaxRows;
constexpr int32_t kPanel = SmallMapConv::kPanel;
constexpr int32_t kBlock = SmallMapConv::kBlock;
constexpr int64_t kChunk = 256;  // products per register sum (see PanelPixels)

// One panel (32 output channels) for M output pixels: windows [depth][kRows] (column m is pixel m's
// window), panel [depth][32], rows[m]: where pixel m's first output channel block starts.
// Epilogue: + bias, + the destination if residual, ReLU, store both 16-channel blocks (the second
// only when it exists: cout % 32 may be 16).
template <int M>
__attribute__((target("avx512f,fma"))) void PanelPixels(const float* windows, int64_t depth, const float* panel,
                                                        const float* bias, float* const* rows, int64_t block_stride,
                                                        int32_t block, bool second_block, bool residual, bool relu) {
  // Blocked summation: kChunk products per register sum, the chunk sums added in memory, so the
  // rounding error grows with kChunk + depth / kChunk terms rather than with depth (2304 at most).
  alignas(64) float sums[M][kPanel] = {};
  for (int64_t k0 = 0; k0 < depth; k0 += kChunk) {
    const int64_t k1 = std::min(depth, k0 + kChunk);
    __m512 lo[M], hi[M];
#pragma GCC unroll 16
    for (int m = 0; m < M; ++m) {
      lo[m] = _mm512_setzero_ps();
      hi[m] = _mm512_setzero_ps();
    }
    for (int64_t k = k0; k < k1; ++k) {
      const __m512 w0 = _mm512_load_ps(panel + k * kPanel);
      const __m512 w1 = _mm512_load_ps(panel + k * kPanel + kBlock);
      const float* x = windows + k * kRows;
#pragma GCC unroll 16
      for (int m = 0; m < M; ++m) {
        const __m512 s = _mm512_set1_ps(x[m]);
        lo[m] = _mm512_fmadd_ps(s, w0, lo[m]);
        hi[m] = _mm512_fmadd_ps(s, w1, hi[m]);
      }
    }
#pragma GCC unroll 16
    for (int m = 0; m < M; ++m) {
      _mm512_store_ps(sums[m], _mm512_add_ps(_mm512_load_ps(sums[m]), lo[m]));
      _mm512_store_ps(sums[m] + kBlock, _mm512_add_ps(_mm512_load_ps(sums[m] + kBlock), hi[m]));
    }
  }
  const __m512 b0 = _mm512_loadu_ps(bias);
  const __m512 b1 = _mm512_loadu_ps(bias + kBlock);
  const __m512 zero = _mm512_setzero_ps();
#pragma GCC unroll 16
  for (int m = 0; m < M; ++m) {
    float* p0 = rows[m] + block * block_stride;
    __m512 v = _mm512_add_ps(_mm512_load_ps(sums[m]), b0);
    if (residual) v = _mm512_add_ps(v, _mm512_loadu_ps(p0));
    // maskz_max: _mm512_max_ps trips GCC 12's -Wmaybe-uninitialized (its undefined pass-through).
    if (relu) v = _mm512_maskz_max_ps(0xFFFF, v, zero);
    _mm512_storeu_ps(p0, v);
    if (!second_block) continue;
    float* p1 = p0 + block_stride;
    v = _mm512_add_ps(_mm512_load_ps(sums[m] + kBlock), b1);
    if (residual) v = _mm512_add_ps(v, _mm512_loadu_ps(p1));
    if (relu) v = _mm512_maskz_max_ps(0xFFFF, v, zero);
    _mm512_storeu_ps(p1, v);
  }
}

using PanelFn = void (*)(const float*, int64_t, const float*, const float*, float* const*, int64_t, int32_t, bool, bool, bool);

template <int... M>
constexpr auto MakePanelTable(std::integer_sequence<int, M...>) {
  return std::array<PanelFn, sizeof...(M)>{&PanelPixels<M + 1>...};
}
constexpr auto kPanelFns = MakePanelTable(std::make_integer_sequence<int, kRows>{});
}  // namespace

bool SmallMapConv::Supports(const SmallMapShape& shape, int32_t in_channel_offset, int32_t out_channel_offset) {
  const bool channels = shape.cin > 0 && shape.cout > 0 && shape.cin % kBlock == 0 && shape.cout % kBlock == 0 &&
                        in_channel_offset % kBlock == 0 && out_channel_offset % kBlock == 0;
  return shape.kernel[0] * shape.kernel[1] > 1 && channels && shape.out_h > 0 && shape.out_w > 0 && Fits(shape, 1);
}

SmallMapConv::SmallMapConv(const SmallMapShape& shape, const float* weights, const float* bias) : shape_(shape) {
  INCEPTION_CHECK(Supports(shape, 0, 0), kCodeInvalidArgument, "small-map conv cannot take ", Describe(1),
                  ": it needs more than one tap, channel counts that are multiples of ", kBlock, " and at most ",
                  kMaxRows, " output pixels per image");
  taps_ = shape.kernel[0] * shape.kernel[1];
  depth_ = int64_t{taps_} * shape.cin;
  panels_ = (shape.cout + kPanel - 1) / kPanel;
  const int64_t packed_floats = panels_ * depth_ * kPanel;
  packed_.reset(reinterpret_cast<float*>(AlignedAlloc(packed_floats * static_cast<int64_t>(sizeof(float)), "small-map conv weights")));
  std::fill(packed_.get(), packed_.get() + packed_floats, 0.0f);
  bias_.assign(static_cast<size_t>(panels_ * kPanel), 0.0f);
  std::copy(bias, bias + shape.cout, bias_.begin());
  // Window element k = tap * cin + c holds input channel c under tap (ky, kx), tap = ky * kw + kx.
  for (int32_t o = 0; o < shape.cout; ++o) {
    float* panel = packed_.get() + int64_t{o / kPanel} * depth_ * kPanel + o % kPanel;
    for (int32_t c = 0; c < shape.cin; ++c) {
      const float* taps = weights + (int64_t{o} * shape.cin + c) * taps_;
      for (int32_t t = 0; t < taps_; ++t) panel[(int64_t{t} * shape.cin + c) * kPanel] = taps[t];
    }
  }
}

std::string SmallMapConv::Describe(int32_t n) const {
  return Concat("[", n, ",", shape_.cin, ",", shape_.in_h, ",", shape_.in_w, "] -> [", n, ",", shape_.cout, ",",
                shape_.out_h, ",", shape_.out_w, "] kernel ", shape_.kernel[0], "x", shape_.kernel[1], " stride ",
                shape_.stride[0], "x", shape_.stride[1], " pad ", shape_.pad[0], "x", shape_.pad[1]);
}

int64_t SmallMapConv::WorkspaceBytes() const {
  return RoundUp(depth_ * kRows * static_cast<int64_t>(sizeof(float)), kAlignment);
}

int64_t SmallMapConv::weight_bytes() const {
  return (int64_t{panels_} * depth_ * kPanel + static_cast<int64_t>(bias_.size())) * static_cast<int64_t>(sizeof(float));
}

void SmallMapConv::Run(int32_t n, const BlockedSlice& in, const BlockedSlice& out, float* workspace) const {
  INCEPTION_CHECK(n >= 1 && Fits(n), kCodeInvalidArgument, "small-map conv ", Describe(n), ": batch ", n,
                  " has more than ", kMaxRows, " output pixels");
  const SmallMapShape& s = shape_;
  const int32_t pixels = s.out_h * s.out_w;
  const int32_t rows = n * pixels;
  const int32_t cin_blocks = s.cin / kBlock;
  const int64_t in_plane = int64_t{s.in_h} * s.in_w * kBlock;
  float* rows_out[kRows];
  for (int32_t r = 0; r < rows; ++r) rows_out[r] = out.first + (r / pixels) * out.image_stride + int64_t{r % pixels} * kBlock;
  const int64_t block_stride = int64_t{pixels} * kBlock;  // output channel block b to b + 1 at one pixel
  const PanelFn panel_fn = kPanelFns[static_cast<size_t>(rows - 1)];
  const int32_t blocks = s.cout / kBlock;
  const bool residual = s.residual, relu = s.relu;
  float* windows = workspace;

#pragma omp parallel
  {
    // Gather: windows[(tap * cin + c) * kRows + row] = the input under that tap (0 in the padding).
    // Split by (tap, channel block), each a contiguous run of the windows: split by pixel, two
    // threads would write the same cache lines (a pixel's values are kRows floats apart).
#pragma omp for schedule(static)
    for (int32_t j = 0; j < taps_ * cin_blocks; ++j) {
      const int32_t tap = j / cin_blocks, cb = j % cin_blocks;
      const int32_t ky = tap / s.kernel[1], kx = tap % s.kernel[1];
      float* dst = windows + (int64_t{tap} * s.cin + int64_t{cb} * kBlock) * kRows;
      for (int32_t row = 0; row < rows; ++row) {
        const int32_t image = row / pixels, pixel = row % pixels;
        const int32_t iy = pixel / s.out_w * s.stride[0] - s.pad[0] + ky;
        const int32_t ix = pixel % s.out_w * s.stride[1] - s.pad[1] + kx;
        const bool inside = iy >= 0 && iy < s.in_h && ix >= 0 && ix < s.in_w;
        const float* v = in.first + image * in.image_stride + cb * in_plane + (int64_t{iy} * s.in_w + ix) * kBlock;
        for (int32_t l = 0; l < kBlock; ++l) dst[l * kRows + row] = inside ? v[l] : 0.0f;
      }
    }
    // Stream the weights: panel p makes output channel blocks 2p and 2p + 1 of every pixel.
#pragma omp for schedule(static)
    for (int32_t p = 0; p < panels_; ++p) {
      panel_fn(windows, depth_, packed_.get() + int64_t{p} * depth_ * kPanel, bias_.data() + int64_t{p} * kPanel, rows_out,
               block_stride, 2 * p, 2 * p + 1 < blocks, residual, relu);
    }
  }
}

}  // namespace inception::cpu
