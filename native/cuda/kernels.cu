#include "cuda/kernels.h"

#include <cuda_fp16.h>

#include <cfloat>
#include <cstdint>
#include <cstring>

namespace inception::cuda {
namespace {

constexpr int kThreads = 256;

__device__ __forceinline__ float Load(const TensorView& v, int64_t off) {
  if (v.type == ElementType::kHalf) return __half2float(static_cast<const __half*>(v.data)[off]);
  return static_cast<const float*>(v.data)[off];
}
__device__ __forceinline__ void Store(const TensorView& v, int64_t off, float x) {
  if (v.type == ElementType::kHalf) {
    static_cast<__half*>(v.data)[off] = __float2half_rn(x);
  } else {
    static_cast<float*>(v.data)[off] = x;
  }
}

// Logical (n,c,h,w) of a flat index. Channel-fastest order when channels are contiguous (NHWC),
// so neighbouring threads touch neighbouring memory in both layouts.
struct Index4 {
  int n, c, h, w;
};
__device__ __forceinline__ Index4 Decompose(int64_t i, const TensorView& v) {
  Index4 r;
  if (v.sc == 1 && v.c > 1) {
    r.c = static_cast<int>(i % v.c);
    i /= v.c;
    r.w = static_cast<int>(i % v.w);
    i /= v.w;
    r.h = static_cast<int>(i % v.h);
    r.n = static_cast<int>(i / v.h);
  } else {
    r.w = static_cast<int>(i % v.w);
    i /= v.w;
    r.h = static_cast<int>(i % v.h);
    i /= v.h;
    r.c = static_cast<int>(i % v.c);
    r.n = static_cast<int>(i / v.c);
  }
  return r;
}
__device__ __forceinline__ int64_t Offset(const TensorView& v, const Index4& x) {
  return x.n * v.sn + x.c * v.sc + x.h * v.sh + x.w * v.sw;
}
int64_t Count(const TensorView& v) { return static_cast<int64_t>(v.n) * v.c * v.h * v.w; }
unsigned Blocks(int64_t count) { return static_cast<unsigned>((count + kThreads - 1) / kThreads); }

__global__ void InputConvertKernel(const float* src, int src_c, TensorView dst, int64_t count) {
  int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (i >= count) return;
  Index4 x = Decompose(i, dst);
  float v = 0.0f;
  if (x.c < src_c) v = src[((static_cast<int64_t>(x.n) * src_c + x.c) * dst.h + x.h) * dst.w + x.w];
  Store(dst, Offset(dst, x), v);
}

__global__ void OutputConvertKernel(TensorView src, float* dst, int64_t count) {
  int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (i >= count) return;
  Index4 x;
  int64_t j = i;
  x.w = static_cast<int>(j % src.w);
  j /= src.w;
  x.h = static_cast<int>(j % src.h);
  j /= src.h;
  x.c = static_cast<int>(j % src.c);
  x.n = static_cast<int>(j / src.c);
  dst[i] = Load(src, Offset(src, x));
}

__global__ void AffineKernel(TensorView src, TensorView dst, const float* scale, const float* shift, bool relu,
                             int64_t count) {
  int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (i >= count) return;
  Index4 x = Decompose(i, dst);
  float v = Load(src, Offset(src, x));
  if (scale) v *= scale[x.c];
  if (shift) v += shift[x.c];
  if (relu) v = fmaxf(v, 0.0f);
  Store(dst, Offset(dst, x), v);
}

__global__ void ResidualAddKernel(TensorView a, TensorView b, TensorView dst, float scale, bool relu, int64_t count) {
  int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (i >= count) return;
  Index4 x = Decompose(i, dst);
  float v = Load(a, Offset(a, x)) + scale * Load(b, Offset(b, x));
  if (relu) v = fmaxf(v, 0.0f);
  Store(dst, Offset(dst, x), v);
}

// One warp per (n, c).
__global__ void GlobalAvgPoolKernel(TensorView src, TensorView dst) {
  int64_t warp = (blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x) / 32;
  int lane = threadIdx.x % 32;
  if (warp >= static_cast<int64_t>(src.n) * src.c) return;
  int n = static_cast<int>(warp / src.c), c = static_cast<int>(warp % src.c);
  const int hw = src.h * src.w;
  float sum = 0.0f;
  for (int k = lane; k < hw; k += 32) {
    int h = k / src.w, w = k % src.w;
    sum += Load(src, n * src.sn + c * src.sc + h * src.sh + w * src.sw);
  }
  for (int o = 16; o > 0; o /= 2) sum += __shfl_down_sync(0xffffffffu, sum, o);
  if (lane == 0) Store(dst, n * dst.sn + c * dst.sc, sum / static_cast<float>(hw));
}

// One warp per (n, o).
__global__ void LinearKernel(TensorView src, TensorView dst, const float* weight, const float* bias, bool relu) {
  int64_t warp = (blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x) / 32;
  int lane = threadIdx.x % 32;
  if (warp >= static_cast<int64_t>(dst.n) * dst.c) return;
  int n = static_cast<int>(warp / dst.c), o = static_cast<int>(warp % dst.c);
  const int in = src.c;
  const float* row = weight + static_cast<int64_t>(o) * in;
  float sum = 0.0f;
  for (int i = lane; i < in; i += 32) sum += Load(src, n * src.sn + i * src.sc) * row[i];
  for (int s = 16; s > 0; s /= 2) sum += __shfl_down_sync(0xffffffffu, sum, s);
  if (lane == 0) {
    float v = sum + (bias ? bias[o] : 0.0f);
    if (relu) v = fmaxf(v, 0.0f);
    Store(dst, n * dst.sn + o * dst.sc, v);
  }
}

__device__ float BlockReduce(float v, bool is_max) {
  __shared__ float partial[kThreads / 32];
  for (int o = 16; o > 0; o /= 2) {
    float other = __shfl_down_sync(0xffffffffu, v, o);
    v = is_max ? fmaxf(v, other) : v + other;
  }
  int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  __syncthreads();
  if (lane == 0) partial[warp] = v;
  __syncthreads();
  float r = is_max ? -FLT_MAX : 0.0f;
  for (int k = 0; k < kThreads / 32; ++k) r = is_max ? fmaxf(r, partial[k]) : r + partial[k];
  return r;
}

// One block per row n (h = w = 1).
__global__ void L2NormKernel(TensorView src, TensorView dst, float eps) {
  int n = blockIdx.x;
  float ss = 0.0f;
  for (int c = threadIdx.x; c < src.c; c += blockDim.x) {
    float v = Load(src, n * src.sn + c * src.sc);
    ss += v * v;
  }
  float norm = fmaxf(sqrtf(BlockReduce(ss, false)), eps);
  for (int c = threadIdx.x; c < src.c; c += blockDim.x) {
    Store(dst, n * dst.sn + c * dst.sc, Load(src, n * src.sn + c * src.sc) / norm);
  }
}

__global__ void SoftmaxKernel(TensorView src, TensorView dst) {
  int n = blockIdx.x;
  float m = -FLT_MAX;
  for (int c = threadIdx.x; c < src.c; c += blockDim.x) m = fmaxf(m, Load(src, n * src.sn + c * src.sc));
  m = BlockReduce(m, true);
  float s = 0.0f;
  for (int c = threadIdx.x; c < src.c; c += blockDim.x) s += expf(Load(src, n * src.sn + c * src.sc) - m);
  s = BlockReduce(s, false);
  for (int c = threadIdx.x; c < src.c; c += blockDim.x) {
    Store(dst, n * dst.sn + c * dst.sc, expf(Load(src, n * src.sn + c * src.sc) - m) / s);
  }
}

__global__ void Pool2dKernel(TensorView src, TensorView dst, bool max_pool, int kh, int kw, int sh, int sw, int ph,
                             int pw, bool count_include_pad, int64_t count) {
  int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (i >= count) return;
  Index4 x = Decompose(i, dst);
  float acc = max_pool ? -FLT_MAX : 0.0f;
  int valid = 0;
  for (int r = 0; r < kh; ++r) {
    int y = x.h * sh - ph + r;
    if (y < 0 || y >= src.h) continue;
    for (int s = 0; s < kw; ++s) {
      int z = x.w * sw - pw + s;
      if (z < 0 || z >= src.w) continue;
      float v = Load(src, x.n * src.sn + x.c * src.sc + y * src.sh + z * src.sw);
      acc = max_pool ? fmaxf(acc, v) : acc + v;
      ++valid;
    }
  }
  if (!max_pool) acc /= static_cast<float>(count_include_pad ? kh * kw : (valid > 0 ? valid : 1));
  Store(dst, Offset(dst, x), acc);
}

// NHWC fp16 with an even channel count, two channels (one __half2) per thread and 32-bit index
// math; strides in __half2 units. The same float arithmetic in the same order as Pool2dKernel
// (accumulate over r then s, divide once, round to nearest), so both give identical results.
struct Pool2dHalf2Args {
  const __half2* src;
  __half2* dst;
  int c2, oh, ow, ih, iw;
  int src_sn, src_sh, src_sw, dst_sn, dst_sh, dst_sw;
  int kh, kw, sh, sw, ph, pw;
  bool max_pool, count_include_pad;
  int count;
};

__global__ void Pool2dNhwcHalf2Kernel(Pool2dHalf2Args a) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= a.count) return;
  const int c = i % a.c2;
  int rest = i / a.c2;
  const int ow = rest % a.ow;
  rest /= a.ow;
  const int oh = rest % a.oh;
  const int n = rest / a.oh;
  const __half2* base = a.src + n * a.src_sn + c;
  float ax = a.max_pool ? -FLT_MAX : 0.0f, ay = ax;
  int valid = 0;
  for (int r = 0; r < a.kh; ++r) {
    const int y = oh * a.sh - a.ph + r;
    if (y < 0 || y >= a.ih) continue;
    for (int s = 0; s < a.kw; ++s) {
      const int z = ow * a.sw - a.pw + s;
      if (z < 0 || z >= a.iw) continue;
      const float2 v = __half22float2(base[y * a.src_sh + z * a.src_sw]);
      ax = a.max_pool ? fmaxf(ax, v.x) : ax + v.x;
      ay = a.max_pool ? fmaxf(ay, v.y) : ay + v.y;
      ++valid;
    }
  }
  if (!a.max_pool) {
    const float d = static_cast<float>(a.count_include_pad ? a.kh * a.kw : (valid > 0 ? valid : 1));
    ax /= d;
    ay /= d;
  }
  a.dst[n * a.dst_sn + oh * a.dst_sh + ow * a.dst_sw + c] = __floats2half2_rn(ax, ay);
}

// Whether a view can be read/written as __half2 pairs of channels with 32-bit element offsets.
bool Half2Channels(const TensorView& v) {
  if (v.type != ElementType::kHalf || v.sc != 1 || v.c % 2 != 0) return false;
  if (v.sn % 2 != 0 || v.sh % 2 != 0 || v.sw % 2 != 0 || reinterpret_cast<uintptr_t>(v.data) % 4 != 0) return false;
  const int64_t last = int64_t{v.n - 1} * v.sn + int64_t{v.c - 1} + int64_t{v.h - 1} * v.sh + int64_t{v.w - 1} * v.sw;
  return last < INT32_MAX;
}

}  // namespace

void LaunchInputConvert(const float* src, int src_c, const TensorView& dst, cudaStream_t stream) {
  int64_t count = Count(dst);
  if (count > 0) InputConvertKernel<<<Blocks(count), kThreads, 0, stream>>>(src, src_c, dst, count);
}
void LaunchOutputConvert(const TensorView& src, float* dst, cudaStream_t stream) {
  int64_t count = Count(src);
  if (count > 0) OutputConvertKernel<<<Blocks(count), kThreads, 0, stream>>>(src, dst, count);
}
void LaunchCopy(const TensorView& src, const TensorView& dst, cudaStream_t stream) {
  LaunchAffine(src, dst, nullptr, nullptr, false, stream);
}
void LaunchAffine(const TensorView& src, const TensorView& dst, const float* scale, const float* shift, bool relu,
                  cudaStream_t stream) {
  int64_t count = Count(dst);
  if (count > 0) AffineKernel<<<Blocks(count), kThreads, 0, stream>>>(src, dst, scale, shift, relu, count);
}
void LaunchResidualAdd(const TensorView& a, const TensorView& b, const TensorView& dst, float scale, bool relu,
                       cudaStream_t stream) {
  int64_t count = Count(dst);
  if (count > 0) ResidualAddKernel<<<Blocks(count), kThreads, 0, stream>>>(a, b, dst, scale, relu, count);
}
void LaunchGlobalAvgPool(const TensorView& src, const TensorView& dst, cudaStream_t stream) {
  int64_t threads = static_cast<int64_t>(src.n) * src.c * 32;
  if (threads > 0) GlobalAvgPoolKernel<<<Blocks(threads), kThreads, 0, stream>>>(src, dst);
}
void LaunchLinear(const TensorView& src, const TensorView& dst, const float* weight, const float* bias, bool relu,
                  cudaStream_t stream) {
  int64_t threads = static_cast<int64_t>(dst.n) * dst.c * 32;
  if (threads > 0) LinearKernel<<<Blocks(threads), kThreads, 0, stream>>>(src, dst, weight, bias, relu);
}
void LaunchL2Norm(const TensorView& src, const TensorView& dst, float eps, cudaStream_t stream) {
  if (src.n > 0) L2NormKernel<<<src.n, kThreads, 0, stream>>>(src, dst, eps);
}
void LaunchSoftmax(const TensorView& src, const TensorView& dst, cudaStream_t stream) {
  if (src.n > 0) SoftmaxKernel<<<src.n, kThreads, 0, stream>>>(src, dst);
}
void LaunchPool2d(const TensorView& src, const TensorView& dst, bool max_pool, int kh, int kw, int sh, int sw, int ph,
                  int pw, bool count_include_pad, cudaStream_t stream) {
  int64_t count = Count(dst);
  if (count <= 0) return;
  if (Half2Channels(src) && Half2Channels(dst) && src.c == dst.c && count / 2 < INT32_MAX) {
    Pool2dHalf2Args a;
    a.src = static_cast<const __half2*>(src.data);
    a.dst = static_cast<__half2*>(dst.data);
    a.c2 = dst.c / 2;
    a.oh = dst.h;
    a.ow = dst.w;
    a.ih = src.h;
    a.iw = src.w;
    a.src_sn = static_cast<int>(src.sn / 2);
    a.src_sh = static_cast<int>(src.sh / 2);
    a.src_sw = static_cast<int>(src.sw / 2);
    a.dst_sn = static_cast<int>(dst.sn / 2);
    a.dst_sh = static_cast<int>(dst.sh / 2);
    a.dst_sw = static_cast<int>(dst.sw / 2);
    a.kh = kh;
    a.kw = kw;
    a.sh = sh;
    a.sw = sw;
    a.ph = ph;
    a.pw = pw;
    a.max_pool = max_pool;
    a.count_include_pad = count_include_pad;
    a.count = static_cast<int>(count / 2);
    Pool2dNhwcHalf2Kernel<<<Blocks(a.count), kThreads, 0, stream>>>(a);
    return;
  }
  Pool2dKernel<<<Blocks(count), kThreads, 0, stream>>>(src, dst, max_pool, kh, kw, sh, sw, ph, pw, count_include_pad,
                                                       count);
}

uint16_t FloatToHalfBits(float value) {
  __half h = __float2half_rn(value);
  uint16_t bits;
  std::memcpy(&bits, &h, sizeof(bits));
  return bits;
}

}  // namespace inception::cuda
