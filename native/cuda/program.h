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
//
// Branch streams (plan.streams > 1, src/plan/schedule.ts): each step runs on its scheduled stream
// (0 = the main stream, which also does the input and output copies); every stream has its own
// cuDNN handle, workspace and concat-slice scratch. A run records a fork event on the main stream
// that every other stream waits for first, waits before each step for the events of the steps in
// its `waits` (one event per step that someone waits on, recorded right after that step), and at
// the end joins every other stream back into the main stream before the output conversion, so a
// graph capture of a run ends with all streams joined (the fork/join become graph edges).
//
// Overlapped transfers (options.overlap_transfers, off by default): two pinned staging slots (input
// and output each) and two copy streams, so back-to-back runs overlap run k's compute with run
// k+1's upload and run k-1's download. A run takes a free slot (waiting while both are in use),
// copies and checks its images into the slot's pinned input with no program lock held, then,
// under the program lock (which orders the runs on the GPU): the upload stream waits until the
// previous run's input conversion has consumed the device input buffer, uploads, and the main
// stream waits for it and for the previous run's download, converts the input, and runs the
// compute (fork, steps, join, output conversion; this part alone is the CUDA graph in this mode);
// the download stream waits for the compute and copies the output into the slot's pinned output.
// The run then leaves the lock and waits for its own download only. Setting up a new batch size,
// and Profile(), first wait until nothing is in flight on the GPU.
//
// Profile(): runs the steps eagerly (never a graph), one after another (each step waits for the
// previous one's end), each between a pair of timing events on its stream; median per step.
#pragma once

#include <condition_variable>
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
  // The batch sizes runs execute at (ascending, the last = plan.batch): a run of n images runs at
  // the smallest size >= n and returns n rows, so at most this many sizes are set up (algorithm
  // timing, graph capture). Empty: every n runs exactly.
  std::vector<int> batch_sizes;
  // Most threads that copy and check a large input into pinned staging memory (1..8); 0: the
  // hardware's count, at most 8. The TS session passes its CPU thread figure (a container's CPU
  // quota included: src/system/cpu-threads.ts).
  int copy_threads = 0;
  // Two staging slots and copy streams, so back-to-back runs overlap upload, compute and download
  // (see the header comment). Off: one slot, every run's copies on the main stream (as before).
  bool overlap_transfers = false;
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

// One step of Profile(): the median GPU time between the events around it and what ran.
struct StepProfile {
  std::string step;  // the plan step's name, or "input-convert" / "output-convert"
  int index = -1;    // plan step index; -1 for the conversions
  double ms = 0;
  // conv: "fused" | "split" | "fused+scratch-copy" | "split+scratch-copy"; pools: "cudnn" | "pool-kernel";
  // everything else (and the conversions): "kernel".
  std::string path;
  int algo = -1;  // cudnnConvolutionFwdAlgo_t of a conv, else -1
  size_t workspace_bytes = 0;
  int stream = 0;
  std::string description;  // conv: ConvStep::Describe(); pool: both implementations' setup times (benchmark)
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
  // Checks every input value on the way into pinned staging memory (E_INVALID_INPUT on NaN/Inf).
  void Run(const float* input, int n, std::vector<float>* output);
  // Run() in two halves, so a caller can let go of its input before the run: Stage() copies and
  // checks n images into pinned staging memory now, on the calling thread (ForEachCopyChunk's
  // threads), and returns the staging slot it used, or -1, copying nothing, while another call
  // holds the program (overlap off) or both slots are in use (overlap on); RunStaged(n, slot) then
  // runs them. Overlap off: a Run() or Profile() between the two overwrites the staged batch, and
  // RunStaged then fails instead of running other images. Overlap on: the slot stays taken until
  // its RunStaged.
  int Stage(const float* input, int n);
  void RunStaged(int n, int slot, std::vector<float>* output);
  // Per-step GPU times of batch n: one eager warm-up run, then `repeats` timed runs; median per
  // step. Entries: the input conversion, every step in plan order, the output conversion.
  std::vector<StepProfile> Profile(const float* input, int n, int repeats);

  int batch() const { return plan_.batch; }
  // The batch size a run of n images executes at (options.batch_sizes; n itself when empty).
  int RunSize(int n) const;
  // Floats of a plain NCHW input of n images (what Run reads from `input`).
  int64_t InputElements(int n) const { return int64_t{n} * input_channels_ * input_h_ * input_w_; }

  size_t workspace_bytes() const;
  size_t weight_bytes() const { return weights_.bytes(); }
  size_t arena_bytes() const { return arena_.bytes(); }
  int output_features() const { return output_features_; }
  bool overlaps_transfers() const { return options_.overlap_transfers; }
  std::vector<ConvChoice> Choices() const;
  // One entry per batch size set up so far, ascending n.
  std::vector<GraphInfo> Graphs() const;

  // Eager runs of a batch size before its run is captured as a graph.
  static constexpr int kEagerRunsBeforeCapture = 2;

 private:
  struct PoolStep {
    TensorView x, y;
    int64_t y_offset_in_buffer = 0;  // bytes from the start of y's buffer to y.data
    PoolingDesc desc;
    TensorDesc x_desc, y_desc;
    bool use_kernel = false;
    // benchmark: true: median setup times of both implementations (0 when not timed).
    double cudnn_ms = 0, kernel_ms = 0;
  };
  struct Batch {
    std::vector<ConvStep> convs;  // by conv index (conv_of_step_)
    std::vector<PoolStep> pools;  // by pool index
  };

  void PrepareWeights(const Plan& plan);
  void ValidateLayout(const Plan& plan) const;
  // Sets up batch size n. Only called before anything of a run is enqueued (under mutex_, all
  // earlier runs finished), so nothing in the arena is live: setup runs write real output views.
  Batch& SetupBatch(int n);
  // The step's views and weights (no cuDNN calls); SetupConv then chooses.
  void FillConvStep(const PlanStep& step, int n, ConvStep* out);
  void FillPoolStep(const PlanStep& step, int n, PoolStep* out);
  // Bytes of the setup trial buffer batch n needs (packed scratch of strided conv outputs, and
  // outputs that overlap their input); never a whole buffer otherwise.
  size_t TrialBytes(const Batch& batch) const;
  void SetupPoolStep(const PlanStep& step, char* trial, PoolStep* out);
  // One pooling run writing `y` (p.y or its setup stand-in) with the chosen implementation.
  void EnqueuePool(const PlanStep& step, const PoolStep& p, bool use_kernel, void* y, cudnn::Handle handle,
                   cudaStream_t stream) const;
  int64_t OffsetInBuffer(int tensor, const TensorView& v) const;
  // Zeroes the arena after a batch size's setup runs (check: throw on failure; else best effort).
  void ZeroArenaAfterSetup(bool check);
  void RunStep(size_t index, const PlanStep& step, int n, Batch& batch);
  // E_INVALID_INPUT unless 1 <= n <= maxBatch.
  void CheckRunBatch(int n) const;
  // Copies and checks n input images into host_in_[0] (under mutex_); a staged batch is gone after it.
  void CopyInput(const float* input, int n);
  // Runs the n images in host_in_ (under mutex_): sets up the run size, replays or enqueues, waits.
  void RunStagedInput(int n, std::vector<float>* output);
  // host_in_[0] -> io_in_ on the main stream.
  void EnqueueUpload(int n);
  // io_in_ -> the plan's input tensor (main stream).
  void EnqueueInputConvert(int n);
  // The fork of the other streams from the main stream (after the input conversion).
  void EnqueueFork();
  // Every step on its stream, with its waits.
  void EnqueueSteps(int n, Batch& batch);
  // Joins the other streams into the main stream, then the output conversion into io_out_.
  void EnqueueJoinAndOutputConvert(int n);
  // io_out_ -> host_out_[0] on the main stream.
  void EnqueueDownload(int n);
  // The compute part of a run (fork, steps, join, output conversion): the graph of overlap mode.
  void EnqueueCompute(int n, Batch& batch);
  cudaStream_t StreamOf(size_t step) const { return streams_[static_cast<size_t>(plan_.steps[step].stream)]->get(); }
  void SynchronizeAll();
  // Puts one whole batch-n run on the stream: host_in_ -> device .. device -> host_out_ (no sync).
  void EnqueueRun(int n, Batch& batch);
  // Replays (capturing first when due) the graph of batch n; false when n runs eagerly. The graph
  // holds EnqueueRun (overlap off) or EnqueueCompute (overlap on).
  bool RunGraph(int n, Batch& batch);
  // Overlap mode (see the header comment).
  static constexpr int kSlots = 2;
  class SlotLease;
  // A free slot, marked in use; wait: block until one is free, else -1 when none is.
  int TakeSlot(bool wait);
  void GiveSlot(int slot) noexcept;
  // Runs the n images in host_in_[slot] (overlap mode): lock, enqueue, unlock, wait for the download.
  void RunInSlot(int slot, int n, std::vector<float>* output);
  // Under mutex_: upload, input conversion, compute, download of slot's batch (no waiting).
  void EnqueueOverlapped(int slot, int n, Batch& batch);
  // Under mutex_: waits until every stream (copy streams included) has finished its work.
  void DrainStreams();
  void DropGraphs(const char* why);
  TensorView View(int tensor, int n) const;

  ProgramOptions options_;
  Plan plan_;  // steps/buffers/tensors only (weights pointer cleared after upload)
  std::string gpu_name_;
  size_t cudnn_version_ = 0;
  const cudnn::Api* api_ = nullptr;
  // Per stream (index 0 = main): the stream, its cuDNN handle, conv workspace and view scratch.
  std::vector<std::unique_ptr<Stream>> streams_;
  std::vector<std::unique_ptr<CudnnHandle>> handles_;
  std::vector<DeviceBuffer> workspaces_, view_scratches_;
  // step_events_[i]: recorded after step i when a later step waits for it, else null.
  std::vector<std::unique_ptr<Event>> step_events_;
  std::unique_ptr<Event> fork_event_;
  std::vector<std::unique_ptr<Event>> join_events_;  // per stream (index 0 unused)
  DeviceBuffer weights_, arena_, io_in_, io_out_;
  // Pinned staging per slot; only slot 0 is allocated unless options.overlap_transfers.
  PinnedBuffer host_in_[kSlots], host_out_[kSlots];
  // Overlap mode only: the copy streams and the events that order them against the main stream.
  std::unique_ptr<Stream> upload_stream_, download_stream_;
  std::unique_ptr<Event> uploaded_, input_free_, computed_, output_free_;
  std::unique_ptr<Event> downloaded_[kSlots];
  bool input_free_recorded_ = false, output_free_recorded_ = false;  // under mutex_
  struct SlotState {
    bool busy = false;
    int staged_n = 0;  // images Stage() left in the slot for RunStaged(); 0 when none
  };
  SlotState slots_[kSlots];  // under slots_mutex_
  std::mutex slots_mutex_;
  std::condition_variable slot_freed_;
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
  int staged_n_ = 0;  // overlap off: images Stage() left in host_in_[0] for RunStaged(); 0 when none
};

Precision ParsePrecision(const std::string& name);

}  // namespace inception::cuda
