#include "cuda/device_info.h"

#include <cuda_runtime_api.h>

#include "cuda/cuda_error.h"

namespace inception::cuda {

std::string CudaVersionString(int v) { return std::to_string(v / 1000) + "." + std::to_string(v % 1000 / 10); }

DeviceReport ProbeDevices() {
  DeviceReport r;
  cudaRuntimeGetVersion(&r.runtime_version);
  cudaError_t st = cudaDriverGetVersion(&r.driver_version);
  if (st != cudaSuccess || r.driver_version == 0) {
    r.driver_error = st != cudaSuccess ? std::string(cudaGetErrorName(st)) + ": " + cudaGetErrorString(st)
                                       : "no NVIDIA driver is installed (libcuda.so.1 not found)";
    cudaGetLastError();
  } else if (r.driver_version < r.runtime_version) {
    r.driver_error = "the NVIDIA driver supports CUDA " + CudaVersionString(r.driver_version) +
                     " but this module was built with CUDA " + CudaVersionString(r.runtime_version) +
                     "; update the driver";
  }
  st = cudaGetDeviceCount(&r.device_count);
  if (st != cudaSuccess) {
    r.device_count = 0;
    r.device_error = std::string(cudaGetErrorName(st)) + ": " + cudaGetErrorString(st);
    cudaGetLastError();
    if (r.driver_error.empty() && st == cudaErrorInsufficientDriver) r.driver_error = r.device_error;
  }
  for (int i = 0; i < r.device_count; ++i) {
    cudaDeviceProp prop{};
    if (cudaGetDeviceProperties(&prop, i) != cudaSuccess) {
      cudaGetLastError();
      continue;
    }
    DeviceReport::Device d;
    d.index = i;
    d.name = prop.name;
    d.memory_bytes = prop.totalGlobalMem;
    d.major = prop.major;
    d.minor = prop.minor;
    r.devices.push_back(d);
  }
  r.cudnn = LoadCudnn();
  return r;
}

DeviceMemory QueryDeviceMemory(int device) {
  int count = 0;
  cudaError_t st = cudaGetDeviceCount(&count);
  if (st != cudaSuccess) {
    cudaGetLastError();
    throw Error(kCodeBackendUnavailable, cudaGetErrorName(st),
                std::string("no usable CUDA device: ") + cudaGetErrorString(st), "cudaGetDeviceCount");
  }
  if (device < 0 || device >= count) {
    throw Error("E_DEVICE", "", Concat("device cuda:", device, " does not exist; this machine has ", count,
                                       " CUDA device(s): use cuda:0..cuda:", count - 1));
  }
  int previous = 0;
  CUDA_CHECK(cudaGetDevice(&previous));
  CUDA_CHECK(cudaSetDevice(device));
  DeviceMemory m;
  st = cudaMemGetInfo(&m.free_bytes, &m.total_bytes);
  cudaSetDevice(previous);
  CUDA_CHECK(st);
  return m;
}

}  // namespace inception::cuda
