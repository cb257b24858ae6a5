// Small CUDA kernels for the ops cuDNN does not do for us (or that we keep as tested fallbacks).
// Every kernel reads/writes through a TensorView (4d, explicit strides, fp32 or fp16 elements),
// so the same code serves NCHW fp32, NHWC fp16 and channel slices ("views") of concat buffers.
// Launch errors are checked by the caller with CUDA_CHECK(cudaGetLastError()).
#pragma once

#include <cstdint>

#include <cuda_runtime_api.h>

namespace inception::cuda {

enum class ElementType : int { kFloat = 0, kHalf = 1 };

struct TensorView {
  void* data = nullptr;  // points at element (0,0,0,0) of the view
  int n = 0, c = 0, h = 0, w = 0;
  int64_t sn = 0, sc = 0, sh = 0, sw = 0;  // strides in elements
  ElementType type = ElementType::kFloat;
};

// dst[n,c,h,w] = c < src_c ? src[n,c,h,w] : 0 (src packed NCHW fp32 with src_c channels; dst.c >= src_c).
void LaunchInputConvert(const float* src, int src_c, const TensorView& dst, cudaStream_t stream);
// dst packed fp32 [n, c*h*w] (NCHW order) from any view.
void LaunchOutputConvert(const TensorView& src, float* dst, cudaStream_t stream);
// dst = src (same logical shape), any layouts/types.
void LaunchCopy(const TensorView& src, const TensorView& dst, cudaStream_t stream);
// dst = act(src * scale[c] + shift[c]); scale may be null (= 1), shift may be null (= 0).
void LaunchAffine(const TensorView& src, const TensorView& dst, const float* scale, const float* shift, bool relu,
                  cudaStream_t stream);
// dst = act(a + scale * b).
void LaunchResidualAdd(const TensorView& a, const TensorView& b, const TensorView& dst, float scale, bool relu,
                       cudaStream_t stream);
// dst[n,c,0,0] = mean over h,w of src[n,c,:,:].
void LaunchGlobalAvgPool(const TensorView& src, const TensorView& dst, cudaStream_t stream);
// dst[n,o] = act(sum_i src[n,i] * weight[o*in + i] + bias[o]); src/dst have h = w = 1.
void LaunchLinear(const TensorView& src, const TensorView& dst, const float* weight, const float* bias, bool relu,
                  cudaStream_t stream);
// Row-wise over c (h = w = 1): dst = src / max(||src||_2, eps).
void LaunchL2Norm(const TensorView& src, const TensorView& dst, float eps, cudaStream_t stream);
// Row-wise softmax over c (h = w = 1), computed in fp32.
void LaunchSoftmax(const TensorView& src, const TensorView& dst, cudaStream_t stream);
// Max or average pooling (timed against cudnnPoolingForward at setup, and its fallback). NHWC fp16
// views with an even channel count and 4-byte aligned data take a two-channels-per-thread kernel.
void LaunchPool2d(const TensorView& src, const TensorView& dst, bool max_pool, int kh, int kw, int sh, int sw, int ph,
                  int pw, bool count_include_pad, cudaStream_t stream);
// Host-side fp32 -> IEEE half conversion (round to nearest even), for weight preparation.
uint16_t FloatToHalfBits(float value);

}  // namespace inception::cuda
