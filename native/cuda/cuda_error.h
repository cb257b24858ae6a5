// The error type of the CUDA backend and the check macros every CUDA/cuDNN call goes through.
// Nothing here aborts: a failed call throws inception::Error naming the call, the status and where.
#pragma once

#include <string>

#include <cuda_runtime_api.h>

#include "core/error.h"
#include "cuda/cudnn_api.h"

namespace inception::cuda {

// Every failure in this module is an inception::Error (native/core/error.h):
// code E_NATIVE with native_code = the CUDA/cuDNN status name, or E_BACKEND_UNAVAILABLE.
inline constexpr const char* kCodeBackendUnavailable = "E_BACKEND_UNAVAILABLE";

[[noreturn]] void ThrowCudaStatus(cudaError_t status, const char* expr, const char* file, int line);
[[noreturn]] void ThrowCudnnStatus(cudnn::Status status, const char* expr, const char* file, int line);

}  // namespace inception::cuda

#define CUDA_CHECK(expr)                                                                \
  do {                                                                                  \
    cudaError_t inception_status_ = (expr);                                             \
    if (inception_status_ != cudaSuccess)                                               \
      ::inception::cuda::ThrowCudaStatus(inception_status_, #expr, __FILE__, __LINE__); \
  } while (0)

#define CUDNN_CHECK(expr)                                                                \
  do {                                                                                   \
    ::inception::cudnn::Status inception_status_ = (expr);                               \
    if (inception_status_ != ::inception::cudnn::Status::kSuccess)                       \
      ::inception::cuda::ThrowCudnnStatus(inception_status_, #expr, __FILE__, __LINE__); \
  } while (0)
