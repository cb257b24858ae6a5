// Finds libcudnn.so.9 and opens it (with its sub-libraries and cuBLASLt/nvrtc preloaded by absolute
// path first, so a missing piece is our clear error instead of the shim aborting the process).
//
// Search order: INCEPTION_CUDNN_PATH (a file or a folder; when set, nothing else is tried), the
// dynamic loader's path (libcudnn.so.9), then the nvidia/cudnn/lib folder of an installed
// nvidia-cudnn-cu13 / -cu12 Python wheel under: INCEPTION_CUDNN_SEARCH (':'-separated folders),
// $VIRTUAL_ENV, /opt/*/.venv, /opt/*, /usr/local/lib/python3*/{dist,site}-packages,
// /usr/lib/python3*/dist-packages, ~/.local/lib/python3*/site-packages.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "cuda/cudnn_api.h"

namespace inception::cuda {

struct CudnnLoadInfo {
  bool loaded = false;
  std::string path;     // the libcudnn.so.9 that was opened
  std::string source;   // "INCEPTION_CUDNN_PATH", "loader path", "python wheel"
  size_t version = 0;   // cudnnGetVersion(): 10000*major + 100*minor + patch
  size_t cudart_version = 0;
  std::string error;    // why it is not loaded, with the fix
  std::vector<std::string> searched;   // folders/files looked at, in order
  std::vector<std::string> libraries;  // every library preloaded, by absolute path
};

// Loads once per process; after a failure, each call searches again (the environment may change).
CudnnLoadInfo LoadCudnn();
// The resolved entry points, or nullptr while cuDNN is not loaded.
const cudnn::Api* LoadedCudnnApi();
// The resolved entry points; throws inception::Error(E_BACKEND_UNAVAILABLE) saying why not.
const cudnn::Api& RequireCudnn();
// 90300 -> "9.3.0".
std::string CudnnVersionString(size_t version);

}  // namespace inception::cuda
