// A conv step through cuDNN's backend (graph) API: one operation graph
//   conv fprop (x, w) -> + bias -> (+ z) -> (ReLU) -> y
// with fp32 compute (CUDNN_DATA_FLOAT) for fp16 NHWC and fp32 NCHW data, where z is the output
// view itself (an in-place residual: y = act(conv(x, w) + bias + y), the same formula as the
// legacy fused call with alpha2 = 1, conv_step.h). x, y and z are described with their real
// strides, so a channel slice of a concat buffer is written directly (or the engines refuse it at
// finalize, and the candidate is dropped).
//
// On unless INCEPTION_CUDA_GRAPH_API=0 (conv_step.h): conv_step's timed setup adds each finalized
// plan as one more candidate. Engines come from the heuristics (mode A, then FALLBACK), one
// config per engine, filtered by their numerical notes (graph_conv_layout.h EngineRejection: fp32
// never runs TF32), and kept when they finalize within the workspace limit.
// Validated on an H100 (cuDNN 9.19) on 2026-11-27: bench/results/gpu-check-2026-11-27-h100-graph-*.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "cuda/cudnn_api.h"
#include "cuda/kernels.h"
#include "cuda/layout.h"

namespace inception::cuda {

// Owner of one backend descriptor: created in the constructor (or throws), destroyed exactly once
// by the destructor, so no descriptor leaks when a later call throws. Move-only.
class BackendDesc {
 public:
  BackendDesc() = default;
  // Throws inception::Error naming the descriptor type and `what` when creation fails.
  BackendDesc(const cudnn::Api& api, cudnn::BackendDescriptorType type, const std::string& what);
  ~BackendDesc();
  BackendDesc(const BackendDesc&) = delete;
  BackendDesc& operator=(const BackendDesc&) = delete;
  BackendDesc(BackendDesc&& o) noexcept;
  BackendDesc& operator=(BackendDesc&& o) noexcept;
  cudnn::BackendDescriptor get() const { return desc_; }

 private:
  void Reset() noexcept;
  const cudnn::Api* api_ = nullptr;
  cudnn::BackendDescriptor desc_ = nullptr;
};

// What one conv step at one batch size looks like to the graph.
struct GraphConvSpec {
  Precision precision = Precision::kFp32;
  TensorView x, y;  // y: the output view (also z when residual); data: where setup runs write
  // Where production runs write y, when not y.data (a setup stand-in): y and z declare the
  // alignment both pointers have.
  const void* y_run = nullptr;
  const void* w = nullptr;
  const void* bias = nullptr;  // half for fp16, float otherwise (the step's bias)
  int in_channels = 0;         // the filter's c (= x.c)
  int kernel[2] = {1, 1}, stride[2] = {1, 1}, pad[2] = {0, 0};
  bool relu = false;
  bool residual = false;

  // "x [n,c,h,w] strides [...] w [k,c,r,s] pad p,q stride u,v y [...] relu residual fp16".
  std::string Shapes() const;
};

// The finalized tensor, operation and operation-graph descriptors of one spec (graph_conv.cc).
struct GraphConvGraph;
// One heuristic engine config of a graph (graph_conv.cc).
struct GraphEngineConfig;

// One finalized execution plan: a timed candidate of its step.
class GraphConvPlan {
 public:
  GraphConvPlan(std::shared_ptr<const GraphConvGraph> graph, std::shared_ptr<const GraphEngineConfig> config,
                BackendDesc plan, size_t workspace_bytes);
  ~GraphConvPlan();
  GraphConvPlan(const GraphConvPlan&) = delete;
  GraphConvPlan& operator=(const GraphConvPlan&) = delete;

  int64_t engine_id() const;
  // Its index in the graph's engine list (heuristics mode A, then FALLBACK, one per engine).
  int config_index() const;
  size_t workspace_bytes() const { return workspace_bytes_; }
  // "graph engine 12 (config 3)", plus ", runtime-compiled" for an nvrtc engine.
  std::string Label() const;

  // Enqueues y = act(conv(x, w) + bias (+ y)) on the handle's stream (cudnnBackendExecute; meant
  // to be stream-capturable, unverified). The variant pack is built on the first call and reused
  // while the pointers stay the same. Every pointer must be at least as aligned as declared at
  // setup, and workspace_bytes >= workspace_bytes(); throws inception::Error otherwise or when
  // cuDNN returns an error.
  void Execute(const cudnn::Api& api, cudnn::Handle handle, const void* x, const void* w, const void* bias, void* y,
               void* workspace, size_t workspace_bytes) const;

 private:
  std::shared_ptr<const GraphConvGraph> graph_;
  std::shared_ptr<const GraphEngineConfig> config_;
  BackendDesc plan_;
  size_t workspace_bytes_ = 0;
  // The variant pack of the last Execute and the pointers it holds (x, w, bias, y, workspace).
  mutable std::mutex pack_mutex_;
  mutable BackendDesc pack_;
  mutable const void* pack_pointers_[5] = {nullptr, nullptr, nullptr, nullptr, nullptr};
};

// The operation graph of one spec and its engine configs. Building it runs the heuristics (no GPU
// work); finalizing plans may JIT-compile (runtime-compiled engines need libnvrtc).
class GraphConv {
 public:
  // Throws inception::Error naming the call, the attribute and the spec's shapes when any
  // descriptor cannot be built (the graph pattern itself is refused).
  GraphConv(const cudnn::Api& api, cudnn::Handle handle, const GraphConvSpec& spec);
  ~GraphConv();

  // Up to max_plans plans, in the heuristics' order, whose engine the precision allows (numerical
  // notes), whose plan finalizes, and whose workspace fits workspace_limit; at most
  // max_attempts finalize attempts. Each config passed over is noted ("; graph engine 7: ...").
  std::vector<std::shared_ptr<const GraphConvPlan>> Plans(size_t workspace_limit, int max_plans, int max_attempts,
                                                          std::string& notes) const;
  // The plan of the config at `config_index` when it is still engine `engine_id` (a cached
  // decision), else nullptr with the reason in notes.
  std::shared_ptr<const GraphConvPlan> PlanAt(int config_index, int64_t engine_id, size_t workspace_limit,
                                              std::string& notes) const;
  // How many engine configs the heuristics gave (after removing repeated engines).
  size_t config_count() const;

 private:
  std::shared_ptr<const GraphConvPlan> FinalizePlan(size_t index, size_t workspace_limit, std::string& notes) const;
  // Runs the heuristics in one mode and appends their configs (engines not seen before).
  void AddHeuristicConfigs(cudnn::HeurMode mode, const char* mode_name, const std::string& of,
                           std::set<int64_t>& engines_seen);

  const cudnn::Api* api_;
  cudnn::Handle handle_;
  std::string precision_;
  std::shared_ptr<const GraphConvGraph> graph_;
  std::vector<std::shared_ptr<const GraphEngineConfig>> configs_;
  std::string heuristic_notes_;  // why a heuristics mode or result was passed over
};

}  // namespace inception::cuda
