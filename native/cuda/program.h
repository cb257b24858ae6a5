// A compiled plan on one GPU: prepared weights (one allocation), one activation arena, one
// workspace, pinned staging, a non-blocking stream and a cuDNN handle. Per batch size n
// (1..plan.batch) the step descriptors and algorithms are set up lazily on first use and kept.
// Run() is serialised by a mutex (one run at a time per program).
//
// CUDA graphs (options.graphs): the first kEagerRunsBeforeCapture runs of each n execute eagerly
// (algorithm choice and each exact cuDNN call's lazy initialisation happen there, on the program's
// stream); the next run captures the whole stream work of a run (input copy from the pinned
// staging buffer .. output copy into pinned staging) as one CUDA graph, and later runs of that n
// replay it. A failed capture/instantiate/launch leaves that n eager for good, with the reason in
// Graphs(). Graphs are dropped (and captured again) when the workspace or scratch is reallocated.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "core/plan.h"
#include "cuda/conv_step.h"
#include "cuda/cuda_graph.h"
#include "cuda/device_memory.h"
#include "cuda/layout.h"

namespace inception::cuda {

struct ProgramOptions {
  Precision precision = Precision::kFp32;
  int device = 0;
  bool benchmark = true;
  // Capture each batch size's run as a CUDA graph after warm-up and replay it.
  bool graphs = true;
  // Test switches (INCEPTION_CUDA_FORCE=split-conv,scratch-views,pool-kernel): exercise the fallbacks.
  bool force_split = false;
  bool force_scratch = false;
  bool force_pool_kernel = false;
};

// What was chosen for one conv step at one batch size (for diagnostics and tests).
struct ConvChoice {
  std::string step;
  int n = 0;
  std::string description;
  bool split = false;
  bool via_scratch = false;
  size_t workspace_bytes = 0;
  // The algorithm came from the on-disk/in-process algo cache (no cuDNN search for this conv).
  bool from_cache = false;
};

// The CUDA-graph state of one batch size (for diagnostics and tests).
struct GraphInfo {
  int n = 0;
  bool captured = false;
  std::string reason;  // why not captured ("" when captured)
  size_t nodes = 0;    // nodes in the captured graph
};

class Program {
 public:
  // Compiles on the calling thread (uploads weights, allocates, sets up batch plan.batch).
  Program(const Plan& plan, const ProgramOptions& options);
  ~Program();
  Program(const Program&) = delete;
  Program& operator=(const Program&) = delete;

  // input: plain NCHW fp32 [n,C,H,W]; output: plain fp32 [n, K*h*w] in NCHW order ([n,K] for a
  // network). Blocks until done.
  void Run(const float* input, int n, std::vector<float>* output);

  int batch() const { return plan_.batch; }
  // Floats of a plain NCHW input of n images (what Run reads from `input`).
  int64_t InputElements(int n) const { return int64_t{n} * input_channels_ * input_h_ * input_w_; }

  size_t workspace_bytes() const;
  size_t weight_bytes() const { return weights_.bytes(); }
  size_t arena_bytes() const { return arena_.bytes(); }
  int output_features() const { return output_features_; }
  std::vector<ConvChoice> Choices() const;
  // One entry per batch size set up so far, ascending n.
  std::vector<GraphInfo> Graphs() const;

  // Eager runs of a batch size before its run is captured as a graph.
  static constexpr int kEagerRunsBeforeCapture = 2;

 private:
  struct PoolStep {
    TensorView x, y;
    PoolingDesc desc;
    TensorDesc x_desc, y_desc;
    bool use_kernel = false;
  };
  struct Batch {
    std::vector<ConvStep> convs;  // by conv index (conv_of_step_)
    std::vector<PoolStep> pools;  // by pool index
  };

  void PrepareWeights(const Plan& plan);
  void ValidateLayout(const Plan& plan) const;
  Batch& SetupBatch(int n);
  void SetupConvStep(const PlanStep& step, int n, const ConvSetupContext& ctx, ConvStep* out);
  void SetupPoolStep(const PlanStep& step, int n, char* trial, PoolStep* out);
  void RunStep(size_t index, const PlanStep& step, int n, Batch& batch);
  // Puts one whole batch-n run on the stream: host_in_ -> device .. device -> host_out_ (no sync).
  void EnqueueRun(int n, Batch& batch);
  // Replays (capturing first when due) the graph of batch n; false when n runs eagerly.
  bool RunGraph(int n, Batch& batch);
  void DropGraphs(const char* why);
  TensorView View(int tensor, int n) const;

  ProgramOptions options_;
  Plan plan_;  // steps/buffers/tensors only (weights pointer cleared after upload)
  std::string gpu_name_;
  size_t cudnn_version_ = 0;
  const cudnn::Api* api_ = nullptr;
  std::unique_ptr<Stream> stream_;
  std::unique_ptr<CudnnHandle> handle_;
  DeviceBuffer weights_, arena_, workspace_, io_in_, io_out_, view_scratch_;
  PinnedBuffer host_in_, host_out_;
  // Per step: device pointers into weights_ (conv: w, bias, bias_f32; linear: w, b; affine: scale, shift).
  struct StepWeights {
    const void* w = nullptr;
    const void* bias = nullptr;
    const float* w_f32 = nullptr;
    const float* bias_f32 = nullptr;
    int in_channels = 0;
  };
  std::vector<StepWeights> step_weights_;
  std::vector<int> conv_of_step_, pool_of_step_;
  std::map<int, std::unique_ptr<Batch>> batches_;
  struct GraphState {
    int eager_runs = 0;
    std::unique_ptr<CapturedGraph> graph;
    bool failed = false;  // eager for good
    std::string reason;
  };
  std::map<int, GraphState> graphs_;
  int input_channels_ = 0, input_h_ = 0, input_w_ = 0, output_features_ = 0;
  mutable std::mutex mutex_;
};

Precision ParsePrecision(const std::string& name);

}  // namespace inception::cuda
