// A compiled Plan on oneDNN: one activation arena, weights reordered once, primitives per batch
// size created lazily and cached, one shared user scratchpad. Plain C++ (no Napi): the JS wrapper
// lives in program_wrap.*. Not thread-safe by design except that Run/Release serialise on a mutex.
#pragma once

#include <dnnl.hpp>

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "core/plan.h"
#include "cpu/alignment.h"
#include "cpu/layout.h"
#include "cpu/small_map_conv.h"
#include "cpu/winograd_1d.h"

namespace inception::cpu {

struct StepImplementation {
  std::string step;
  std::string impl;  // oneDNN impl_info_str(), or "loop" for the plain loops
  int32_t batch = 0;
};

// How 3x3 stride-1 convolutions are computed. kAuto: Winograd (oneDNN's F(4x4,3x3) or F(2x2,3x3)
// kernels, about 2x fewer multiplications) wherever oneDNN implements it for the shape and the
// post-ops, direct elsewhere. kDirect: direct convolution everywhere (no transform rounding).
enum class ConvAlgorithm { kAuto, kDirect };

// The arithmetic of the program. kBf16 (CPUs with native bf16 only: CpuIsa::bf16_native): convs
// and pools read and write bf16 activations with bf16 weights and fp32 accumulation (oneDNN's
// bf16 kernels); the steps Bf16Fp32Steps keeps in fp32 (by default the first convolution, and the
// global pool, classifier and L2 norm at the end) compute in fp32, converting at their edges.
enum class Precision { kFp32, kBf16 };

// Which steps stay fp32 under kBf16 (INCEPTION_CPU_BF16_FP32 = a comma list of 'first' and
// 'classifier', or 'none'; default 'first,classifier'): a knob for measuring each choice.
struct Bf16Fp32Steps {
  bool first = true;       // the convolution(s) reading the network input
  bool classifier = true;  // the global average pool and the linear layer (its output is fp32 either way)
};
Bf16Fp32Steps Bf16Fp32StepsFromEnv();

class CpuProgram {
 public:
  // Reads plan.weights (must stay valid during the call), creates the batch-max primitives,
  // reorders the weights, allocates the arena. Throws inception::Error.
  // benchmark: under kAuto, time oneDNN's Winograd kernels for each 3x3 stride-1 conv that has
  // several (WinogradKernel in program.cc) instead of taking oneDNN's first one.
  // precision kBf16 throws E_DEVICE on a CPU without native bf16 (Bf16Refusal).
  CpuProgram(const Plan& plan, int32_t threads, ConvAlgorithm conv_algorithm, bool benchmark,
             Precision precision = Precision::kFp32);
  ~CpuProgram();
  CpuProgram(const CpuProgram&) = delete;
  CpuProgram& operator=(const CpuProgram&) = delete;

  // input: plain NCHW fp32 of the plan's input tensor ([n,3,H,W]); output: plain NCHW of its output
  // tensor ([n,K] for [n,K,1,1]). 1 <= n <= batch(). Throws inception::Error.
  void Run(const float* input, int32_t n, float* output);
  // Runs the program `repeats` times, waiting after every step, and returns each step's
  // milliseconds per repeat (steady clock): the median over the repeats. Entry 0 is the input
  // reorder, then one per plan step, then the output reorder (names: ProfileEntries()).
  // With hot_ms, every plan step also runs a second time right after its timed run, its weights
  // and inputs then in the caches, and hot_ms gets those medians, one per plan step (no reorders):
  // the difference is what reading from memory costs the step. (A residual step then adds its
  // conv twice: the values differ from a run's, the work does not.)
  std::vector<double> Profile(const float* input, int32_t n, int32_t repeats, float* output,
                              std::vector<double>* hot_ms = nullptr);
  // Names and implementations of Profile()'s entries for batch n (creating its primitives if needed).
  std::vector<StepImplementation> ProfileEntries(int32_t n);
  // Frees everything (idempotent); later Run calls throw E_DISPOSED. Waits for a Run in progress.
  void Release();
  // Programs constructed and neither released nor destroyed, in the whole process (every Node
  // environment): a worker that exits must bring this back down (its cleanup hook releases them).
  static int64_t LiveCount();

  int32_t batch() const { return plan_.batch; }
  int64_t InputElements(int32_t n) const;
  int64_t OutputElements(int32_t n) const;
  int32_t threads() const { return threads_; }
  ConvAlgorithm conv_algorithm() const { return conv_algorithm_; }
  Precision precision() const { return precision_; }
  // oneDNN's scratchpad plus our kernels' workspace (staging copies not counted).
  int64_t workspace_bytes() const { return scratch_bytes_ + kernel_workspace_bytes_; }
  int64_t weight_bytes() const { return weight_bytes_; }
  int64_t arena_bytes() const { return arena_bytes_; }
  std::vector<StepImplementation> Implementations();

 private:
  struct StepExec;
  struct BatchExec;

  BatchExec& ExecFor(int32_t n);
  // Run's body; with step_ms, waits after each step and appends its milliseconds; with hot_ms too,
  // runs each step again right after and appends that run's milliseconds there.
  void Execute(const float* input, int32_t n, float* output, std::vector<double>* step_ms,
               std::vector<double>* hot_ms = nullptr);
  void ExecuteStep(StepExec& step, int32_t n);
  std::unique_ptr<BatchExec> CreateExec(int32_t n);
  StepExec CreateConv(size_t index, const PlanStep& step, int32_t n);
  // The Winograd kernel a conv that MayUseWinograd runs (see program.cc): oneDNN's first, or with
  // benchmark the timed choice; empty when oneDNN has none for it (the conv runs direct).
  dnnl::convolution_forward::primitive_desc WinogradKernel(const dnnl::convolution_forward::desc& winograd,
                                                           const dnnl::primitive_attr& attr, const std::string& key);
  double TimeConv(const dnnl::convolution_forward::primitive_desc& pd);
  StepExec CreatePool(size_t index, const PlanStep& step, int32_t n);
  StepExec CreateLoop(size_t index, const PlanStep& step, int32_t n);
  // How a step that reads or writes a channel view runs at batch n (see ModeFor in program.cc).
  enum class ViewMode { kDense, kPerImage, kStaged };
  ViewMode ModeFor(const PlanStep& step, int32_t n) const;
  dnnl::memory::desc StepDesc(int32_t tensor, int32_t n, ViewMode mode) const;
  void BindSrcDst(StepExec* exec, const PlanStep& step, int32_t n, ViewMode mode, const dnnl::memory::desc& src,
                  const dnnl::memory::desc& dst);
  bool IsView(int32_t tensor) const;
  // Under kBf16: each step's arithmetic (compute_types_) and each buffer's element type.
  void AssignDataTypes();
  dnnl::memory::data_type ComputeType(size_t index) const { return compute_types_[index]; }
  bool IsF32(int32_t tensor) const { return LayoutOf(tensor).data_type == dnnl::memory::data_type::f32; }
  // The tensor as a dense descriptor of n images in data type `type` (a conversion's staging copy).
  dnnl::memory::desc DenseDescAs(int32_t tensor, int32_t n, dnnl::memory::data_type type) const;
  // Where a primitive step's src or dst buffer has another type than the step computes in: the
  // arg is pointed at a staging copy in the step's type, converted by reorders around the step.
  void BindConverted(StepExec* exec, int arg, int32_t tensor, int32_t n, const dnnl::memory::desc& staged, bool copy_in,
                     bool copy_out);
  // A tensor's channel slice as a dense descriptor of n images (n = 1: one image of a view).
  dnnl::memory::desc SliceDesc(int32_t tensor, int32_t n) const;
  dnnl::memory::desc ImageDesc(int32_t tensor) const { return SliceDesc(tensor, 1); }
  uint8_t* ImagePointer(int32_t tensor) const;
  int64_t ImageStride(int32_t tensor) const;
  dnnl::memory WeightsFor(size_t index, const PlanStep& step, const dnnl::memory::desc& desc);
  // Whether step may run as Winograd (then its OIHW weights are kept: oneDNN cannot reorder out of
  // a Winograd weight format, and another batch size may need another format).
  bool MayUseWinograd(const PlanStep& step) const;
  // Whether step runs as the 1-D Winograd F(4,7) of winograd_1d.h (1x7 / 7x1 convs under 'auto' on AVX-512).
  bool UsesWinograd1d(const PlanStep& step) const;
  StepExec CreateWinograd1d(size_t index, const PlanStep& step, int32_t n);
  // Whether a conv step may run as small_map_conv.h's kernel (under 'auto' on AVX-512, at the
  // batch sizes whose output fits it), and its geometry there.
  bool MayUseSmallMap(const PlanStep& step) const;
  SmallMapShape SmallMapShapeOf(const PlanStep& step) const;
  StepExec CreateSmallMap(size_t index, const PlanStep& step, int32_t n);
  bool BlockedInAndOut(const PlanStep& step, int32_t block) const;
  BlockedSlice BlockedSliceOf(int32_t tensor) const;  // one image's slice and the image stride
  // Points our kernels' shared workspace at bytes or more (steps read it at run time).
  void EnsureKernelWorkspace(int64_t bytes);
  void EnsureScratch(int64_t bytes);
  void EnsureStaging(int64_t bytes);
  const BufferLayout& LayoutOf(int32_t tensor) const { return layouts_[plan_.tensors[tensor].buffer]; }
  dnnl::memory::desc DescOf(int32_t tensor, int32_t n) const;
  TensorAccess AccessOf(int32_t tensor, int32_t n) const;
  std::string ShapesOf(const PlanStep& step) const;

  Plan plan_;  // weights pointer valid only during the constructor
  int32_t threads_;
  ConvAlgorithm conv_algorithm_;
  bool benchmark_;
  Precision precision_;
  std::vector<dnnl::memory::data_type> compute_types_;  // per plan step
  bool winograd_isa_ = false;  // the CPU has oneDNN's Winograd kernels (set before any step is created)
  dnnl::engine engine_;
  dnnl::stream stream_;
  std::vector<BufferLayout> layouts_;

  // Reallocates *buffer (64-byte aligned, contents not kept) when bytes > *size; true when it did.
  static bool Grow(AlignedPtr<uint8_t>* buffer, int64_t* size, int64_t bytes, const char* what);
  AlignedPtr<uint8_t> arena_;
  int64_t arena_bytes_ = 0;
  AlignedPtr<uint8_t> scratch_;
  int64_t scratch_bytes_ = 0;
  // Dense copies of channel views for staged steps (ViewMode::kStaged), shared by all steps.
  AlignedPtr<uint8_t> staging_;
  int64_t staging_bytes_ = 0;

  // Per step: prepared conv weights in each format a primitive asked for; biases and affine params.
  std::vector<std::vector<dnnl::memory>> weights_;
  std::vector<std::vector<float>> oihw_weights_;  // only for steps that MayUseWinograd
  std::vector<std::vector<float>> params_a_, params_b_;
  std::vector<std::unique_ptr<Winograd1dConv>> winograd_1d_;  // per step; null unless UsesWinograd1d
  std::vector<std::unique_ptr<SmallMapConv>> small_map_;       // per step; null unless MayUseSmallMap
  // Our kernels' workspace (the Winograd 1-D transformed maps and products, the small-map kernel's
  // gathered windows), shared: steps run one at a time.
  AlignedPtr<uint8_t> kernel_workspace_;
  int64_t kernel_workspace_bytes_ = 0;
  int64_t weight_bytes_ = 0;

  std::map<int32_t, std::unique_ptr<BatchExec>> execs_;
  std::mutex mutex_;
  bool released_ = false;
};

}  // namespace inception::cpu
