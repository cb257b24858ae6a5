// A CUDA graph captured from one stream's work (stream capture) and its executable instance, for
// replaying a whole batch-n run with one cudaGraphLaunch instead of ~200 kernel/cuDNN launches.
// Capture never throws for a capture problem: it returns nullptr and says why, so the caller can
// keep running eagerly. Launch throws inception::Error like every other checked CUDA call.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <string>

#include <cuda_runtime_api.h>

namespace inception::cuda {

class CapturedGraph {
 public:
  // Records everything `enqueue` puts on `stream` (cudaStreamCaptureModeThreadLocal: only this
  // thread's unsafe calls, e.g. cudaMalloc or a sync, invalidate the capture) and instantiates it.
  // Nothing runs on the device. On any failure (a capture call failed, `enqueue` threw, the
  // capture was invalidated, instantiation failed) the stream is out of capture mode, no graph is
  // kept, the CUDA error state is cleared, and *why names the failing call and status.
  static std::unique_ptr<CapturedGraph> Capture(cudaStream_t stream, const std::function<void()>& enqueue,
                                                std::string* why);
  ~CapturedGraph();
  CapturedGraph(const CapturedGraph&) = delete;
  CapturedGraph& operator=(const CapturedGraph&) = delete;

  // Enqueues one replay on `stream`; returns the cudaGraphLaunch status (the caller decides).
  cudaError_t Launch(cudaStream_t stream) const { return cudaGraphLaunch(exec_, stream); }
  // Nodes in the captured graph (kernels, memcpys, cuDNN's own nodes).
  size_t nodes() const { return nodes_; }

 private:
  CapturedGraph(cudaGraph_t graph, cudaGraphExec_t exec, size_t nodes) : graph_(graph), exec_(exec), nodes_(nodes) {}
  cudaGraph_t graph_ = nullptr;
  cudaGraphExec_t exec_ = nullptr;
  size_t nodes_ = 0;
};

}  // namespace inception::cuda
