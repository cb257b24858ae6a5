// The physical layout of arena buffers per precision (mirrors layoutPolicy() in cuda-backend.ts):
// fp32/tf32: NCHW float, channel block 1; fp16: NHWC half, channels padded to a multiple of 8.
// A tensor is a channel slice of its buffer: a 4d view with the buffer's strides and a pointer offset.
#pragma once

#include <cstdint>
#include <limits>

#include "core/error.h"
#include "core/plan.h"
#include "cuda/kernels.h"

namespace inception::cuda {

enum class Precision : int { kFp32 = 0, kTf32 = 1, kFp16 = 2 };

inline const char* PrecisionName(Precision p) {
  return p == Precision::kFp16 ? "fp16" : p == Precision::kTf32 ? "tf32" : "fp32";
}
inline bool IsNhwc(Precision p) { return p == Precision::kFp16; }
inline int ElementBytes(Precision p) { return p == Precision::kFp16 ? 2 : 4; }
inline int ChannelBlock(Precision p) { return p == Precision::kFp16 ? 8 : 1; }
inline int PaddedChannels(int c, Precision p) { return (c + ChannelBlock(p) - 1) / ChannelBlock(p) * ChannelBlock(p); }
inline int64_t BufferBytes(const PlanBuffer& b, int n, Precision p) {
  return int64_t{n} * PaddedChannels(b.c, p) * b.h * b.w * ElementBytes(p);
}

// The view of `t` (in buffer `b` at device address `base`) for a batch of n images.
inline TensorView MakeView(char* base, const PlanBuffer& b, const PlanTensor& t, int n, Precision p) {
  TensorView v;
  v.n = n;
  v.c = t.c;
  v.h = t.h;
  v.w = t.w;
  v.type = p == Precision::kFp16 ? ElementType::kHalf : ElementType::kFloat;
  const int64_t cp = PaddedChannels(b.c, p);
  int64_t element_offset;
  if (IsNhwc(p)) {
    v.sn = cp * b.h * b.w;
    v.sc = 1;
    v.sh = int64_t{b.w} * cp;
    v.sw = cp;
    element_offset = t.channel_offset;
  } else {
    v.sn = cp * b.h * b.w;
    v.sc = int64_t{b.h} * b.w;
    v.sh = b.w;
    v.sw = 1;
    element_offset = int64_t{t.channel_offset} * b.h * b.w;
  }
  v.data = base + b.offset + element_offset * ElementBytes(p);
  return v;
}

// A packed (non-view) tensor of the same logical shape at `data`.
inline TensorView PackedView(void* data, int n, int c, int h, int w, Precision p) {
  TensorView v;
  v.data = data;
  v.n = n;
  v.c = c;
  v.h = h;
  v.w = w;
  v.type = p == Precision::kFp16 ? ElementType::kHalf : ElementType::kFloat;
  if (IsNhwc(p)) {
    v.sn = int64_t{c} * h * w;
    v.sc = 1;
    v.sh = int64_t{w} * c;
    v.sw = c;
  } else {
    v.sn = int64_t{c} * h * w;
    v.sc = int64_t{h} * w;
    v.sh = w;
    v.sw = 1;
  }
  return v;
}

// The strides of a view as the ints cuDNN's 4d tensor descriptors take; E_PLAN when one does not
// fit (a silently wrapped stride would make cuDNN address the wrong memory).
inline void IntStrides(const TensorView& v, int out[4]) {
  const int64_t strides[4] = {v.sn, v.sc, v.sh, v.sw};
  for (int i = 0; i < 4; ++i) {
    INCEPTION_CHECK_PLAN(strides[i] >= 0 && strides[i] <= std::numeric_limits<int>::max(), "a [", v.n, ",", v.c, ",",
                         v.h, ",", v.w, "] view has stride ", strides[i],
                         ", more than a cuDNN tensor descriptor can describe (2^31 - 1 elements)");
    out[i] = static_cast<int>(strides[i]);
  }
}

inline bool IsPacked(const TensorView& v) {
  const TensorView p = PackedView(v.data, v.n, v.c, v.h, v.w,
                                  v.type == ElementType::kHalf ? Precision::kFp16 : Precision::kFp32);
  return p.sn == v.sn && p.sc == v.sc && p.sh == v.sh && p.sw == v.sw;
}

}  // namespace inception::cuda
