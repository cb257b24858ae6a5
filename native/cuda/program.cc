#include "cuda/program.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>

#include "core/parallel_copy.h"
#include "cuda/algo_cache.h"
#include "cuda/cudnn_loader.h"

namespace inception::cuda {
namespace {

constexpr size_t kWeightAlignment = 256;
// The algorithm search's workspace lives only while a batch size is set up, but it is the
// largest allocation at small batches and counts toward the process's peak device memory.
// Scaled with the batch: 8x the largest step output, at least 64 MiB, at most 512 MiB and a
// quarter of the free memory. Algorithms wanting more are skipped (and noted in choices()).
constexpr size_t kMaxSearchWorkspace = size_t{512} << 20;
constexpr size_t kMinSearchWorkspace = size_t{64} << 20;
constexpr size_t kSearchWorkspacePerOutputByte = 8;

size_t SearchWorkspaceBytes(size_t largest_output_bytes, size_t free_bytes) {
  const size_t scaled = std::max(kMinSearchWorkspace, kSearchWorkspacePerOutputByte * largest_output_bytes);
  return std::min({kMaxSearchWorkspace, scaled, free_bytes / 4});
}

size_t AlignUp(size_t v, size_t a) { return (v + a - 1) / a * a; }

// How JavaScript prints a non-finite number, for an error text equal to the TS side's.
const char* JsNonFiniteText(float value) {
  if (std::isnan(value)) return "NaN";
  return value > 0 ? "Infinity" : "-Infinity";
}

// Copies a run's `count` input floats into the pinned staging buffer, checking every value on the
// way (the check the TS side leaves to this backend: Program.checksInputValues). A NaN or +-Inf
// throws E_INVALID_INPUT with src/runtime/input.ts checkFiniteValues' exact text, before any GPU
// work of the run is queued. The staging values from the bad one on are zeroed first: a later
// run at a larger run size uploads the rows past its n, which must stay finite.
// `max_threads` bounds the copy's threads (0: the hardware's count, at most 8).
void CopyFiniteInput(float* staging, const float* input, size_t count, unsigned max_threads) {
  const int64_t bad = ParallelCopyFloatsFindNonFinite(staging, input, count, max_threads);
  if (bad < 0) return;
  const size_t at = static_cast<size_t>(bad);
  const char* value = JsNonFiniteText(staging[at]);
  std::memset(staging + at, 0, (count - at) * sizeof(float));
  throw Error(kCodeInvalidInput, "",
              Concat("Input value at index ", bad, " is ", value, "; every value must be finite (check the preprocessing)"));
}

// Grows `buffer` to `bytes` (never shrinks). When the larger allocation fails, the buffer gets
// its previous size back before the error goes up, so batch sizes already set up (whose steps
// were sized for it) keep running instead of getting a null workspace/scratch.
void Grow(DeviceBuffer* buffer, size_t bytes, const char* what) {
  const size_t previous = buffer->bytes();
  if (bytes <= previous) return;
  try {
    buffer->Allocate(bytes, what);
  } catch (const Error&) {
    try {
      buffer->Allocate(previous, what);
    } catch (const Error&) {
      // Left empty: RunStep refuses steps whose workspace/scratch no longer fits.
    }
    throw;
  }
}

void CheckLaunch(const char* what) {
  cudaError_t st = cudaGetLastError();
  if (st != cudaSuccess) ThrowCudaStatus(st, what, __FILE__, __LINE__);
}

// Host blob of prepared weights; offsets become device pointers after upload.
class WeightBlob {
 public:
  size_t AppendFloats(const float* src, size_t count) {
    size_t at = Reserve(count * sizeof(float));
    std::memcpy(bytes_.data() + at, src, count * sizeof(float));
    return at;
  }
  size_t AppendHalves(const std::vector<uint16_t>& src) {
    size_t at = Reserve(src.size() * sizeof(uint16_t));
    std::memcpy(bytes_.data() + at, src.data(), src.size() * sizeof(uint16_t));
    return at;
  }
  const std::vector<char>& bytes() const { return bytes_; }

 private:
  size_t Reserve(size_t n) {
    size_t at = AlignUp(bytes_.size(), kWeightAlignment);
    bytes_.resize(at + std::max<size_t>(n, 1), 0);
    return at;
  }
  std::vector<char> bytes_;
};

}  // namespace

Precision ParsePrecision(const std::string& name) {
  if (name == "fp32") return Precision::kFp32;
  if (name == "tf32") return Precision::kTf32;
  if (name == "fp16") return Precision::kFp16;
  throw Error(kCodeInvalidArgument, "", "Expected one of 'fp32', 'tf32', 'fp16' for precision but received '" + name + "'");
}

Program::Program(const Plan& plan, const ProgramOptions& options) : options_(options), plan_(plan) {
  plan_.weights = nullptr;
  CUDA_CHECK(cudaSetDevice(options_.device));
  api_ = &RequireCudnn();
  cudnn_version_ = LoadCudnn().version;
  cudaDeviceProp prop{};
  CUDA_CHECK(cudaGetDeviceProperties(&prop, options_.device));
  gpu_name_ = prop.name;
  ValidateLayout(plan);

  const PlanTensor& in = plan.tensors[static_cast<size_t>(plan.input)];
  const PlanTensor& out = plan.tensors[static_cast<size_t>(plan.output)];
  input_channels_ = in.c;
  input_h_ = in.h;
  input_w_ = in.w;
  output_features_ = out.c * out.h * out.w;

  INCEPTION_CHECK_PLAN(plan_.streams >= 1 && plan_.streams <= kMaxStreams, "plan.schedule.streams ", plan_.streams,
                       " is outside 1..", kMaxStreams);
  const size_t stream_count = static_cast<size_t>(plan_.streams);
  for (size_t k = 0; k < stream_count; ++k) {
    streams_.push_back(std::make_unique<Stream>());
    handles_.push_back(std::make_unique<CudnnHandle>(streams_.back()->get()));
  }
  workspaces_.resize(stream_count);
  view_scratches_.resize(stream_count);
  if (stream_count > 1) {
    fork_event_ = std::make_unique<Event>();
    join_events_.resize(stream_count);
    for (size_t k = 1; k < stream_count; ++k) join_events_[k] = std::make_unique<Event>();
  }
  step_events_.resize(plan_.steps.size());
  for (size_t i = 0; i < plan_.steps.size(); ++i) {
    const PlanStep& s = plan_.steps[i];
    INCEPTION_CHECK_PLAN(s.stream >= 0 && s.stream < plan_.streams, "steps[", i, "] '", s.name, "' is scheduled on stream ",
                         s.stream, " of ", plan_.streams);
    for (int32_t w : s.waits) {
      INCEPTION_CHECK_PLAN(w >= 0 && static_cast<size_t>(w) < i, "steps[", i, "] '", s.name, "' waits for step ", w,
                           "; a step can only wait for an earlier one");
      if (!step_events_[static_cast<size_t>(w)]) step_events_[static_cast<size_t>(w)] = std::make_unique<Event>();
    }
  }
  arena_.Allocate(static_cast<size_t>(plan.arena_bytes), "the activation arena (plan.arenaBytes)");
  // Zero once so no step ever reads NaN garbage (e.g. z with alpha2 = 0 in a trial run).
  CUDA_CHECK(cudaMemset(arena_.get(), 0, arena_.bytes()));
  PrepareWeights(plan);

  const size_t in_bytes = size_t{4} * plan.batch * in.c * in.h * in.w;
  const size_t out_bytes = size_t{4} * plan.batch * output_features_;
  io_in_.Allocate(in_bytes, "the input staging buffer");
  io_out_.Allocate(out_bytes, "the output staging buffer");
  const int slots = options_.overlap_transfers ? kSlots : 1;
  for (int k = 0; k < slots; ++k) {
    host_in_[k].Allocate(in_bytes, "an input staging buffer");
    host_out_[k].Allocate(out_bytes, "an output staging buffer");
    // A run of n images at a larger run size (options.batch_sizes) also uploads and computes the
    // rows past n: they hold zeros or an earlier run's (finite) images, never uninitialised bytes.
    std::memset(host_in_[k].get(), 0, in_bytes);
  }
  if (options_.overlap_transfers) {
    upload_stream_ = std::make_unique<Stream>();
    download_stream_ = std::make_unique<Stream>();
    uploaded_ = std::make_unique<Event>();
    input_free_ = std::make_unique<Event>();
    computed_ = std::make_unique<Event>();
    output_free_ = std::make_unique<Event>();
    for (auto& e : downloaded_) e = std::make_unique<Event>();
  }
  const std::vector<int>& sizes = options_.batch_sizes;
  for (size_t i = 0; i < sizes.size(); ++i) {
    INCEPTION_CHECK(sizes[i] >= 1 && sizes[i] <= plan.batch && (i == 0 || sizes[i] > sizes[i - 1]), kCodeInvalidArgument,
                    "options.batchSizes must ascend through 1..", plan.batch, " (the plan's batch); entry ", i, " is ", sizes[i]);
  }
  INCEPTION_CHECK(sizes.empty() || sizes.back() == plan.batch, kCodeInvalidArgument,
                  "options.batchSizes must end at the plan's batch ", plan.batch, "; it ends at ", sizes.back());

  int convs = 0, pools = 0;
  for (const PlanStep& s : plan_.steps) {
    conv_of_step_.push_back(s.op == OpKind::kConv2d ? convs++ : -1);
    pool_of_step_.push_back(s.op == OpKind::kMaxPool2d || s.op == OpKind::kAvgPool2d ? pools++ : -1);
  }
  SetupBatch(plan_.batch);
  SaveAlgoCache();
}

Program::~Program() {
  cudaSetDevice(options_.device);
  for (const auto& stream : streams_) cudaStreamSynchronize(stream->get());
  if (upload_stream_) cudaStreamSynchronize(upload_stream_->get());
  if (download_stream_) cudaStreamSynchronize(download_stream_->get());
  graphs_.clear();  // executable graphs before the memory, events and handles they refer to
  batches_.clear();
  handles_.clear();
}

void Program::ValidateLayout(const Plan& plan) const {
  const Precision p = options_.precision;
  for (size_t i = 0; i < plan.buffers.size(); ++i) {
    const PlanBuffer& b = plan.buffers[i];
    const int64_t need = BufferBytes(b, b.n, p);
    INCEPTION_CHECK_PLAN(b.bytes >= need, "buffers[", i, "] has ", b.bytes, " bytes but the CUDA ", PrecisionName(p),
                         " layout needs ", need, ": plan it with the CUDA backend's layoutPolicy('", PrecisionName(p),
                         "')");
    INCEPTION_CHECK_PLAN(b.offset % 16 == 0, "buffers[", i, "] offset ", b.offset, " is not 16-byte aligned");
  }
  for (size_t i = 0; i < plan.steps.size(); ++i) {
    const PlanStep& s = plan.steps[i];
    if (s.op == OpKind::kLinear || s.op == OpKind::kL2Norm || s.op == OpKind::kSoftmax) {
      for (int32_t t : s.inputs) {
        const PlanTensor& pt = plan.tensors[static_cast<size_t>(t)];
        INCEPTION_CHECK_PLAN(pt.h == 1 && pt.w == 1, "steps[", i, "] '", s.name, "' reads [", pt.n, ",", pt.c, ",",
                             pt.h, ",", pt.w, "]; the CUDA backend expects a vector [N,F,1,1] here");
      }
    }
    if (s.op == OpKind::kConv2d && s.residual != kNoTensor) {
      INCEPTION_CHECK_PLAN(s.residual == s.output, "steps[", i, "] '", s.name,
                           "': the residual tensor must be the output tensor (in-place accumulate)");
    }
  }
}

void Program::PrepareWeights(const Plan& plan) {
  const Precision p = options_.precision;
  WeightBlob blob;
  struct Offsets {
    size_t w = SIZE_MAX, bias = SIZE_MAX, w_f32 = SIZE_MAX, bias_f32 = SIZE_MAX;
    int in_channels = 0;
  };
  std::vector<Offsets> offsets(plan.steps.size());
  const float* all = plan.weights;
  for (size_t i = 0; i < plan.steps.size(); ++i) {
    const PlanStep& s = plan.steps[i];
    Offsets& o = offsets[i];
    if (s.op == OpKind::kConv2d) {
      const PlanTensor& x = plan.tensors[static_cast<size_t>(s.inputs[0])];
      const PlanTensor& y = plan.tensors[static_cast<size_t>(s.output)];
      const int k = y.c, c = x.c, kh = s.kernel[0], kw = s.kernel[1];
      INCEPTION_CHECK_PLAN(s.weight.length == int64_t{k} * c * kh * kw, "steps[", i, "] '", s.name, "' weight has ",
                           s.weight.length, " values, expected ", k, "*", c, "*", kh, "*", kw);
      INCEPTION_CHECK_PLAN(s.bias.length == k, "steps[", i, "] '", s.name, "' bias has ", s.bias.length,
                           " values, expected ", k);
      const float* w = all + s.weight.offset;
      const float* b = all + s.bias.offset;
      o.bias_f32 = blob.AppendFloats(b, static_cast<size_t>(k));
      if (p == Precision::kFp16) {
        // Graph input: channels padded to 8 (the pad is zero in the arena and in the filter).
        const bool padded_input = s.inputs[0] == plan.input;
        o.in_channels = padded_input ? PaddedChannels(c, p) : c;
        std::vector<uint16_t> h(static_cast<size_t>(k) * kh * kw * o.in_channels, 0);  // K,R,S,C (NHWC filter)
        for (int ko = 0; ko < k; ++ko)
          for (int ci = 0; ci < c; ++ci)
            for (int r = 0; r < kh; ++r)
              for (int q = 0; q < kw; ++q) {
                h[((static_cast<size_t>(ko) * kh + r) * kw + q) * o.in_channels + ci] =
                    FloatToHalfBits(w[((static_cast<size_t>(ko) * c + ci) * kh + r) * kw + q]);
              }
        o.w = blob.AppendHalves(h);
        std::vector<uint16_t> hb(static_cast<size_t>(k));
        for (int ko = 0; ko < k; ++ko) hb[static_cast<size_t>(ko)] = FloatToHalfBits(b[ko]);
        o.bias = blob.AppendHalves(hb);
      } else {
        o.in_channels = c;
        o.w = blob.AppendFloats(w, static_cast<size_t>(s.weight.length));
        o.bias = o.bias_f32;
      }
    } else if (s.op == OpKind::kLinear || s.op == OpKind::kAffine) {
      o.w_f32 = blob.AppendFloats(all + s.weight.offset, static_cast<size_t>(s.weight.length));
      o.bias_f32 = blob.AppendFloats(all + s.bias.offset, static_cast<size_t>(s.bias.length));
      if (s.op == OpKind::kLinear) {
        const PlanTensor& x = plan.tensors[static_cast<size_t>(s.inputs[0])];
        const PlanTensor& y = plan.tensors[static_cast<size_t>(s.output)];
        INCEPTION_CHECK_PLAN(s.weight.length == int64_t{x.c} * y.c, "steps[", i, "] '", s.name, "' weight has ",
                             s.weight.length, " values, expected ", y.c, "*", x.c);
        INCEPTION_CHECK_PLAN(s.bias.length == y.c, "steps[", i, "] '", s.name, "' bias has ", s.bias.length,
                             " values, expected ", y.c);
      } else {
        const PlanTensor& y = plan.tensors[static_cast<size_t>(s.output)];
        INCEPTION_CHECK_PLAN(s.weight.length == y.c && s.bias.length == y.c, "steps[", i, "] '", s.name,
                             "' scale/shift must have ", y.c, " values");
      }
    }
  }
  weights_.Allocate(blob.bytes().size(), "the prepared weights");
  CUDA_CHECK(cudaMemcpy(weights_.get(), blob.bytes().data(), blob.bytes().size(), cudaMemcpyHostToDevice));
  step_weights_.resize(plan.steps.size());
  auto at = [&](size_t off) -> char* { return off == SIZE_MAX ? nullptr : weights_.get() + off; };
  for (size_t i = 0; i < offsets.size(); ++i) {
    step_weights_[i].w = at(offsets[i].w);
    step_weights_[i].bias = at(offsets[i].bias);
    step_weights_[i].w_f32 = reinterpret_cast<const float*>(at(offsets[i].w_f32));
    step_weights_[i].bias_f32 = reinterpret_cast<const float*>(at(offsets[i].bias_f32));
    step_weights_[i].in_channels = offsets[i].in_channels;
  }
}

TensorView Program::View(int tensor, int n) const {
  const PlanTensor& t = plan_.tensors[static_cast<size_t>(tensor)];
  return MakeView(arena_.get(), plan_.buffers[static_cast<size_t>(t.buffer)], t, n, options_.precision);
}

int64_t Program::OffsetInBuffer(int tensor, const TensorView& v) const {
  const PlanTensor& t = plan_.tensors[static_cast<size_t>(tensor)];
  return static_cast<char*>(v.data) - (arena_.get() + plan_.buffers[static_cast<size_t>(t.buffer)].offset);
}

void Program::FillConvStep(const PlanStep& step, int n, ConvStep* out) {
  const size_t i = static_cast<size_t>(&step - plan_.steps.data());
  ConvStep& c = *out;
  c.name = step.name;
  c.relu = step.relu;
  c.residual = step.residual != kNoTensor;
  c.in_channels = step_weights_[i].in_channels;
  c.x = View(step.inputs[0], n);
  c.x.c = c.in_channels;
  c.y = View(step.output, n);
  c.y_offset_in_buffer = OffsetInBuffer(step.output, c.y);
  c.w = step_weights_[i].w;
  c.bias = step_weights_[i].bias;
  c.bias_f32 = step_weights_[i].bias_f32;
  for (int k = 0; k < 2; ++k) {
    c.kernel[k] = step.kernel[k];
    c.stride[k] = step.stride[k];
    c.pad[k] = step.pad[k];
  }
}

void Program::FillPoolStep(const PlanStep& step, int n, PoolStep* out) {
  out->x = View(step.inputs[0], n);
  out->y = View(step.output, n);
  out->y_offset_in_buffer = OffsetInBuffer(step.output, out->y);
}

size_t Program::TrialBytes(const Batch& batch) const {
  size_t bytes = 0;
  for (const ConvStep& c : batch.convs) bytes = std::max(bytes, ConvTrialBytes(c));
  for (const PoolStep& p : batch.pools) {
    if (ViewsOverlap(p.x, p.y)) bytes = std::max(bytes, static_cast<size_t>(p.y_offset_in_buffer) + ViewSpanBytes(p.y));
  }
  return bytes;
}

void Program::EnqueuePool(const PlanStep& step, const PoolStep& p, bool use_kernel, void* y, cudnn::Handle handle,
                          cudaStream_t stream) const {
  if (use_kernel) {
    TensorView out = p.y;
    out.data = y;
    LaunchPool2d(p.x, out, step.op == OpKind::kMaxPool2d, step.kernel[0], step.kernel[1], step.stride[0],
                 step.stride[1], step.pad[0], step.pad[1], step.count_include_pad, stream);
    CheckLaunch("pooling kernel launch");
  } else {
    const float one = 1.0f, zero = 0.0f;
    CUDNN_CHECK(api_->PoolingForward(handle, p.desc.get(), &one, p.x_desc.get(), p.x.data, &zero, p.y_desc.get(), y));
  }
}

void Program::SetupPoolStep(const PlanStep& step, char* trial, PoolStep* out) {
  PoolStep& p = *out;
  const cudnn::DataType dt = options_.precision == Precision::kFp16 ? cudnn::DataType::kHalf : cudnn::DataType::kFloat;
  const cudnn::PoolingMode mode = step.op == OpKind::kMaxPool2d ? cudnn::PoolingMode::kMax
                                  : step.count_include_pad      ? cudnn::PoolingMode::kAverageCountIncludePadding
                                                                : cudnn::PoolingMode::kAverageCountExcludePadding;
  try {
    CUDNN_CHECK(api_->SetPooling2dDescriptor(p.desc.get(), mode, cudnn::NanPropagation::kNotPropagate, step.kernel[0],
                                             step.kernel[1], step.pad[0], step.pad[1], step.stride[0], step.stride[1]));
    auto set = [&](cudnn::TensorDescriptor d, const TensorView& v) {
      int strides[4];
      IntStrides(v, strides);
      CUDNN_CHECK(api_->SetTensor4dDescriptorEx(d, dt, v.n, v.c, v.h, v.w, strides[0], strides[1], strides[2], strides[3]));
    };
    set(p.x_desc.get(), p.x);
    set(p.y_desc.get(), p.y);
    p.use_kernel = options_.force_pool_kernel;
    p.cudnn_ms = p.kernel_ms = 0;
    if (p.use_kernel) return;
    // Setup runs write the real y (nothing in the arena is live), or the trial buffer at y's
    // offset in its buffer when y overlaps x.
    void* y = ViewsOverlap(p.x, p.y) ? static_cast<void*>(trial + p.y_offset_in_buffer) : p.y.data;
    cudaStream_t stream = streams_[0]->get();
    cudnn::Handle handle = handles_[0]->get();
    const float one = 1.0f, zero = 0.0f;
    cudnn::Status st = api_->PoolingForward(handle, p.desc.get(), &one, p.x_desc.get(), p.x.data, &zero, p.y_desc.get(), y);
    cudaError_t ce = cudaStreamSynchronize(stream);
    if (st != cudnn::Status::kSuccess || ce != cudaSuccess) {
      cudaGetLastError();
      p.use_kernel = true;  // our strided pooling kernel (tested against the same reference)
      return;
    }
    if (!options_.benchmark) return;
    // Both implementations on the real views, exactly as RunStep enqueues them; the faster is kept.
    p.cudnn_ms = MedianRunMs(stream, [&] { EnqueuePool(step, p, false, y, handle, stream); });
    p.kernel_ms = MedianRunMs(stream, [&] { EnqueuePool(step, p, true, y, handle, stream); });
    p.use_kernel = p.kernel_ms < p.cudnn_ms;
  } catch (Error& e) {
    e.WithStep(step.name);
    throw;
  }
}

Program::Batch& Program::SetupBatch(int n) {
  auto found = batches_.find(n);
  if (found != batches_.end()) return *found->second;
  auto batch = std::make_unique<Batch>();
  size_t largest_output = 0;
  int convs = 0, pools = 0;
  for (const PlanStep& s : plan_.steps) {
    if (s.op == OpKind::kConv2d) ++convs;
    if (s.op == OpKind::kMaxPool2d || s.op == OpKind::kAvgPool2d) ++pools;
    if (s.op == OpKind::kConv2d || s.op == OpKind::kMaxPool2d || s.op == OpKind::kAvgPool2d) {
      const PlanTensor& yt = plan_.tensors[static_cast<size_t>(s.output)];
      largest_output = std::max(largest_output, static_cast<size_t>(BufferBytes(plan_.buffers[static_cast<size_t>(yt.buffer)], n, options_.precision)));
    }
  }
  batch->convs.resize(static_cast<size_t>(convs));
  batch->pools.resize(static_cast<size_t>(pools));
  for (size_t i = 0; i < plan_.steps.size(); ++i) {
    if (conv_of_step_[i] >= 0) FillConvStep(plan_.steps[i], n, &batch->convs[static_cast<size_t>(conv_of_step_[i])]);
    if (pool_of_step_[i] >= 0) FillPoolStep(plan_.steps[i], n, &batch->pools[static_cast<size_t>(pool_of_step_[i])]);
  }
  DeviceBuffer trial(TrialBytes(*batch), "the setup trial scratch (packed outputs of concat-slice convolutions)");
  size_t free_bytes = 0, total_bytes = 0;
  CUDA_CHECK(cudaMemGetInfo(&free_bytes, &total_bytes));
  DeviceBuffer search_ws(SearchWorkspaceBytes(largest_output, free_bytes), "the algorithm-search workspace");

  ConvSetupContext ctx;
  ctx.api = api_;
  ctx.handle = handles_[0]->get();
  ctx.stream = streams_[0]->get();
  ctx.precision = options_.precision;
  ctx.benchmark = options_.benchmark;
  ctx.force_split = options_.force_split;
  ctx.force_scratch = options_.force_scratch;
  ctx.gpu_name = gpu_name_;
  ctx.cudnn_version = cudnn_version_;
  ctx.trial = trial.get();
  ctx.trial_bytes = trial.bytes();
  ctx.search_workspace = search_ws.get();
  ctx.search_workspace_bytes = search_ws.bytes();

  // Per stream: the largest workspace and scratch of the convs scheduled on it.
  std::vector<size_t> need_ws(streams_.size(), 0), need_scratch(streams_.size(), 0);
  try {
    for (size_t i = 0; i < plan_.steps.size(); ++i) {
      const PlanStep& s = plan_.steps[i];
      if (conv_of_step_[i] >= 0) {
        ConvStep& c = batch->convs[static_cast<size_t>(conv_of_step_[i])];
        SetupConv(c, ctx);
        const size_t k = static_cast<size_t>(s.stream);
        need_ws[k] = std::max(need_ws[k], c.workspace_bytes);
        if (c.via_scratch) need_scratch[k] = std::max(need_scratch[k], c.packed_bytes);
      } else if (pool_of_step_[i] >= 0) {
        SetupPoolStep(s, trial.get(), &batch->pools[static_cast<size_t>(pool_of_step_[i])]);
      }
    }
    CUDA_CHECK(cudaStreamSynchronize(streams_[0]->get()));
  } catch (...) {
    ZeroArenaAfterSetup(false);
    throw;
  }
  ZeroArenaAfterSetup(true);
  // Captured graphs hold the workspace and scratch pointers: drop them before a reallocation.
  for (size_t k = 0; k < streams_.size(); ++k) {
    if (need_ws[k] > workspaces_[k].bytes() || need_scratch[k] > view_scratches_[k].bytes()) {
      DropGraphs("the workspace or scratch grew");
    }
  }
  for (size_t k = 0; k < streams_.size(); ++k) {
    Grow(&workspaces_[k], need_ws[k], "the convolution workspace (max over chosen algorithms)");
    Grow(&view_scratches_[k], need_scratch[k], "the concat-slice fallback scratch");
  }
  Batch& ref = *batch;
  batches_[n] = std::move(batch);
  return ref;
}

void Program::ZeroArenaAfterSetup(bool check) {
  // Setup runs wrote arbitrary values (e.g. repeated residual accumulations) into the arena: give
  // every run the zeroed arena it had before, so no step can ever read setup garbage.
  cudaStream_t stream = streams_[0]->get();
  if (check) {
    CUDA_CHECK(cudaMemsetAsync(arena_.get(), 0, arena_.bytes(), stream));
    CUDA_CHECK(cudaStreamSynchronize(stream));
    return;
  }
  // On the error path: best effort, the setup's own error is the news.
  if (cudaMemsetAsync(arena_.get(), 0, arena_.bytes(), stream) == cudaSuccess) cudaStreamSynchronize(stream);
  cudaGetLastError();
}

void Program::RunStep(size_t index, const PlanStep& s, int n, Batch& batch) {
  const size_t k = static_cast<size_t>(s.stream);
  cudaStream_t stream = streams_[k]->get();
  cudnn::Handle handle = handles_[k]->get();
  const DeviceBuffer& workspace = workspaces_[k];
  const DeviceBuffer& scratch = view_scratches_[k];
  const StepWeights& w = step_weights_[index];
  switch (s.op) {
    case OpKind::kConv2d: {
      const ConvStep& c = batch.convs[static_cast<size_t>(conv_of_step_[index])];
      // Never hand a kernel a scratch smaller than it writes (an illegal address would poison the context).
      INCEPTION_CHECK(c.workspace_bytes <= workspace.bytes() && (!c.via_scratch || c.packed_bytes <= scratch.bytes()),
                      kCodeNative, "the convolution workspace (", workspace.bytes(), " bytes) or view scratch (",
                      scratch.bytes(), " bytes) of stream ", k, " is smaller than this step needs (", c.workspace_bytes, ", ",
                      c.via_scratch ? c.packed_bytes : 0, "): an earlier allocation failed; compile the program again");
      RunConv(c, *api_, handle, stream, workspace.get(), workspace.bytes(), scratch.get());
      break;
    }
    case OpKind::kMaxPool2d:
    case OpKind::kAvgPool2d: {
      const PoolStep& p = batch.pools[static_cast<size_t>(pool_of_step_[index])];
      EnqueuePool(s, p, p.use_kernel, p.y.data, handle, stream);
      break;
    }
    case OpKind::kGlobalAvgPool:
      LaunchGlobalAvgPool(View(s.inputs[0], n), View(s.output, n), stream);
      break;
    case OpKind::kLinear:
      LaunchLinear(View(s.inputs[0], n), View(s.output, n), w.w_f32, w.bias_f32, s.relu, stream);
      break;
    case OpKind::kAffine:
      LaunchAffine(View(s.inputs[0], n), View(s.output, n), w.w_f32, w.bias_f32, s.relu, stream);
      break;
    case OpKind::kRelu:
      LaunchAffine(View(s.inputs[0], n), View(s.output, n), nullptr, nullptr, true, stream);
      break;
    case OpKind::kResidualAdd:
      LaunchResidualAdd(View(s.inputs[0], n), View(s.inputs[1], n), View(s.output, n), s.scale, s.relu, stream);
      break;
    case OpKind::kConcat: {
      const TensorView out = View(s.output, n);
      int offset = 0;
      for (int32_t t : s.inputs) {
        TensorView src = View(t, n);
        TensorView dst = out;
        dst.c = src.c;
        dst.data = static_cast<char*>(out.data) + int64_t{offset} * out.sc * ElementBytes(options_.precision);
        LaunchCopy(src, dst, stream);
        offset += src.c;
      }
      break;
    }
    case OpKind::kL2Norm:
      LaunchL2Norm(View(s.inputs[0], n), View(s.output, n), s.eps, stream);
      break;
    case OpKind::kSoftmax:
      LaunchSoftmax(View(s.inputs[0], n), View(s.output, n), stream);
      break;
  }
  CheckLaunch("kernel launch");
}

void Program::EnqueueUpload(int n) {
  const size_t in_count = static_cast<size_t>(InputElements(n));
  CUDA_CHECK(cudaMemcpyAsync(io_in_.get(), host_in_[0].get(), in_count * sizeof(float), cudaMemcpyHostToDevice, streams_[0]->get()));
}

void Program::EnqueueInputConvert(int n) {
  TensorView in = View(plan_.input, n);
  if (IsNhwc(options_.precision)) in.c = PaddedChannels(in.c, options_.precision);  // zero the pad channels
  LaunchInputConvert(reinterpret_cast<const float*>(io_in_.get()), input_channels_, in, streams_[0]->get());
  CheckLaunch("input conversion");
}

void Program::EnqueueFork() {
  if (streams_.size() <= 1) return;
  cudaStream_t stream = streams_[0]->get();
  CUDA_CHECK(cudaEventRecord(fork_event_->get(), stream));
  for (size_t k = 1; k < streams_.size(); ++k) CUDA_CHECK(cudaStreamWaitEvent(streams_[k]->get(), fork_event_->get(), 0));
}

void Program::EnqueueJoinAndOutputConvert(int n) {
  cudaStream_t stream = streams_[0]->get();
  for (size_t k = 1; k < streams_.size(); ++k) {
    CUDA_CHECK(cudaEventRecord(join_events_[k]->get(), streams_[k]->get()));
    CUDA_CHECK(cudaStreamWaitEvent(stream, join_events_[k]->get(), 0));
  }
  LaunchOutputConvert(View(plan_.output, n), reinterpret_cast<float*>(io_out_.get()), stream);
  CheckLaunch("output conversion");
}

void Program::EnqueueDownload(int n) {
  const size_t out_count = static_cast<size_t>(n) * output_features_;
  CUDA_CHECK(cudaMemcpyAsync(host_out_[0].get(), io_out_.get(), out_count * sizeof(float), cudaMemcpyDeviceToHost, streams_[0]->get()));
}

void Program::EnqueueSteps(int n, Batch& batch) {
  for (size_t i = 0; i < plan_.steps.size(); ++i) {
    const PlanStep& s = plan_.steps[i];
    try {
      cudaStream_t stream = StreamOf(i);
      for (int32_t w : s.waits) CUDA_CHECK(cudaStreamWaitEvent(stream, step_events_[static_cast<size_t>(w)]->get(), 0));
      RunStep(i, s, n, batch);
      if (step_events_[i]) CUDA_CHECK(cudaEventRecord(step_events_[i]->get(), stream));
    } catch (Error& e) {
      e.WithStep(s.name);
      // Join the forked streams back into the main stream before the error goes up: inside a
      // graph capture, cudaStreamEndCapture with a stream still forked fails with
      // cudaErrorStreamCaptureUnjoined and can leave the streams capturing, so the eager fallback
      // (and every later run) would fail. Statuses are ignored: the step's error is the news.
      for (size_t k = 1; k < streams_.size(); ++k) {
        if (cudaEventRecord(join_events_[k]->get(), streams_[k]->get()) == cudaSuccess) {
          cudaStreamWaitEvent(streams_[0]->get(), join_events_[k]->get(), 0);
        }
      }
      throw;
    }
  }
}

void Program::EnqueueCompute(int n, Batch& batch) {
  EnqueueFork();
  EnqueueSteps(n, batch);
  EnqueueJoinAndOutputConvert(n);
}

void Program::EnqueueRun(int n, Batch& batch) {
  EnqueueUpload(n);
  EnqueueInputConvert(n);
  EnqueueCompute(n, batch);
  EnqueueDownload(n);
}

void Program::SynchronizeAll() {
  for (const auto& stream : streams_) cudaStreamSynchronize(stream->get());
}

bool Program::RunGraph(int n, Batch& batch) {
  if (!options_.graphs) return false;
  GraphState& g = graphs_[n];
  if (g.failed) return false;
  cudaStream_t stream = streams_[0]->get();
  if (!g.graph) {
    if (g.eager_runs < kEagerRunsBeforeCapture) {
      ++g.eager_runs;
      return false;
    }
    std::string why;
    g.graph = CapturedGraph::Capture(
        stream, [&] { options_.overlap_transfers ? EnqueueCompute(n, batch) : EnqueueRun(n, batch); }, &why);
    if (!g.graph) {
      g.failed = true;
      g.reason = "capture failed, running eagerly: " + why;
      // Nothing of the failed capture ran; make sure the streams are healthy before the eager run.
      SynchronizeAll();
      CUDA_CHECK(cudaStreamSynchronize(stream));
      return false;
    }
  }
  const cudaError_t st = g.graph->Launch(stream);
  if (st != cudaSuccess) {
    cudaGetLastError();
    g.graph.reset();
    g.failed = true;
    g.reason = Concat("cudaGraphLaunch failed, running eagerly: ", cudaGetErrorName(st), " (", cudaGetErrorString(st), ")");
    return false;
  }
  return true;
}

void Program::DropGraphs(const char* why) {
  for (auto& [n, g] : graphs_) {
    if (g.failed) continue;
    // Not captured yet counts too: its eager runs used the old pointers, and a capture must follow
    // eager runs of the exact calls (a graph-API step rebuilds its variant pack on new pointers).
    g.eager_runs = 0;
    if (!g.graph) continue;
    g.graph.reset();
    g.reason = Concat("dropped (", why, "); captured again after ", kEagerRunsBeforeCapture, " eager runs");
  }
}

// Holds one staging slot of overlap mode and gives it back when it goes out of scope, unless
// Keep() handed it on (Stage() -> RunStaged()).
class Program::SlotLease {
 public:
  SlotLease(Program* program, int slot) : program_(program), slot_(slot) {}
  ~SlotLease() {
    if (program_ != nullptr) program_->GiveSlot(slot_);
  }
  SlotLease(const SlotLease&) = delete;
  SlotLease& operator=(const SlotLease&) = delete;
  int slot() const { return slot_; }
  void Keep() { program_ = nullptr; }

 private:
  Program* program_;
  int slot_;
};

int Program::TakeSlot(bool wait) {
  std::unique_lock<std::mutex> lock(slots_mutex_);
  for (;;) {
    for (int k = 0; k < kSlots; ++k) {
      if (!slots_[k].busy) {
        slots_[k].busy = true;
        slots_[k].staged_n = 0;
        return k;
      }
    }
    if (!wait) return -1;
    slot_freed_.wait(lock);
  }
}

void Program::GiveSlot(int slot) noexcept {
  {
    std::lock_guard<std::mutex> lock(slots_mutex_);
    slots_[slot].busy = false;
    slots_[slot].staged_n = 0;
  }
  slot_freed_.notify_one();
}

void Program::Run(const float* input, int n, std::vector<float>* output) {
  if (options_.overlap_transfers) {
    CheckRunBatch(n);
    SlotLease lease(this, TakeSlot(/*wait=*/true));
    CopyFiniteInput(reinterpret_cast<float*>(host_in_[lease.slot()].get()), input, static_cast<size_t>(InputElements(n)),
                    static_cast<unsigned>(options_.copy_threads));
    RunInSlot(lease.slot(), n, output);
    return;
  }
  std::lock_guard<std::mutex> lock(mutex_);
  CheckRunBatch(n);
  CopyInput(input, n);
  RunStagedInput(n, output);
}

int Program::Stage(const float* input, int n) {
  if (options_.overlap_transfers) {
    CheckRunBatch(n);
    const int slot = TakeSlot(/*wait=*/false);
    if (slot < 0) return -1;
    SlotLease lease(this, slot);
    CopyFiniteInput(reinterpret_cast<float*>(host_in_[slot].get()), input, static_cast<size_t>(InputElements(n)),
                    static_cast<unsigned>(options_.copy_threads));
    {
      std::lock_guard<std::mutex> lock(slots_mutex_);
      slots_[slot].staged_n = n;
    }
    lease.Keep();  // taken until RunStaged(n, slot)
    return slot;
  }
  std::unique_lock<std::mutex> lock(mutex_, std::try_to_lock);
  if (!lock.owns_lock()) return -1;
  CheckRunBatch(n);
  CopyInput(input, n);
  staged_n_ = n;
  return 0;
}

void Program::CopyInput(const float* input, int n) {
  staged_n_ = 0;  // host_in_[0] is rewritten now: a staged batch is gone
  CopyFiniteInput(reinterpret_cast<float*>(host_in_[0].get()), input, static_cast<size_t>(InputElements(n)), static_cast<unsigned>(options_.copy_threads));
}

void Program::RunStaged(int n, int slot, std::vector<float>* output) {
  if (options_.overlap_transfers) {
    INCEPTION_CHECK(slot >= 0 && slot < kSlots, kCodeNative, "RunStaged(", n, ", ", slot, "): no such staging slot");
    int staged = 0;
    {
      std::lock_guard<std::mutex> lock(slots_mutex_);
      INCEPTION_CHECK(slots_[slot].busy, kCodeNative, "RunStaged(", n, ", ", slot, "): the slot holds no staged batch");
      staged = slots_[slot].staged_n;
      slots_[slot].staged_n = 0;
    }
    SlotLease lease(this, slot);  // the slot Stage() kept
    INCEPTION_CHECK(staged == n, kCodeNative, "RunStaged(", n, ", ", slot, "): the staged batch has ", staged, " images");
    CheckRunBatch(n);
    RunInSlot(slot, n, output);
    return;
  }
  std::lock_guard<std::mutex> lock(mutex_);
  CheckRunBatch(n);
  INCEPTION_CHECK(slot == 0 && staged_n_ == n, kCodeNative, "RunStaged(", n, "): ",
                  staged_n_ == 0 ? std::string("no batch is staged") : Concat("the staged batch has ", staged_n_, " images"),
                  " (each Stage() pairs with the next RunStaged(), no other run or profile between)");
  staged_n_ = 0;
  RunStagedInput(n, output);
}

void Program::DrainStreams() {
  for (const auto& stream : streams_) CUDA_CHECK(cudaStreamSynchronize(stream->get()));
  if (upload_stream_) CUDA_CHECK(cudaStreamSynchronize(upload_stream_->get()));
  if (download_stream_) CUDA_CHECK(cudaStreamSynchronize(download_stream_->get()));
}

void Program::EnqueueOverlapped(int slot, int n, Batch& batch) {
  cudaStream_t main = streams_[0]->get();
  cudaStream_t up = upload_stream_->get();
  cudaStream_t down = download_stream_->get();
  const size_t in_bytes = static_cast<size_t>(InputElements(n)) * sizeof(float);
  const size_t out_bytes = static_cast<size_t>(n) * output_features_ * sizeof(float);
  // io_in_ is free once the previous run's input conversion has read it.
  if (input_free_recorded_) CUDA_CHECK(cudaStreamWaitEvent(up, input_free_->get(), 0));
  CUDA_CHECK(cudaMemcpyAsync(io_in_.get(), host_in_[slot].get(), in_bytes, cudaMemcpyHostToDevice, up));
  CUDA_CHECK(cudaEventRecord(uploaded_->get(), up));
  CUDA_CHECK(cudaStreamWaitEvent(main, uploaded_->get(), 0));
  // io_out_ is free once the previous run's download has read it (a few hundred KiB at most).
  if (output_free_recorded_) CUDA_CHECK(cudaStreamWaitEvent(main, output_free_->get(), 0));
  EnqueueInputConvert(n);
  CUDA_CHECK(cudaEventRecord(input_free_->get(), main));
  input_free_recorded_ = true;
  if (!RunGraph(n, batch)) EnqueueCompute(n, batch);
  CUDA_CHECK(cudaEventRecord(computed_->get(), main));
  CUDA_CHECK(cudaStreamWaitEvent(down, computed_->get(), 0));
  CUDA_CHECK(cudaMemcpyAsync(host_out_[slot].get(), io_out_.get(), out_bytes, cudaMemcpyDeviceToHost, down));
  CUDA_CHECK(cudaEventRecord(output_free_->get(), down));
  output_free_recorded_ = true;
  CUDA_CHECK(cudaEventRecord(downloaded_[slot]->get(), down));
}

void Program::RunInSlot(int slot, int n, std::vector<float>* output) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    CUDA_CHECK(cudaSetDevice(options_.device));
    const int run_n = RunSize(n);
    const bool fresh = batches_.find(run_n) == batches_.end();
    // Setting up a batch size runs trial convolutions on the arena: nothing may be in flight.
    if (fresh) DrainStreams();
    Batch& batch = SetupBatch(run_n);
    if (fresh) SaveAlgoCache();
    try {
      EnqueueOverlapped(slot, run_n, batch);
    } catch (...) {
      // Let whatever was enqueued finish before the slot is reused. Their statuses are not the news.
      SynchronizeAll();
      cudaStreamSynchronize(upload_stream_->get());
      cudaStreamSynchronize(download_stream_->get());
      cudaGetLastError();
      throw;
    }
  }
  CUDA_CHECK(cudaEventSynchronize(downloaded_[slot]->get()));
  const size_t out_count = static_cast<size_t>(n) * output_features_;
  const float* result = reinterpret_cast<const float*>(host_out_[slot].get());
  output->assign(result, result + out_count);
}

void Program::CheckRunBatch(int n) const {
  INCEPTION_CHECK(n >= 1 && n <= plan_.batch, kCodeInvalidInput, "batch ", n, " is outside 1..", plan_.batch,
                  " (the program's maxBatch)");
}

void Program::RunStagedInput(int n, std::vector<float>* output) {
  CUDA_CHECK(cudaSetDevice(options_.device));
  const int run_n = RunSize(n);
  const bool fresh = batches_.find(run_n) == batches_.end();
  Batch& batch = SetupBatch(run_n);  // setup never reads or writes host_in_[0]
  if (fresh) SaveAlgoCache();
  cudaStream_t stream = streams_[0]->get();
  try {
    if (!RunGraph(run_n, batch)) EnqueueRun(run_n, batch);
  } catch (...) {
    // A call failed after earlier work of this run was enqueued (e.g. the pinned input copy):
    // let it finish before the next run rewrites host_in_[0]. Its own status is not the news.
    SynchronizeAll();
    cudaGetLastError();
    throw;
  }
  CUDA_CHECK(cudaStreamSynchronize(stream));
  const size_t out_count = static_cast<size_t>(n) * output_features_;
  const float* result = reinterpret_cast<const float*>(host_out_[0].get());
  output->assign(result, result + out_count);
}

int Program::RunSize(int n) const {
  for (int size : options_.batch_sizes) {
    if (size >= n) return size;
  }
  return n;  // no batch_sizes: every n runs exactly
}

size_t Program::workspace_bytes() const {
  std::lock_guard<std::mutex> lock(mutex_);
  size_t total = 0;
  for (const DeviceBuffer& w : workspaces_) total += w.bytes();
  return total;
}

std::vector<StepProfile> Program::Profile(const float* input, int n, int repeats) {
  CheckRunBatch(n);
  INCEPTION_CHECK(repeats >= 1 && repeats <= 10000, kCodeInvalidArgument, "Expected an integer between 1 and 10000 for repeats but received ", repeats);
  // Overlap mode: a slot of its own for the input and output, and nothing else in flight.
  std::unique_ptr<SlotLease> lease;
  int slot = 0;
  if (options_.overlap_transfers) {
    slot = TakeSlot(/*wait=*/true);
    lease = std::make_unique<SlotLease>(this, slot);
  }
  std::lock_guard<std::mutex> lock(mutex_);
  CUDA_CHECK(cudaSetDevice(options_.device));
  if (options_.overlap_transfers) DrainStreams();
  const bool fresh = batches_.find(n) == batches_.end();
  Batch& batch = SetupBatch(n);
  if (fresh) SaveAlgoCache();
  const size_t in_count = static_cast<size_t>(InputElements(n));
  if (options_.overlap_transfers) {
    CopyFiniteInput(reinterpret_cast<float*>(host_in_[slot].get()), input, in_count, static_cast<unsigned>(options_.copy_threads));
  } else {
    CopyInput(input, n);
  }
  cudaStream_t main = streams_[0]->get();
  const size_t steps = plan_.steps.size();
  // Entry e: 0 = input conversion, 1..steps = plan steps, steps + 1 = output conversion.
  const size_t entries = steps + 2;
  std::vector<std::unique_ptr<Event>> starts, stops;
  for (size_t e = 0; e < entries; ++e) {
    starts.push_back(std::make_unique<Event>(true));
    stops.push_back(std::make_unique<Event>(true));
  }
  std::vector<std::vector<float>> samples(entries);
  auto run_once = [&](bool timed) {
    // Strictly one entry after another: each waits for the previous entry's stop event.
    cudaEvent_t previous = nullptr;
    auto timed_entry = [&](size_t e, cudaStream_t stream, const std::function<void()>& enqueue) {
      if (previous != nullptr) CUDA_CHECK(cudaStreamWaitEvent(stream, previous, 0));
      CUDA_CHECK(cudaEventRecord(starts[e]->get(), stream));
      enqueue();
      CUDA_CHECK(cudaEventRecord(stops[e]->get(), stream));
      previous = stops[e]->get();
    };
    timed_entry(0, main, [&] {
      CUDA_CHECK(cudaMemcpyAsync(io_in_.get(), host_in_[slot].get(), in_count * sizeof(float), cudaMemcpyHostToDevice, main));
      TensorView in = View(plan_.input, n);
      if (IsNhwc(options_.precision)) in.c = PaddedChannels(in.c, options_.precision);
      LaunchInputConvert(reinterpret_cast<const float*>(io_in_.get()), input_channels_, in, main);
      CheckLaunch("input conversion");
    });
    for (size_t i = 0; i < steps; ++i) {
      const PlanStep& s = plan_.steps[i];
      try {
        timed_entry(i + 1, StreamOf(i), [&] { RunStep(i, s, n, batch); });
      } catch (Error& e) {
        e.WithStep(s.name);
        throw;
      }
    }
    timed_entry(steps + 1, main, [&] {
      const size_t out_count = static_cast<size_t>(n) * output_features_;
      LaunchOutputConvert(View(plan_.output, n), reinterpret_cast<float*>(io_out_.get()), main);
      CheckLaunch("output conversion");
      CUDA_CHECK(cudaMemcpyAsync(host_out_[slot].get(), io_out_.get(), out_count * sizeof(float), cudaMemcpyDeviceToHost, main));
    });
    CUDA_CHECK(cudaEventSynchronize(stops[steps + 1]->get()));
    if (!timed) return;
    for (size_t e = 0; e < entries; ++e) {
      float ms = 0;
      CUDA_CHECK(cudaEventElapsedTime(&ms, starts[e]->get(), stops[e]->get()));
      samples[e].push_back(ms);
    }
  };
  try {
    run_once(false);  // warm-up: lazy cuDNN initialisation, caches
    for (int r = 0; r < repeats; ++r) run_once(true);
  } catch (...) {
    SynchronizeAll();
    cudaGetLastError();
    throw;
  }
  auto median = [](std::vector<float> v) {
    std::sort(v.begin(), v.end());
    const size_t m = v.size() / 2;
    return v.size() % 2 == 1 ? static_cast<double>(v[m]) : (static_cast<double>(v[m - 1]) + v[m]) / 2.0;
  };
  std::vector<StepProfile> out;
  StepProfile input_entry;
  input_entry.step = "input-convert";
  input_entry.ms = median(samples[0]);
  input_entry.path = "kernel";
  out.push_back(input_entry);
  for (size_t i = 0; i < steps; ++i) {
    const PlanStep& s = plan_.steps[i];
    StepProfile p;
    p.step = s.name;
    p.index = static_cast<int>(i);
    p.ms = median(samples[i + 1]);
    p.stream = s.stream;
    p.path = "kernel";
    if (conv_of_step_[i] >= 0) {
      const ConvStep& c = batch.convs[static_cast<size_t>(conv_of_step_[i])];
      p.path = c.PathName();
      p.algo = static_cast<int>(c.algo);
      p.workspace_bytes = c.workspace_bytes;
      p.description = c.Describe();
    } else if (pool_of_step_[i] >= 0) {
      const PoolStep& pool = batch.pools[static_cast<size_t>(pool_of_step_[i])];
      p.path = pool.use_kernel ? "pool-kernel" : "cudnn";
      if (pool.cudnn_ms > 0 || pool.kernel_ms > 0) {
        p.description = Concat("pool setup: cudnn ", pool.cudnn_ms, " ms, pool-kernel ", pool.kernel_ms, " ms");
      }
    }
    out.push_back(p);
  }
  StepProfile output_entry;
  output_entry.step = "output-convert";
  output_entry.ms = median(samples[steps + 1]);
  output_entry.path = "kernel";
  out.push_back(output_entry);
  return out;
}

std::vector<ConvChoice> Program::Choices() const {
  std::lock_guard<std::mutex> lock(mutex_);
  std::vector<ConvChoice> out;
  for (const auto& [n, batch] : batches_) {
    for (const ConvStep& c : batch->convs) {
      // The decision only: the graphs and streams stages compare these across programs.
      out.push_back({c.name, n, c.DescribeDecision(), c.split, c.via_scratch, c.workspace_bytes, c.from_cache});
    }
  }
  return out;
}

std::vector<GraphInfo> Program::Graphs() const {
  std::lock_guard<std::mutex> lock(mutex_);
  std::vector<GraphInfo> out;
  for (const auto& entry : batches_) {
    const int n = entry.first;
    GraphInfo info;
    info.n = n;
    auto found = graphs_.find(n);
    if (!options_.graphs) {
      info.reason = "disabled (compile option cudaGraphs: false, or INCEPTION_CUDA_GRAPHS=0)";
    } else if (found == graphs_.end()) {
      info.reason = Concat("not captured yet: 0 of ", kEagerRunsBeforeCapture, " eager warm-up runs done");
    } else if (found->second.graph) {
      info.captured = true;
      info.nodes = found->second.graph->nodes();
    } else if (!found->second.reason.empty() && found->second.failed) {
      info.reason = found->second.reason;
    } else {
      info.reason = Concat("not captured yet: ", found->second.eager_runs, " of ", kEagerRunsBeforeCapture,
                           " eager warm-up runs done", found->second.reason.empty() ? "" : "; " + found->second.reason);
    }
    out.push_back(info);
  }
  return out;
}

}  // namespace inception::cuda
