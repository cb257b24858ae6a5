#include "cuda/cuda_graph.h"

#include <exception>

#include "core/error.h"

namespace inception::cuda {
namespace {

std::string StatusText(const char* call, cudaError_t st) {
  return Concat(call, " failed: ", cudaGetErrorName(st), " (", cudaGetErrorString(st), ")");
}

}  // namespace

std::unique_ptr<CapturedGraph> CapturedGraph::Capture(cudaStream_t stream, const std::function<void()>& enqueue,
                                                      std::string* why) {
  cudaError_t st = cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal);
  if (st != cudaSuccess) {
    cudaGetLastError();
    *why = StatusText("cudaStreamBeginCapture", st);
    return nullptr;
  }
  std::string enqueue_error;
  try {
    enqueue();
  } catch (const std::exception& e) {
    enqueue_error = e.what();
  } catch (...) {
    enqueue_error = "unknown exception";
  }
  // Always end the capture, even after an error, so the stream is usable again.
  cudaGraph_t graph = nullptr;
  const cudaError_t end = cudaStreamEndCapture(stream, &graph);
  cudaGetLastError();
  if (!enqueue_error.empty() || end != cudaSuccess || graph == nullptr) {
    if (graph) cudaGraphDestroy(graph);
    *why = !enqueue_error.empty() ? "a call failed while capturing: " + enqueue_error
           : end != cudaSuccess    ? StatusText("cudaStreamEndCapture", end)
                                   : std::string("cudaStreamEndCapture returned no graph");
    return nullptr;
  }
  size_t nodes = 0;
  st = cudaGraphGetNodes(graph, nullptr, &nodes);
  if (st != cudaSuccess) {
    cudaGetLastError();
    cudaGraphDestroy(graph);
    *why = StatusText("cudaGraphGetNodes", st);
    return nullptr;
  }
  cudaGraphExec_t exec = nullptr;
  st = cudaGraphInstantiate(&exec, graph, 0);
  if (st != cudaSuccess) {
    cudaGetLastError();
    if (exec) cudaGraphExecDestroy(exec);
    cudaGraphDestroy(graph);
    *why = StatusText("cudaGraphInstantiate", st);
    return nullptr;
  }
  return std::unique_ptr<CapturedGraph>(new CapturedGraph(graph, exec, nodes));
}

CapturedGraph::~CapturedGraph() {
  if (exec_) cudaGraphExecDestroy(exec_);
  if (graph_) cudaGraphDestroy(graph_);
}

}  // namespace inception::cuda
