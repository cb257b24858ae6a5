#include "cpu/loops.h"

#include <algorithm>
#include <cmath>
#include <cstdint>

namespace inception::cpu {
namespace {

// Zeros the padded channels [buffer_c, padded_c) when `out` covers the end of its buffer.
void ZeroPadding(const TensorAccess& out) {
  if (out.c_offset + out.c != out.buffer_c || out.padded_c == out.buffer_c) return;
  const int32_t pad_channels = static_cast<int32_t>(out.padded_c - out.buffer_c);
  for (int32_t image = 0; image < out.n; ++image) {
    for (int32_t k = 0; k < pad_channels; ++k) {
      float* p = out.Channel(image, out.c + k);
      for (int32_t s = 0; s < out.hw; ++s) p[int64_t{s} * out.block] = 0.0f;
    }
  }
}

// Calls fn(in_ptr..., out_ptr, channel, stride_in..., stride_out) for every (image, channel) in parallel.
template <typename Fn>
void ForEachChannel(const TensorAccess& out, Fn&& fn) {
  const int64_t total = int64_t{out.n} * out.c;
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < total; ++i) {
    fn(static_cast<int32_t>(i / out.c), static_cast<int32_t>(i % out.c));
  }
  ZeroPadding(out);
}

}  // namespace

void ReluLoop(const TensorAccess& in, const TensorAccess& out) {
  ForEachChannel(out, [&](int32_t image, int32_t c) {
    const float* src = in.Channel(image, c);
    float* dst = out.Channel(image, c);
    for (int32_t s = 0; s < out.hw; ++s) dst[int64_t{s} * out.block] = std::max(src[int64_t{s} * in.block], 0.0f);
  });
}

void ResidualAddLoop(const TensorAccess& a, const TensorAccess& b, const TensorAccess& out, float scale, bool relu) {
  ForEachChannel(out, [&](int32_t image, int32_t c) {
    const float* pa = a.Channel(image, c);
    const float* pb = b.Channel(image, c);
    float* dst = out.Channel(image, c);
    for (int32_t s = 0; s < out.hw; ++s) {
      const float v = pa[int64_t{s} * a.block] + scale * pb[int64_t{s} * b.block];
      dst[int64_t{s} * out.block] = relu ? std::max(v, 0.0f) : v;
    }
  });
}

void AffineLoop(const TensorAccess& in, const TensorAccess& out, const float* scale, const float* shift, bool relu) {
  ForEachChannel(out, [&](int32_t image, int32_t c) {
    const float* src = in.Channel(image, c);
    float* dst = out.Channel(image, c);
    for (int32_t s = 0; s < out.hw; ++s) {
      const float v = src[int64_t{s} * in.block] * scale[c] + shift[c];
      dst[int64_t{s} * out.block] = relu ? std::max(v, 0.0f) : v;
    }
  });
}

void ConcatLoop(const std::vector<TensorAccess>& inputs, const TensorAccess& out) {
  int32_t channel_base = 0;
  for (const TensorAccess& in : inputs) {
    const int32_t base = channel_base;
    const int64_t total = int64_t{out.n} * in.c;
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < total; ++i) {
      const int32_t image = static_cast<int32_t>(i / in.c), c = static_cast<int32_t>(i % in.c);
      const float* src = in.Channel(image, c);
      float* dst = out.Channel(image, base + c);
      for (int32_t s = 0; s < out.hw; ++s) dst[int64_t{s} * out.block] = src[int64_t{s} * in.block];
    }
    channel_base += in.c;
  }
  ZeroPadding(out);
}

void L2NormLoop(const TensorAccess& in, const TensorAccess& out, float eps) {
  const int64_t total = int64_t{out.n} * out.hw;
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < total; ++i) {
    const int32_t image = static_cast<int32_t>(i / out.hw), s = static_cast<int32_t>(i % out.hw);
    double sum = 0.0;
    for (int32_t c = 0; c < in.c; ++c) {
      const double v = in.Channel(image, c)[int64_t{s} * in.block];
      sum += v * v;
    }
    const float inv = static_cast<float>(1.0 / std::max(std::sqrt(sum), static_cast<double>(eps)));
    for (int32_t c = 0; c < out.c; ++c) {
      out.Channel(image, c)[int64_t{s} * out.block] = in.Channel(image, c)[int64_t{s} * in.block] * inv;
    }
  }
  ZeroPadding(out);
}

void SoftmaxLoop(const TensorAccess& in, const TensorAccess& out) {
  const int64_t total = int64_t{out.n} * out.hw;
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < total; ++i) {
    const int32_t image = static_cast<int32_t>(i / out.hw), s = static_cast<int32_t>(i % out.hw);
    float max_value = -INFINITY;
    for (int32_t c = 0; c < in.c; ++c) max_value = std::max(max_value, in.Channel(image, c)[int64_t{s} * in.block]);
    double sum = 0.0;
    for (int32_t c = 0; c < in.c; ++c) {
      const float e = std::exp(in.Channel(image, c)[int64_t{s} * in.block] - max_value);
      out.Channel(image, c)[int64_t{s} * out.block] = e;
      sum += e;
    }
    const float inv = static_cast<float>(1.0 / sum);
    for (int32_t c = 0; c < out.c; ++c) out.Channel(image, c)[int64_t{s} * out.block] *= inv;
  }
  ZeroPadding(out);
}

}  // namespace inception::cpu
