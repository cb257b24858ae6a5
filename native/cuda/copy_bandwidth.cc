#include "cuda/copy_bandwidth.h"

#include <algorithm>
#include <limits>

#include "cuda/device_memory.h"

namespace inception::cuda {

void CheckCopyBandwidthArgs(size_t bytes, int repeats, int trials) {
  INCEPTION_CHECK(bytes >= (size_t{1} << 20) && bytes <= (size_t{16} << 30), kCodeInvalidArgument,
                  "copyBandwidth: bytes must be between 1 MiB and 16 GiB, got ", bytes);
  INCEPTION_CHECK(repeats >= 1 && repeats <= 1000 && trials >= 1 && trials <= 100, kCodeInvalidArgument,
                  "copyBandwidth: repeats must be 1..1000 and trials 1..100, got ", repeats, " and ", trials);
}

CopyBandwidth MeasureCopyBandwidth(int device, size_t bytes, int repeats, int trials) {
  CheckCopyBandwidthArgs(bytes, repeats, trials);
  CUDA_CHECK(cudaSetDevice(device));
  DeviceBuffer src(bytes, "the copy-bandwidth source");
  DeviceBuffer dst(bytes, "the copy-bandwidth destination");
  CUDA_CHECK(cudaMemset(src.get(), 0x5a, bytes));
  Stream stream;
  Event start(/*timing=*/true), stop(/*timing=*/true);
  for (int i = 0; i < 2; ++i) {
    CUDA_CHECK(cudaMemcpyAsync(dst.get(), src.get(), bytes, cudaMemcpyDeviceToDevice, stream.get()));
  }
  CUDA_CHECK(cudaStreamSynchronize(stream.get()));
  float best = std::numeric_limits<float>::infinity();
  for (int t = 0; t < trials; ++t) {
    CUDA_CHECK(cudaEventRecord(start.get(), stream.get()));
    for (int i = 0; i < repeats; ++i) {
      CUDA_CHECK(cudaMemcpyAsync(dst.get(), src.get(), bytes, cudaMemcpyDeviceToDevice, stream.get()));
    }
    CUDA_CHECK(cudaEventRecord(stop.get(), stream.get()));
    CUDA_CHECK(cudaEventSynchronize(stop.get()));
    float ms = 0;
    CUDA_CHECK(cudaEventElapsedTime(&ms, start.get(), stop.get()));
    best = std::min(best, ms);
  }
  CopyBandwidth result;
  result.bytes_per_copy = 2 * bytes;
  result.best_ms = static_cast<double>(best) / repeats;
  result.repeats = repeats;
  result.trials = trials;
  return result;
}

}  // namespace inception::cuda
