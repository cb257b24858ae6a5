// What this machine offers the CUDA backend: driver, devices, cuDNN. Never throws.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "cuda/cudnn_loader.h"

namespace inception::cuda {

struct DeviceReport {
  int runtime_version = 0;  // the CUDA runtime linked into this module (1000*major + 10*minor)
  int driver_version = 0;   // 0 when no NVIDIA driver is installed
  std::string driver_error;  // "" when the driver is usable
  int device_count = 0;
  std::string device_error;  // e.g. "cudaErrorNoDevice: no CUDA-capable device is detected"
  struct Device {
    int index = 0;
    std::string name;
    size_t memory_bytes = 0;
    int major = 0, minor = 0;
  };
  std::vector<Device> devices;
  CudnnLoadInfo cudnn;
};

DeviceReport ProbeDevices();

struct DeviceMemory {
  size_t free_bytes = 0;
  size_t total_bytes = 0;
};
// cudaMemGetInfo on `device` (creates its primary context on first use). Throws inception::Error:
// E_DEVICE for an index that does not exist, E_BACKEND_UNAVAILABLE when CUDA has no usable device.
DeviceMemory QueryDeviceMemory(int device);
// 13000 -> "13.0".
std::string CudaVersionString(int version);

}  // namespace inception::cuda
