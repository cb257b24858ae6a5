// RAII owners for CUDA memory, streams and cuDNN handles/descriptors. Non-copyable, movable;
// destructors never throw (a failed free at teardown is ignored: there is nothing to do about it).
#pragma once

#include <cstddef>
#include <string>
#include <utility>

#include <cuda_runtime_api.h>

#include "cuda/cuda_error.h"
#include "cuda/cudnn_loader.h"

namespace inception::cuda {

// Bytes from one CUDA allocator, freed on destruction. Memory says how (cudaMalloc / cudaMallocHost)
// and what an allocation failure tells the user; `what` names the allocation in that message.
template <typename Memory>
class CudaBytes {
 public:
  CudaBytes() = default;
  CudaBytes(size_t bytes, const std::string& what) { Allocate(bytes, what); }
  ~CudaBytes() { Reset(); }
  CudaBytes(const CudaBytes&) = delete;
  CudaBytes& operator=(const CudaBytes&) = delete;
  CudaBytes(CudaBytes&& o) noexcept : ptr_(std::exchange(o.ptr_, nullptr)), bytes_(std::exchange(o.bytes_, 0)) {}
  CudaBytes& operator=(CudaBytes&& o) noexcept {
    if (this != &o) {
      Reset();
      ptr_ = std::exchange(o.ptr_, nullptr);
      bytes_ = std::exchange(o.bytes_, 0);
    }
    return *this;
  }
  void Allocate(size_t bytes, const std::string& what) {
    Reset();
    if (bytes == 0) return;
    cudaError_t st = Memory::Allocate(&ptr_, bytes);
    if (st != cudaSuccess) {
      ptr_ = nullptr;
      cudaGetLastError();
      Memory::ThrowFailure(st, bytes, what);
    }
    bytes_ = bytes;
  }
  void Reset() noexcept {
    if (ptr_) Memory::Free(ptr_);
    ptr_ = nullptr;
    bytes_ = 0;
  }
  char* get() const { return static_cast<char*>(ptr_); }
  size_t bytes() const { return bytes_; }

 private:
  void* ptr_ = nullptr;
  size_t bytes_ = 0;
};

struct GpuMemory {
  static cudaError_t Allocate(void** ptr, size_t bytes) { return cudaMalloc(ptr, bytes); }
  static void Free(void* ptr) noexcept { cudaFree(ptr); }
  [[noreturn]] static void ThrowFailure(cudaError_t st, size_t bytes, const std::string& what) {
    size_t free_bytes = 0, total_bytes = 0;
    cudaMemGetInfo(&free_bytes, &total_bytes);
    throw Error(kCodeNative, cudaGetErrorName(st),
                Concat("cannot allocate ", bytes, " bytes of GPU memory for ", what, " (", cudaGetErrorString(st),
                       "; ", free_bytes, " of ", total_bytes,
                       " bytes free): use a smaller maxBatch, precision 'fp16', or free GPU memory"),
                "cudaMalloc");
  }
};

struct PinnedHostMemory {
  static cudaError_t Allocate(void** ptr, size_t bytes) { return cudaMallocHost(ptr, bytes); }
  static void Free(void* ptr) noexcept { cudaFreeHost(ptr); }
  [[noreturn]] static void ThrowFailure(cudaError_t st, size_t bytes, const std::string& what) {
    throw Error(kCodeNative, cudaGetErrorName(st),
                Concat("cannot allocate ", bytes, " bytes of pinned host memory for ", what, ": ",
                       cudaGetErrorString(st)),
                "cudaMallocHost");
  }
};

// cudaMalloc'ed bytes.
using DeviceBuffer = CudaBytes<GpuMemory>;
// Page-locked host memory for staging uploads/downloads.
using PinnedBuffer = CudaBytes<PinnedHostMemory>;

class Stream {
 public:
  Stream() { CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking)); }
  ~Stream() {
    if (stream_) cudaStreamDestroy(stream_);
  }
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;
  cudaStream_t get() const { return stream_; }

 private:
  cudaStream_t stream_ = nullptr;
};

// A CUDA event: cudaEventDisableTiming for stream ordering (record/wait, also inside a graph
// capture, where the pair becomes a graph edge), or timing-enabled for the per-step profile.
class Event {
 public:
  explicit Event(bool timing = false) {
    CUDA_CHECK(cudaEventCreateWithFlags(&event_, timing ? cudaEventDefault : cudaEventDisableTiming));
  }
  ~Event() {
    if (event_) cudaEventDestroy(event_);
  }
  Event(const Event&) = delete;
  Event& operator=(const Event&) = delete;
  cudaEvent_t get() const { return event_; }

 private:
  cudaEvent_t event_ = nullptr;
};

class CudnnHandle {
 public:
  explicit CudnnHandle(cudaStream_t stream) : api_(RequireCudnn()) {
    CUDNN_CHECK(api_.Create(&handle_));
    cudnn::Status st = api_.SetStream(handle_, stream);
    if (st != cudnn::Status::kSuccess) {
      api_.Destroy(handle_);
      handle_ = nullptr;
      CUDNN_CHECK(st);
    }
  }
  ~CudnnHandle() {
    if (handle_) api_.Destroy(handle_);
  }
  CudnnHandle(const CudnnHandle&) = delete;
  CudnnHandle& operator=(const CudnnHandle&) = delete;
  cudnn::Handle get() const { return handle_; }

 private:
  const cudnn::Api& api_;
  cudnn::Handle handle_ = nullptr;
};

// One owner template for every legacy descriptor type (create/destroy members of cudnn::Api).
template <typename T, cudnn::Status (*cudnn::Api::*Create)(T*), cudnn::Status (*cudnn::Api::*Destroy)(T)>
class Descriptor {
 public:
  Descriptor() : api_(&RequireCudnn()) { CUDNN_CHECK((api_->*Create)(&desc_)); }
  ~Descriptor() {
    if (desc_) (api_->*Destroy)(desc_);
  }
  Descriptor(const Descriptor&) = delete;
  Descriptor& operator=(const Descriptor&) = delete;
  Descriptor(Descriptor&& o) noexcept : api_(o.api_), desc_(std::exchange(o.desc_, nullptr)) {}
  Descriptor& operator=(Descriptor&& o) noexcept {
    if (this != &o) {
      if (desc_) (api_->*Destroy)(desc_);
      api_ = o.api_;
      desc_ = std::exchange(o.desc_, nullptr);
    }
    return *this;
  }
  T get() const { return desc_; }

 private:
  const cudnn::Api* api_;
  T desc_ = nullptr;
};

using TensorDesc = Descriptor<cudnn::TensorDescriptor, &cudnn::Api::CreateTensorDescriptor,
                              &cudnn::Api::DestroyTensorDescriptor>;
using FilterDesc = Descriptor<cudnn::FilterDescriptor, &cudnn::Api::CreateFilterDescriptor,
                              &cudnn::Api::DestroyFilterDescriptor>;
using ConvDesc = Descriptor<cudnn::ConvolutionDescriptor, &cudnn::Api::CreateConvolutionDescriptor,
                            &cudnn::Api::DestroyConvolutionDescriptor>;
using ActivationDesc = Descriptor<cudnn::ActivationDescriptor, &cudnn::Api::CreateActivationDescriptor,
                                  &cudnn::Api::DestroyActivationDescriptor>;
using PoolingDesc = Descriptor<cudnn::PoolingDescriptor, &cudnn::Api::CreatePoolingDescriptor,
                               &cudnn::Api::DestroyPoolingDescriptor>;

}  // namespace inception::cuda
