// One conv2d step for one batch size: descriptors, the chosen algorithm and execution path.
//
// Fused path (default): one cudnnConvolutionBiasActivationForward,
//   y = act(1 * conv(x, w) + alpha2 * z + bias) with z = y (alpha2 = 1 for an in-place residual, else 0),
//   RELU when the step has relu, else IDENTITY with IMPLICIT_PRECOMP_GEMM forced (cuDNN's rule).
// Split path (fallback when the fused call rejects every candidate, or forced for tests):
//   cudnnConvolutionForward (beta = 1 for a residual) then a bias(+ReLU) kernel.
// Scratch output (fallback when y is a channel slice the algorithms reject): write a packed
//   scratch and copy it into the slice (for a residual, copy the slice into the scratch first).
//
// Choice at setup (benchmark: true): candidates from every allowed path (direct output view and,
// when y is a strided slice, the packed scratch; fused and split), each path's algorithms from
// cuDNN's Find ranking for its output view (at most kMaxTimedPerPath timed per path). Every
// candidate whose trial run succeeds is timed running exactly what RunConv runs (1 warm-up + 3
// timed, median, cudaEvents) and the fastest is kept; the decision is cached (algo_cache.h,
// mode "timed") and a cached decision is trialed and kept when it still runs.
// benchmark: false: the heuristic ranking, the first candidate whose trial succeeds.
// Setup runs write the step's real output view in the arena (nothing there is live while a batch
// size is set up; the program zeroes the arena afterwards), or the trial buffer when y overlaps x.
//
// Graph API (ON by default since it was validated on an H100 on 2026-11-27: every op and network
// within its bounds, 2.3-3.2x the images/s of the legacy calls alone at batch 1 and 8 in fp16;
// INCEPTION_CUDA_GRAPH_API=0 turns it off, read once per process into ConvSetupContext::graph_api;
// benchmark: true only, and not under the force_split/force_scratch
// test switches): the timed candidates also include up to kMaxGraphPlans cuDNN backend-API plans
// of conv -> +bias -> (+z) -> (relu) writing the real output view (graph_conv.h), with the same
// trial + MedianRunMs protocol; a plan that fails to finalize or run is dropped with its reason.
// Its decisions are cached under the key plus "|graph-api" (algo_cache.h: five values for a
// graph engine), so decisions made with it off are never taken as the answer with it on.
// With it off, the candidates, cache keys and execution are exactly those described above (the
// legacy path alone, as before 2026-11-27).
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "core/plan.h"
#include "cuda/device_memory.h"
#include "cuda/graph_conv.h"
#include "cuda/kernels.h"
#include "cuda/layout.h"

namespace inception::cuda {

// Unless INCEPTION_CUDA_GRAPH_API=0 (read once per process): add the cuDNN graph-API candidates.
bool GraphApiRequested();

// What the program provides while setting up a conv for one batch size.
struct ConvSetupContext {
  const cudnn::Api* api = nullptr;
  cudnn::Handle handle = nullptr;
  cudaStream_t stream = nullptr;
  Precision precision = Precision::kFp32;
  bool benchmark = true;
  bool force_split = false;
  bool force_scratch = false;
  // Time the cuDNN graph-API plans too (benchmark: true only). Default on; INCEPTION_CUDA_GRAPH_API=0 turns it off.
  bool graph_api = GraphApiRequested();
  std::string gpu_name;
  size_t cudnn_version = 0;
  // Scratch for setup runs (ConvTrialBytes(step) fits): the packed scratch output, and after it
  // a stand-in for y when y overlaps x (at y_offset_in_buffer, so y's alignment is kept).
  char* trial = nullptr;
  size_t trial_bytes = 0;
  char* search_workspace = nullptr;  // workspace for Find and trial runs
  size_t search_workspace_bytes = 0;
};

struct ConvStep {
  std::string name;
  bool relu = false;
  bool residual = false;
  int in_channels = 0;  // as described to cuDNN (fp16 graph input: padded to 8)
  TensorView x, y;       // y: the real output view
  int64_t y_offset_in_buffer = 0;  // bytes from the start of y's buffer to y.data
  const void* w = nullptr;
  const void* bias = nullptr;      // fp32 (fp32/tf32) or half (fp16)
  const float* bias_f32 = nullptr;  // for the split path's kernel
  int kernel[2] = {1, 1}, stride[2] = {1, 1}, pad[2] = {0, 0};

  // Chosen at setup.
  TensorDesc x_desc, y_desc, packed_desc, bias_desc;  // y_desc: the real y view; packed_desc: the scratch
  FilterDesc w_desc;
  ConvDesc conv_desc;
  ActivationDesc act_desc;
  cudnn::ConvFwdAlgo algo = cudnn::ConvFwdAlgo::kImplicitPrecompGemm;
  cudnn::MathType math_type = cudnn::MathType::kDefault;
  size_t workspace_bytes = 0;
  bool split = false;
  bool via_scratch = false;
  // Set: a cuDNN graph-API plan runs this step (then algo = -1; math_type, split, via_scratch unused).
  std::shared_ptr<const GraphConvPlan> graph;
  bool from_cache = false;
  TensorView packed;  // the scratch layout (data set at run time) when via_scratch
  size_t packed_bytes = 0;
  // benchmark: true: the chosen candidate's median time at setup and how many candidates were timed.
  double setup_ms = 0;
  int timed_candidates = 0;

  // The decision only (stable across compiles: compared by the graphs/streams stages).
  std::string DescribeDecision() const;
  // DescribeDecision() plus, when timed, the setup time and the number of timed candidates.
  std::string Describe() const;
  // The profile's path: "graph", or "fused"/"split" with "+scratch-copy" when via_scratch.
  std::string PathName() const;
};

// Timed candidates per path (output view x fused/split), in Find's order: bounds setup time.
inline constexpr int kMaxTimedPerPath = 4;
// Graph-API plans timed per step (graph_api on), and the plan finalizations tried to find them
// (a finalization may JIT-compile a kernel: bounds setup time).
inline constexpr int kMaxGraphPlans = 4;
inline constexpr int kMaxGraphFinalizeAttempts = 8;

// Whether the byte ranges a and b span intersect (conservative for interleaved slices).
bool ViewsOverlap(const TensorView& a, const TensorView& b);
// Bytes from a view's first to one past its last element.
size_t ViewSpanBytes(const TensorView& v);
// Trial bytes SetupConv needs for this step (x, y, y_offset_in_buffer set): the packed scratch
// when y is not packed, then (only when y overlaps x) a stand-in for y at its buffer offset.
size_t ConvTrialBytes(const ConvStep& step);

// Median milliseconds of `timed` runs of `enqueue` on `stream` after one untimed warm-up run,
// measured with cudaEvents around each run.
double MedianRunMs(cudaStream_t stream, const std::function<void()>& enqueue, int timed = 3);

// Chooses descriptors, algorithm and path. Throws inception::Error naming the step and shapes.
void SetupConv(ConvStep& step, const ConvSetupContext& ctx);
// Runs it on the handle's stream. `scratch` must hold step.packed_bytes when via_scratch.
void RunConv(const ConvStep& step, const cudnn::Api& api, cudnn::Handle handle, cudaStream_t stream, void* workspace,
             size_t workspace_bytes, void* scratch);

}  // namespace inception::cuda
