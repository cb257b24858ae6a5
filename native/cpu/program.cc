#include "cpu/program.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <unordered_map>
#include <utility>

#include "core/error.h"
#include "cpu/alignment.h"
#include "cpu/check.h"
#include "cpu/loops.h"
#include "cpu/thread_team.h"

namespace inception::cpu {

using dnnl::algorithm;
using dnnl::memory;
using dnnl::prop_kind;

struct CpuProgram::StepExec {
  std::string name, impl, shapes;
  bool is_primitive = false;
  dnnl::primitive primitive;
  std::unordered_map<int, memory> args;
  memory::desc scratch_desc;
  int64_t scratch_bytes = 0;
  std::function<void()> loop;
  // Per-image mode (steps reading or writing a channel view): the primitive was made for one image
  // with dense descriptors and runs `images` times, moving these args by one image each time.
  int32_t images = 0;
  struct MovingArg {
    int arg;
    uint8_t* first;        // the arg's data for image 0
    int64_t image_stride;  // bytes between images
  };
  std::vector<MovingArg> moving;
  // Staged mode (a view step at batch n > 1 with little work per image): the primitive runs once
  // on the whole batch with dense descriptors; view args live in the staging buffer and are
  // copied in (a view input, or a view output that already holds the residual) and out, per image.
  bool staged = false;
  struct StagedArg {
    int arg;
    int64_t offset;        // bytes into the staging buffer
    uint8_t* view;         // the view's data for image 0 in the arena
    int64_t view_stride;   // bytes between images in the arena
    int64_t image_bytes;   // bytes of one image of the slice (contiguous in the arena and in staging)
    bool copy_in, copy_out;
  };
  std::vector<StagedArg> staged_args;
  int64_t staging_bytes = 0;
  // Converted args (BindConverted): the primitive reads or writes a staging copy in the step's
  // data type; reorders convert between it and the arena buffer before and after the primitive.
  struct ConvertedArg {
    int arg;
    int64_t offset;  // bytes into the staging buffer
    memory arena;    // the tensor in the arena, in its buffer's type
    dnnl::reorder in, out;
    bool copy_in, copy_out;
  };
  std::vector<ConvertedArg> converted;
};

struct CpuProgram::BatchExec {
  int32_t n = 0;
  memory input_user, input_buffer, output_buffer, output_user;
  dnnl::reorder input_reorder, output_reorder;
  std::vector<StepExec> steps;
};

namespace {
std::atomic<int64_t> g_live_programs{0};
}  // namespace

int64_t CpuProgram::LiveCount() { return g_live_programs.load(); }

Bf16Fp32Steps Bf16Fp32StepsFromEnv() {
  Bf16Fp32Steps steps;
  const char* value = std::getenv("INCEPTION_CPU_BF16_FP32");
  if (value == nullptr) return steps;
  steps = {false, false};
  const std::string text(value);
  if (text == "none") return steps;
  size_t start = 0;
  while (start <= text.size()) {
    const size_t end = std::min(text.find(',', start), text.size());
    const std::string item = text.substr(start, end - start);
    if (item == "first") steps.first = true;
    else if (item == "classifier") steps.classifier = true;
    else throw Error(kCodeInvalidArgument, "", Concat("INCEPTION_CPU_BF16_FP32='", text, "': expected 'none' or a comma list of 'first' and 'classifier', got '", item, "'"));
    start = end + 1;
  }
  return steps;
}

CpuProgram::CpuProgram(const Plan& plan, int32_t threads, ConvAlgorithm conv_algorithm, bool benchmark, Precision precision)
    : plan_(plan), threads_(threads), conv_algorithm_(conv_algorithm), benchmark_(benchmark), precision_(precision) {
  if (precision_ == Precision::kBf16 && !DetectIsa().bf16_native) throw Error("E_DEVICE", "", Bf16Refusal(DetectIsa()), "compile");
  UseThreads(threads_);
  engine_ = DnnlCall("dnnl::engine(cpu, 0)", [] { return dnnl::engine(dnnl::engine::kind::cpu, 0); });
  stream_ = DnnlCall("dnnl::stream", [&] { return dnnl::stream(engine_); });

  const CpuIsa isa = DetectIsa();
  // oneDNN 2.6's fp32 Winograd kernels are AVX-512 (avx512_core) only.
  winograd_isa_ = isa.channel_block == 16;
  const int32_t input_buffer = plan_.tensors[plan_.input].buffer;
  for (size_t i = 0; i < plan_.buffers.size(); ++i) {
    const PlanBuffer& b = plan_.buffers[i];
    const int32_t block = static_cast<int32_t>(i) == input_buffer ? 1 : isa.channel_block;
    layouts_.push_back(MakeBufferLayout(b, block));
  }
  AssignDataTypes();
  for (size_t i = 0; i < plan_.buffers.size(); ++i) {
    const PlanBuffer& b = plan_.buffers[i];
    const int64_t needed = static_cast<int64_t>(BufferDesc(layouts_[i], plan_.batch).get_size());
    INCEPTION_CHECK_PLAN(needed <= b.bytes, "buffer ", i, " [", b.n, ",", b.c, ",", b.h, ",", b.w, "] needs ", needed,
                         " bytes in layout ", LayoutName(layouts_[i]), " but the plan reserves ", b.bytes,
                         " (was the plan made with this backend's layoutPolicy()?)");
    INCEPTION_CHECK_PLAN(b.offset % kAlignment == 0, "buffer ", i, " offset ", b.offset, " is not ", kAlignment,
                         "-byte aligned");
  }

  arena_bytes_ = RoundUp(plan_.arena_bytes, kAlignment);
  arena_.reset(AlignedAlloc(arena_bytes_, "activation arena"));
  // Zeroed once so padded channels never hold non-finite garbage (0 * NaN would poison a conv).
  std::memset(arena_.get(), 0, static_cast<size_t>(arena_bytes_));

  weights_.resize(plan_.steps.size());
  oihw_weights_.resize(plan_.steps.size());
  params_a_.resize(plan_.steps.size());
  params_b_.resize(plan_.steps.size());
  winograd_1d_.resize(plan_.steps.size());
  small_map_.resize(plan_.steps.size());
  for (size_t i = 0; i < plan_.steps.size(); ++i) {
    const PlanStep& s = plan_.steps[i];
    if (s.op == OpKind::kConv2d || s.op == OpKind::kLinear || s.op == OpKind::kAffine) {
      if (s.op == OpKind::kAffine) params_a_[i].assign(plan_.weights + s.weight.offset, plan_.weights + s.weight.offset + s.weight.length);
      else params_a_[i].assign(plan_.weights + s.bias.offset, plan_.weights + s.bias.offset + s.bias.length);
      if (s.op == OpKind::kAffine) params_b_[i].assign(plan_.weights + s.bias.offset, plan_.weights + s.bias.offset + s.bias.length);
      weight_bytes_ += static_cast<int64_t>((params_a_[i].size() + params_b_[i].size()) * sizeof(float));
    }
    if (s.op == OpKind::kConv2d && UsesWinograd1d(s)) {
      const PlanTensor& in = plan_.tensors[s.inputs[0]];
      const PlanTensor& out = plan_.tensors[s.output];
      const Winograd1dShape shape{in.c, out.c, out.h, out.w, s.kernel[0] == 1, s.relu};
      try {
        winograd_1d_[i] = std::make_unique<Winograd1dConv>(engine_, shape, plan_.weights + s.weight.offset, plan_.weights + s.bias.offset);
      } catch (Error& e) {
        e.WithStep(s.name).WithShapes(ShapesOf(s));
        throw;
      }
      weight_bytes_ += winograd_1d_[i]->weight_bytes();
    }
    if (MayUseSmallMap(s)) {
      try {
        small_map_[i] = std::make_unique<SmallMapConv>(SmallMapShapeOf(s), plan_.weights + s.weight.offset,
                                                       plan_.weights + s.bias.offset);
      } catch (Error& e) {
        e.WithStep(s.name).WithShapes(ShapesOf(s));
        throw;
      }
      weight_bytes_ += small_map_[i]->weight_bytes();
    }
    if (s.op == OpKind::kConv2d && MayUseWinograd(s)) {
      oihw_weights_[i].assign(plan_.weights + s.weight.offset, plan_.weights + s.weight.offset + s.weight.length);
      weight_bytes_ += static_cast<int64_t>(oihw_weights_[i].size() * sizeof(float));
    }
  }
  ExecFor(plan_.batch);  // creates the batch-max primitives and reorders every weight once
  plan_.weights = nullptr;
  plan_.weight_count = 0;
  ++g_live_programs;  // last: a constructor that throws never counted
}

CpuProgram::~CpuProgram() {
  if (!released_) --g_live_programs;
}

void CpuProgram::Release() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!released_) --g_live_programs;
  released_ = true;
  execs_.clear();
  weights_.clear();
  oihw_weights_.clear();
  params_a_.clear();
  params_b_.clear();
  winograd_1d_.clear();
  small_map_.clear();
  kernel_workspace_.reset();
  arena_.reset();
  scratch_.reset();
  staging_.reset();
}

int64_t CpuProgram::InputElements(int32_t n) const {
  const PlanTensor& t = plan_.tensors[plan_.input];
  return int64_t{n} * t.c * t.h * t.w;
}

int64_t CpuProgram::OutputElements(int32_t n) const {
  const PlanTensor& t = plan_.tensors[plan_.output];
  return int64_t{n} * t.c * t.h * t.w;
}

memory::desc CpuProgram::DescOf(int32_t tensor, int32_t n) const {
  return TensorDesc(LayoutOf(tensor), plan_.tensors[tensor], n);
}

TensorAccess CpuProgram::AccessOf(int32_t tensor, int32_t n) const {
  return MakeAccess(arena_.get(), LayoutOf(tensor), plan_.tensors[tensor], n);
}

std::string CpuProgram::ShapesOf(const PlanStep& step) const {
  std::string s;
  auto describe = [&](const char* role, int32_t index) {
    const PlanTensor& t = plan_.tensors[index];
    s += Concat(s.empty() ? "" : ", ", role, " ", ShapeString({t.n, t.c, t.h, t.w}), " ",
                LayoutName(layouts_[t.buffer]), t.channel_offset != 0 || t.c != layouts_[t.buffer].c
                    ? Concat(" view at channel ", t.channel_offset, " of ", layouts_[t.buffer].c)
                    : std::string());
  };
  for (int32_t in : step.inputs) describe("input", in);
  describe("output", step.output);
  if (step.op == OpKind::kConv2d || step.op == OpKind::kMaxPool2d || step.op == OpKind::kAvgPool2d) {
    s += Concat(", kernel ", step.kernel[0], "x", step.kernel[1], " stride ", step.stride[0], "x", step.stride[1],
                " pad ", step.pad[0], "x", step.pad[1]);
  }
  return s;
}

// Under bf16: convs and pools compute in bf16 on bf16 buffers, except the steps Bf16Fp32Steps
// keeps in fp32: the first convolution (its input, the normalised image, would lose all but 8
// bits; its bf16 output is written through a conversion), and the global pool and classifier,
// which read the last bf16 features through a conversion and write fp32. The loops (the L2 norm)
// are fp32 only and so are their buffers: the network's output is always fp32.
void CpuProgram::AssignDataTypes() {
  using dt = memory::data_type;
  compute_types_.assign(plan_.steps.size(), dt::f32);
  if (precision_ != Precision::kBf16) return;
  const Bf16Fp32Steps keep = Bf16Fp32StepsFromEnv();
  const int32_t input_buffer = plan_.tensors[plan_.input].buffer;
  std::vector<bool> f32_buffer(plan_.buffers.size(), false);
  f32_buffer[static_cast<size_t>(input_buffer)] = keep.first;
  for (size_t i = 0; i < plan_.steps.size(); ++i) {
    const PlanStep& s = plan_.steps[i];
    bool reads_input = false;
    for (int32_t t : s.inputs) reads_input = reads_input || plan_.tensors[t].buffer == input_buffer;
    bool f32 = true, writes_f32 = true;
    switch (s.op) {
      case OpKind::kConv2d:
      case OpKind::kMaxPool2d:
      case OpKind::kAvgPool2d:
        f32 = reads_input && keep.first;
        writes_f32 = false;
        break;
      case OpKind::kGlobalAvgPool: f32 = writes_f32 = keep.classifier; break;
      case OpKind::kLinear: f32 = keep.classifier; break;  // a bf16 linear writes fp32 too
      default: break;                                      // the fp32 loops
    }
    compute_types_[i] = f32 ? dt::f32 : dt::bf16;
    if (writes_f32) f32_buffer[static_cast<size_t>(plan_.tensors[s.output].buffer)] = true;
  }
  for (size_t b = 0; b < layouts_.size(); ++b) layouts_[b].data_type = f32_buffer[b] ? dt::f32 : dt::bf16;
}

memory::desc CpuProgram::DenseDescAs(int32_t tensor, int32_t n, memory::data_type type) const {
  const PlanTensor& t = plan_.tensors[tensor];
  BufferLayout slice = LayoutOf(tensor);
  slice.c = t.c;
  slice.padded_c = (int64_t{t.c} + slice.block - 1) / slice.block * slice.block;
  slice.data_type = type;
  return BufferDesc(slice, n);
}

void CpuProgram::BindConverted(StepExec* exec, int arg, int32_t tensor, int32_t n, const memory::desc& staged,
                               bool copy_in, bool copy_out) {
  DnnlCall("reorder(fp32 <-> bf16 conversion)", [&] {
    StepExec::ConvertedArg c;
    c.arg = arg;
    c.offset = exec->staging_bytes;
    c.arena = memory(DescOf(tensor, n), engine_, arena_.get() + LayoutOf(tensor).offset);
    exec->args[arg] = memory(staged, engine_, DNNL_MEMORY_NONE);  // pointed into staging at run time
    c.copy_in = copy_in;
    c.copy_out = copy_out;
    if (copy_in) c.in = dnnl::reorder(c.arena, exec->args[arg]);
    if (copy_out) c.out = dnnl::reorder(exec->args[arg], c.arena);
    exec->converted.push_back(std::move(c));
    exec->staging_bytes += RoundUp(static_cast<int64_t>(staged.get_size()), kAlignment);
    return 0;
  });
}

bool CpuProgram::IsView(int32_t tensor) const {
  const PlanTensor& t = plan_.tensors[tensor];
  return t.channel_offset != 0 || t.c != layouts_[t.buffer].c;
}

// A tensor's channel slice as a dense descriptor of n images. oneDNN's JIT kernels refuse the
// strided descriptor of a channel view at any batch (they fall back to ref:any), but within one
// image a block-aligned channel slice of nChw{B}c (or of plain NCHW) is contiguous, so per image
// (n = 1), or copied image by image into a buffer of its own (staged), it is a dense tensor.
memory::desc CpuProgram::SliceDesc(int32_t tensor, int32_t n) const {
  const PlanTensor& t = plan_.tensors[tensor];
  const BufferLayout& l = layouts_[t.buffer];
  TensorDesc(l, t, 1);  // the alignment check, with its E_PLAN message
  BufferLayout slice = l;
  slice.c = t.c;
  slice.padded_c = (int64_t{t.c} + l.block - 1) / l.block * l.block;
  return BufferDesc(slice, n);
}

// Steps on views: one image at a time (each run a dense batch-1 primitive on the view in place)
// keeps big steps copy-free, but at batch n > 1 a step with little work per image then runs n
// small, badly parallelised primitives; below these limits it runs once on the whole batch
// through dense staging copies instead (measured on IR-v1 at batch 8: the per-image 7x1/1x7
// and 3x3 convs on 17x17 and 8x8 maps ran ~2x slower than one batched primitive).
namespace {
constexpr double kStagedConvMacsPerImage = 32e6;
constexpr double kStagedPoolOutputsPerImage = 128e3;
}  // namespace

CpuProgram::ViewMode CpuProgram::ModeFor(const PlanStep& step, int32_t n) const {
  if (!IsView(step.inputs[0]) && !IsView(step.output)) return ViewMode::kDense;
  if (n == 1) return ViewMode::kPerImage;
  const PlanTensor& in = plan_.tensors[step.inputs[0]];
  const PlanTensor& out = plan_.tensors[step.output];
  const double outputs = static_cast<double>(out.c) * out.h * out.w;
  if (step.op == OpKind::kConv2d || step.op == OpKind::kLinear) {
    const double macs = outputs * in.c * step.kernel[0] * step.kernel[1];
    return macs < kStagedConvMacsPerImage ? ViewMode::kStaged : ViewMode::kPerImage;
  }
  return outputs < kStagedPoolOutputsPerImage ? ViewMode::kStaged : ViewMode::kPerImage;
}

memory::desc CpuProgram::StepDesc(int32_t tensor, int32_t n, ViewMode mode) const {
  switch (mode) {
    case ViewMode::kDense: return DescOf(tensor, n);
    case ViewMode::kPerImage: return ImageDesc(tensor);
    case ViewMode::kStaged: return IsView(tensor) ? SliceDesc(tensor, n) : DescOf(tensor, n);
  }
  return DescOf(tensor, n);
}

uint8_t* CpuProgram::ImagePointer(int32_t tensor) const {
  const PlanTensor& t = plan_.tensors[tensor];
  const BufferLayout& l = layouts_[t.buffer];
  return arena_.get() + l.offset + int64_t{t.channel_offset} * t.h * t.w * l.ElementBytes();
}

int64_t CpuProgram::ImageStride(int32_t tensor) const {
  return LayoutOf(tensor).ImageBytes();
}

CpuProgram::BatchExec& CpuProgram::ExecFor(int32_t n) {
  auto found = execs_.find(n);
  if (found != execs_.end()) return *found->second;
  std::unique_ptr<BatchExec> exec = CreateExec(n);
  BatchExec& ref = *exec;
  execs_.emplace(n, std::move(exec));
  return ref;
}

std::unique_ptr<CpuProgram::BatchExec> CpuProgram::CreateExec(int32_t n) {
  auto exec = std::make_unique<BatchExec>();
  exec->n = n;
  for (size_t i = 0; i < plan_.steps.size(); ++i) {
    const PlanStep& step = plan_.steps[i];
    try {
      switch (step.op) {
        case OpKind::kConv2d:
          if (winograd_1d_[i]) exec->steps.push_back(CreateWinograd1d(i, step, n));
          else if (small_map_[i] && small_map_[i]->Fits(n)) exec->steps.push_back(CreateSmallMap(i, step, n));
          else exec->steps.push_back(CreateConv(i, step, n));
          break;
        case OpKind::kLinear: exec->steps.push_back(CreateConv(i, step, n)); break;
        case OpKind::kMaxPool2d:
        case OpKind::kAvgPool2d:
        case OpKind::kGlobalAvgPool: exec->steps.push_back(CreatePool(i, step, n)); break;
        default: exec->steps.push_back(CreateLoop(i, step, n)); break;
      }
    } catch (Error& e) {
      e.WithStep(step.name).WithShapes(ShapesOf(step));
      throw;
    }
    exec->steps.back().name = step.name;
    exec->steps.back().shapes = ShapesOf(step);
  }

  // One shared scratchpad: grow it if this batch size needs more, then point every primitive at it.
  int64_t scratch = 0;
  for (const StepExec& s : exec->steps) scratch = std::max(scratch, s.scratch_bytes);
  EnsureScratch(scratch);
  int64_t staging = 0;
  for (const StepExec& s : exec->steps) staging = std::max(staging, s.staging_bytes);
  EnsureStaging(staging);
  for (StepExec& s : exec->steps) {
    if (s.scratch_bytes > 0) s.args[DNNL_ARG_SCRATCHPAD] = memory(s.scratch_desc, engine_, scratch_.get());
  }

  const PlanTensor& in = plan_.tensors[plan_.input];
  const PlanTensor& out = plan_.tensors[plan_.output];
  DnnlCall("reorder(input, output)", [&] {
    exec->input_user = memory({{n, in.c, in.h, in.w}, memory::data_type::f32, memory::format_tag::nchw}, engine_,
                              DNNL_MEMORY_NONE);
    exec->input_buffer = memory(DescOf(plan_.input, n), engine_, arena_.get() + LayoutOf(plan_.input).offset);
    exec->input_reorder = dnnl::reorder(exec->input_user, exec->input_buffer);
    exec->output_buffer = memory(DescOf(plan_.output, n), engine_, arena_.get() + LayoutOf(plan_.output).offset);
    exec->output_user = memory({{n, out.c, out.h, out.w}, memory::data_type::f32, memory::format_tag::nchw}, engine_,
                               DNNL_MEMORY_NONE);
    exec->output_reorder = dnnl::reorder(exec->output_buffer, exec->output_user);
    return 0;
  });
  return exec;
}

bool CpuProgram::Grow(AlignedPtr<uint8_t>* buffer, int64_t* size, int64_t bytes, const char* what) {
  if (bytes <= *size) return false;
  buffer->reset(AlignedAlloc(bytes, what));
  *size = bytes;
  return true;
}

void CpuProgram::EnsureScratch(int64_t bytes) {
  if (!Grow(&scratch_, &scratch_bytes_, bytes, "oneDNN scratchpad")) return;
  for (auto& [batch, exec] : execs_) {
    for (StepExec& s : exec->steps) {
      if (s.scratch_bytes > 0) s.args[DNNL_ARG_SCRATCHPAD].set_data_handle(scratch_.get());
    }
  }
}

void CpuProgram::EnsureStaging(int64_t bytes) {
  Grow(&staging_, &staging_bytes_, bytes, "staging buffer for channel views");  // args point into it at run time
}

CpuProgram::StepExec CpuProgram::CreateConv(size_t index, const PlanStep& step, int32_t n) {
  const PlanTensor& in = plan_.tensors[step.inputs[0]];
  const PlanTensor& out = plan_.tensors[step.output];
  const memory::dims weight_dims = {out.c, in.c, step.kernel[0], step.kernel[1]};
  const ViewMode mode = ModeFor(step, n);
  const memory::data_type compute = ComputeType(index);
  memory::desc src = StepDesc(step.inputs[0], n, mode);
  memory::desc dst = StepDesc(step.output, n, mode);
  // oneDNN's bf16 convolutions read bf16 and write bf16 or fp32; its fp32 ones are fp32 throughout.
  const bool convert_src = src.data_type() != compute;
  const bool convert_dst = compute == memory::data_type::f32 && dst.data_type() != compute;
  INCEPTION_CHECK_PLAN(mode == ViewMode::kDense || (!convert_src && !convert_dst),
                       "a step that converts between fp32 and bf16 reads or writes a channel view");
  if (convert_src) src = DenseDescAs(step.inputs[0], n, compute);
  if (convert_dst) dst = DenseDescAs(step.output, n, compute);

  dnnl::post_ops ops;
  if (step.residual != kNoTensor) ops.append_sum(1.0f);
  if (step.relu) ops.append_eltwise(1.0f, algorithm::eltwise_relu, 0.0f, 0.0f);
  dnnl::primitive_attr attr;
  attr.set_post_ops(ops);
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  auto describe = [&](algorithm alg) {
    return dnnl::convolution_forward::desc(
        prop_kind::forward_inference, alg, src, memory::desc(weight_dims, compute, memory::format_tag::any),
        memory::desc({out.c}, memory::data_type::f32, memory::format_tag::x), dst, {step.stride[0], step.stride[1]},
        {step.pad[0], step.pad[1]}, {step.pad[0], step.pad[1]});
  };
  dnnl::convolution_forward::primitive_desc pd;
  if (MayUseWinograd(step)) {
    const std::string key = Concat(in.c, ">", out.c, " ", in.h, "x", in.w, ">", out.h, "x", out.w, " pad ", step.pad[0], ",",
                                   step.pad[1], " n ", src.dims()[0], step.relu ? " relu" : "",
                                   step.residual != kNoTensor ? " sum" : "");
    pd = WinogradKernel(describe(algorithm::convolution_winograd), attr, key);
  }
  if (!pd) {
    pd = DnnlCall("convolution_forward::primitive_desc",
                  [&] { return dnnl::convolution_forward::primitive_desc(describe(algorithm::convolution_direct), attr, engine_); });
  }

  StepExec exec;
  exec.is_primitive = true;
  exec.impl = pd.impl_info_str();
  exec.primitive = DnnlCall("convolution_forward", [&] { return dnnl::convolution_forward(pd); });
  exec.scratch_desc = pd.scratchpad_desc();
  exec.scratch_bytes = static_cast<int64_t>(exec.scratch_desc.get_size());
  BindSrcDst(&exec, step, n, mode, src, dst);
  if (convert_src) BindConverted(&exec, DNNL_ARG_SRC, step.inputs[0], n, src, true, false);
  // A residual sum post-op reads the destination, which the plan filled with the residual first.
  if (convert_dst) BindConverted(&exec, DNNL_ARG_DST, step.output, n, dst, step.residual != kNoTensor, true);
  exec.args[DNNL_ARG_WEIGHTS] = WeightsFor(index, step, pd.weights_desc());
  exec.args[DNNL_ARG_BIAS] = memory(pd.bias_desc(), engine_, params_a_[index].data());
  return exec;
}

namespace {
constexpr double kSwitchFactor = 0.85;
bool IsReferenceImpl(const std::string& impl) { return impl.rfind("ref", 0) == 0 || impl.find("ref:") != std::string::npos; }
}  // namespace

// 'auto' for a 3x3 stride-1 conv: Winograd where oneDNN has a kernel, direct elsewhere. At small
// batches (and for steps run image by image) oneDNN 2.6 lists two fp32 Winograd kernels on AVX-512
// (F(2x2,3x3) "wino_2x3", F(4x4,3x3) "wino_4x3"), and its first choice is often not the fastest.
// Measured alone at batch 1, 2 threads: wino_4x3 0.22 vs wino_2x3 0.29 ms on IR-v1's 32->32
// 79x79, while on 32->32 17x17 wino_2x3 0.018 beats wino_4x3 0.025 ms. With benchmark on, every
// listed Winograd kernel (reference kernels excluded) is timed on zeroed scratch memory (TimeConv),
// and one replaces oneDNN's first kernel only when it is at least 1/kSwitchFactor - 1 = 18% faster:
// timed alone, candidates within ~10% of each other ranked the wrong way round in the network as
// often as not (wino_4x3 chosen for IR-v2's 48->64 35x35 at batch 1: 0.165 -> 0.177 ms in the
// network; both networks ~1% slower overall), while the 18-27% wins held there (IR-v1's stem 2a and
// 2b: 0.37 -> 0.31 and 0.66 -> 0.49 ms). Without benchmark, oneDNN's first Winograd kernel (direct
// when it has none).
//
// Decisions are kept for the life of the process, by conv shape, batch (1 for steps run image by
// image), post-ops and thread count: identical convs (a network's repeated blocks, and every later
// session with the same shapes) are timed once and run the same kernel, so two sessions of one
// process give bitwise the same results. Another process may decide otherwise on a near tie
// (results then differ at the ~1e-6 level); benchmark: false is the same in every process. Only
// the compute thread (compute_thread.h) creates programs and batch sizes, so no lock is needed.
namespace {
std::map<std::string, int32_t>& ConvChoices() {  // key -> index in oneDNN's Winograd list
  static std::map<std::string, int32_t> choices;
  return choices;
}
}  // namespace

dnnl::convolution_forward::primitive_desc CpuProgram::WinogradKernel(const dnnl::convolution_forward::desc& winograd,
                                                                     const dnnl::primitive_attr& attr,
                                                                     const std::string& key) {
  using PrimitiveDesc = dnnl::convolution_forward::primitive_desc;
  PrimitiveDesc pd;
  try {
    pd = PrimitiveDesc(winograd, attr, engine_);
  } catch (const dnnl::error&) {
    return {};  // no Winograd kernel for this shape, ISA or post-op list: direct
  }
  if (!benchmark_) return pd;
  // pd at oneDNN's list entry `index` (listing or timing moves a primitive_desc along its list).
  auto entry = [&](int32_t index) {
    return DnnlCall("convolution_forward::primitive_desc(winograd)", [&] {
      PrimitiveDesc at(winograd, attr, engine_);
      for (int32_t i = 0; i < index; ++i) at.next_impl();
      return at;
    });
  };
  const std::string keyed = Concat(key, " threads ", threads_);
  auto found = ConvChoices().find(keyed);
  if (found != ConvChoices().end()) return found->second == 0 ? pd : entry(found->second);

  // The list names some kernels twice (other configurations of the same kernel): only each name's
  // first entry is a candidate, and a list of one name (at larger batches, e.g. 8) is not timed.
  std::vector<int32_t> candidates;
  std::vector<std::string> names;
  int32_t index = 0;
  do {
    const std::string name = pd.impl_info_str();
    if (!IsReferenceImpl(name) && std::find(names.begin(), names.end(), name) == names.end()) {
      candidates.push_back(index);
      names.push_back(name);
    }
    ++index;
  } while (pd.next_impl());
  int32_t choice = 0;
  if (candidates.size() > 1 && candidates.front() == 0) {
    pd = entry(0);
    double best = 0;  // the time to beat: kSwitchFactor x oneDNN's first kernel's
    index = 0;
    do {
      if (std::find(candidates.begin(), candidates.end(), index) != candidates.end()) {
        const double ms = DnnlCall("convolution_forward(winograd candidate)", [&] { return TimeConv(pd); });
        if (index == 0) {
          best = ms * kSwitchFactor;
        } else if (ms < best) {
          best = ms;
          choice = index;
        }
      }
      ++index;
    } while (pd.next_impl());
  }
  ConvChoices().emplace(keyed, choice);
  return entry(choice);
}

// Milliseconds of one run of pd's primitive: the best of 3 after a warm-up, on zeroed memory of its
// own (the arena is not touched). In a run the weights come from DRAM (every network's weights are
// several times the L3 cache), and Winograd weights are 1.8x (F(2,3)) or 4x (F(4,3)) the direct
// ones, so each timed run reads a copy of the weights that the runs since have evicted: with hot
// weights wino_4x3 won IR-v1's 256->256 8x8 at batch 1 (0.10 vs 0.16 ms) but lost in the network
// (0.36 vs 0.25 ms). Copies: enough for kEvictBytes between two uses of one, at most kMaxCopies.
double CpuProgram::TimeConv(const dnnl::convolution_forward::primitive_desc& pd) {
  constexpr int64_t kEvictBytes = int64_t{64} << 20;
  constexpr int64_t kMaxCopies = 8;
  constexpr int kTimedRuns = 3;
  dnnl::convolution_forward conv(pd);
  auto zeroed = [&](const memory::desc& desc) {
    memory m(desc, engine_);
    std::memset(m.get_data_handle(), 0, desc.get_size());
    return m;
  };
  std::unordered_map<int, memory> args;
  for (const auto& [arg, desc] : {std::pair{DNNL_ARG_SRC, pd.src_desc()}, std::pair{DNNL_ARG_BIAS, pd.bias_desc()},
                                  std::pair{DNNL_ARG_DST, pd.dst_desc()}, std::pair{DNNL_ARG_SCRATCHPAD, pd.scratchpad_desc()}}) {
    if (desc.get_size() > 0) args[arg] = zeroed(desc);
  }
  const int64_t weight_bytes = std::max<int64_t>(static_cast<int64_t>(pd.weights_desc().get_size()), 1);
  const int64_t copies = std::clamp<int64_t>((kEvictBytes + weight_bytes - 1) / weight_bytes + 1, 2, kMaxCopies);
  std::vector<memory> weights;
  for (int64_t i = 0; i < copies; ++i) weights.push_back(zeroed(pd.weights_desc()));
  using Clock = std::chrono::steady_clock;
  double best = 0;
  for (int run = 0; run <= kTimedRuns; ++run) {  // run 0: the warm-up
    args[DNNL_ARG_WEIGHTS] = weights[static_cast<size_t>(run % copies)];
    const Clock::time_point start = Clock::now();
    conv.execute(stream_, args);
    stream_.wait();
    const double ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
    if (run == 1 || (run > 1 && ms < best)) best = ms;
  }
  return best;
}

void CpuProgram::BindSrcDst(StepExec* exec, const PlanStep& step, int32_t n, ViewMode mode, const memory::desc& src,
                            const memory::desc& dst) {
  const int32_t in = step.inputs[0];
  const int32_t out = step.output;
  if (mode == ViewMode::kDense) {
    exec->args[DNNL_ARG_SRC] = memory(src, engine_, arena_.get() + LayoutOf(in).offset);
    exec->args[DNNL_ARG_DST] = memory(dst, engine_, arena_.get() + LayoutOf(out).offset);
    return;
  }
  if (mode == ViewMode::kPerImage) {
    exec->images = n;
    exec->args[DNNL_ARG_SRC] = memory(src, engine_, ImagePointer(in));
    exec->args[DNNL_ARG_DST] = memory(dst, engine_, ImagePointer(out));
    exec->moving.push_back({DNNL_ARG_SRC, ImagePointer(in), ImageStride(in)});
    exec->moving.push_back({DNNL_ARG_DST, ImagePointer(out), ImageStride(out)});
    return;
  }
  exec->staged = true;
  auto bind = [&](int arg, int32_t tensor, const memory::desc& desc, bool copy_in, bool copy_out) {
    if (!IsView(tensor)) {
      exec->args[arg] = memory(desc, engine_, arena_.get() + LayoutOf(tensor).offset);
      return;
    }
    const int64_t bytes = static_cast<int64_t>(desc.get_size());
    const int64_t image_bytes = static_cast<int64_t>(ImageDesc(tensor).get_size());
    INCEPTION_CHECK_PLAN(image_bytes * n == bytes, "staged view of tensor ", tensor, ": ", bytes, " bytes for ", n,
                         " images of ", image_bytes);
    exec->staged_args.push_back({arg, exec->staging_bytes, ImagePointer(tensor), ImageStride(tensor), image_bytes, copy_in, copy_out});
    exec->args[arg] = memory(desc, engine_, DNNL_MEMORY_NONE);  // pointed into staging at run time
    exec->staging_bytes += RoundUp(bytes, kAlignment);
  };
  bind(DNNL_ARG_SRC, in, src, true, false);
  // A residual sum post-op reads the destination, which the plan filled with the residual first.
  bind(DNNL_ARG_DST, out, dst, step.residual != kNoTensor, true);
}

// Our own kernels (F(4,7), the small-map weight stream) and oneDNN's Winograd are fp32 only: under
// bf16 every convolution runs oneDNN's bf16 direct kernels (bench/cpu/README.md, bf16, measures
// the choice).
bool CpuProgram::UsesWinograd1d(const PlanStep& step) const {
  if (precision_ != Precision::kFp32 || conv_algorithm_ != ConvAlgorithm::kAuto || !winograd_isa_ || step.op != OpKind::kConv2d) return false;
  const PlanTensor& in = plan_.tensors[step.inputs[0]];
  const PlanTensor& out = plan_.tensors[step.output];
  if (!BlockedInAndOut(step, Winograd1dConv::kBlock) || in.h != out.h || in.w != out.w) return false;
  return Winograd1dConv::Supports(step.kernel, step.stride, step.pad, step.residual != kNoTensor, in.c, out.c,
                                  in.channel_offset, out.channel_offset);
}

// Whether the step's input and output buffers are both blocked by `block` channels (the graph
// input buffer alone is plain NCHW): what our own kernels address through BlockedSliceOf.
bool CpuProgram::BlockedInAndOut(const PlanStep& step, int32_t block) const {
  return LayoutOf(step.inputs[0]).block == block && LayoutOf(step.output).block == block;
}

BlockedSlice CpuProgram::BlockedSliceOf(int32_t tensor) const {
  return {reinterpret_cast<float*>(ImagePointer(tensor)), ImageStride(tensor) / static_cast<int64_t>(sizeof(float))};
}

// A 1x7 / 7x1 conv as winograd_1d.h's F(4,7): addresses its input and output slices directly
// (dense or concat view, any batch), so it needs no per-image runs or staging.
CpuProgram::StepExec CpuProgram::CreateWinograd1d(size_t index, const PlanStep& step, int32_t n) {
  Winograd1dConv* conv = winograd_1d_[index].get();
  EnsureKernelWorkspace(conv->Prepare(n));
  const BlockedSlice in = BlockedSliceOf(step.inputs[0]), out = BlockedSliceOf(step.output);
  StepExec exec;
  exec.impl = Winograd1dConv::kImpl;
  exec.loop = [this, conv, n, in, out] { conv->Run(n, in, out, kernel_workspace_.get(), stream_); };
  return exec;
}

void CpuProgram::EnsureKernelWorkspace(int64_t bytes) {
  // Steps read the workspace pointer at run time, so growing it for a new batch size is safe.
  Grow(&kernel_workspace_, &kernel_workspace_bytes_, bytes, "workspace of the CPU module's own kernels");
}

bool CpuProgram::MayUseSmallMap(const PlanStep& step) const {
  if (precision_ != Precision::kFp32 || conv_algorithm_ != ConvAlgorithm::kAuto || !winograd_isa_ || step.op != OpKind::kConv2d) return false;
  if (!BlockedInAndOut(step, SmallMapConv::kBlock)) return false;
  return SmallMapConv::Supports(SmallMapShapeOf(step), plan_.tensors[step.inputs[0]].channel_offset,
                                plan_.tensors[step.output].channel_offset);
}

SmallMapShape CpuProgram::SmallMapShapeOf(const PlanStep& step) const {
  const PlanTensor& in = plan_.tensors[step.inputs[0]];
  const PlanTensor& out = plan_.tensors[step.output];
  SmallMapShape shape;
  shape.cin = in.c;
  shape.cout = out.c;
  shape.in_h = in.h;
  shape.in_w = in.w;
  shape.out_h = out.h;
  shape.out_w = out.w;
  for (int i = 0; i < 2; ++i) {
    shape.kernel[i] = step.kernel[i];
    shape.stride[i] = step.stride[i];
    shape.pad[i] = step.pad[i];
  }
  shape.relu = step.relu;
  shape.residual = step.residual != kNoTensor;
  return shape;
}

// A conv step whose output at batch n is a few pixels, as small_map_conv.h's weight stream:
// addresses its input and output slices directly (dense or concat view), no staging.
CpuProgram::StepExec CpuProgram::CreateSmallMap(size_t index, const PlanStep& step, int32_t n) {
  const SmallMapConv* conv = small_map_[index].get();
  EnsureKernelWorkspace(conv->WorkspaceBytes());
  const BlockedSlice in = BlockedSliceOf(step.inputs[0]), out = BlockedSliceOf(step.output);
  StepExec exec;
  exec.impl = SmallMapConv::kImpl;
  exec.loop = [this, conv, n, in, out] { conv->Run(n, in, out, reinterpret_cast<float*>(kernel_workspace_.get())); };
  return exec;
}

bool CpuProgram::MayUseWinograd(const PlanStep& step) const {
  return precision_ == Precision::kFp32 && conv_algorithm_ == ConvAlgorithm::kAuto && winograd_isa_ && step.kernel[0] == 3 && step.kernel[1] == 3 && step.stride[0] == 1 &&
         step.stride[1] == 1;
}

memory CpuProgram::WeightsFor(size_t index, const PlanStep& step, const memory::desc& desc) {
  for (const memory& m : weights_[index]) {
    if (m.get_desc() == desc) return m;
  }
  const PlanTensor& in = plan_.tensors[step.inputs[0]];
  const PlanTensor& out = plan_.tensors[step.output];
  const memory::desc oihw({out.c, in.c, step.kernel[0], step.kernel[1]}, memory::data_type::f32, memory::format_tag::oihw);
  return DnnlCall("reorder(weights)", [&] {
    memory source;
    if (!oihw_weights_[index].empty()) {
      source = memory(oihw, engine_, oihw_weights_[index].data());  // kept: Winograd formats cannot be reordered from
    } else if (!weights_[index].empty()) {
      source = weights_[index].front();  // another batch size's format: reorder from it
    } else {
      if (plan_.weights == nullptr) throw Error(kCodeNative, "", "plan weights are gone before the first reorder", "WeightsFor");
      source = memory(oihw, engine_, const_cast<float*>(plan_.weights + step.weight.offset));
    }
    memory prepared(desc, engine_);
    dnnl::reorder(source, prepared).execute(stream_, source, prepared);
    stream_.wait();
    weights_[index].push_back(prepared);
    weight_bytes_ += static_cast<int64_t>(desc.get_size());
    return prepared;
  });
}

CpuProgram::StepExec CpuProgram::CreatePool(size_t index, const PlanStep& step, int32_t n) {
  const PlanTensor& in = plan_.tensors[step.inputs[0]];
  const ViewMode mode = ModeFor(step, n);
  const memory::data_type compute = ComputeType(index);
  memory::desc src = StepDesc(step.inputs[0], n, mode);
  memory::desc dst = StepDesc(step.output, n, mode);
  const bool convert_src = src.data_type() != compute;
  const bool convert_dst = dst.data_type() != compute;
  INCEPTION_CHECK_PLAN(mode == ViewMode::kDense || (!convert_src && !convert_dst),
                       "a step that converts between fp32 and bf16 reads or writes a channel view");
  if (convert_src) src = DenseDescAs(step.inputs[0], n, compute);
  if (convert_dst) dst = DenseDescAs(step.output, n, compute);
  algorithm alg = algorithm::pooling_max;
  memory::dims kernel = {step.kernel[0], step.kernel[1]}, stride = {step.stride[0], step.stride[1]},
               pad = {step.pad[0], step.pad[1]};
  if (step.op == OpKind::kAvgPool2d) {
    alg = step.count_include_pad ? algorithm::pooling_avg_include_padding : algorithm::pooling_avg_exclude_padding;
  } else if (step.op == OpKind::kGlobalAvgPool) {
    alg = algorithm::pooling_avg_exclude_padding;
    kernel = {in.h, in.w};
    stride = {1, 1};
    pad = {0, 0};
  }
  auto pd = DnnlCall("pooling_forward::primitive_desc", [&] {
    dnnl::primitive_attr attr;
    attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
    dnnl::pooling_forward::desc desc(prop_kind::forward_inference, alg, src, dst, stride, kernel, pad, pad);
    return dnnl::pooling_forward::primitive_desc(desc, attr, engine_);
  });
  StepExec exec;
  exec.is_primitive = true;
  exec.impl = pd.impl_info_str();
  exec.primitive = DnnlCall("pooling_forward", [&] { return dnnl::pooling_forward(pd); });
  exec.scratch_desc = pd.scratchpad_desc();
  exec.scratch_bytes = static_cast<int64_t>(exec.scratch_desc.get_size());
  BindSrcDst(&exec, step, n, mode, src, dst);
  if (convert_src) BindConverted(&exec, DNNL_ARG_SRC, step.inputs[0], n, src, true, false);
  if (convert_dst) BindConverted(&exec, DNNL_ARG_DST, step.output, n, dst, false, true);
  return exec;
}

CpuProgram::StepExec CpuProgram::CreateLoop(size_t index, const PlanStep& step, int32_t n) {
  StepExec exec;
  exec.impl = "loop";
  const TensorAccess out = AccessOf(step.output, n);
  const TensorAccess in = AccessOf(step.inputs[0], n);
  switch (step.op) {
    case OpKind::kRelu: exec.loop = [in, out] { ReluLoop(in, out); }; break;
    case OpKind::kResidualAdd: {
      const TensorAccess b = AccessOf(step.inputs[1], n);
      const float scale = step.scale;
      const bool relu = step.relu;
      exec.loop = [in, b, out, scale, relu] { ResidualAddLoop(in, b, out, scale, relu); };
      break;
    }
    case OpKind::kAffine: {
      const float* scale = params_a_[index].data();
      const float* shift = params_b_[index].data();
      const bool relu = step.relu;
      exec.loop = [in, out, scale, shift, relu] { AffineLoop(in, out, scale, shift, relu); };
      break;
    }
    case OpKind::kConcat: {
      std::vector<TensorAccess> inputs;
      for (int32_t t : step.inputs) inputs.push_back(AccessOf(t, n));
      exec.loop = [inputs, out] { ConcatLoop(inputs, out); };
      break;
    }
    case OpKind::kL2Norm: {
      const float eps = step.eps;
      exec.loop = [in, out, eps] { L2NormLoop(in, out, eps); };
      break;
    }
    case OpKind::kSoftmax: exec.loop = [in, out] { SoftmaxLoop(in, out); }; break;
    default: throw Error(kCodeNative, "", Concat("no loop for op kind ", static_cast<int32_t>(step.op)), "CreateLoop");
  }
  return exec;
}

namespace {
// Copies n images of a view between the arena and the staging buffer (each image's slice is contiguous).
template <typename StagedArg>
void CopyImages(const StagedArg& a, int32_t n, uint8_t* staging, bool into_staging) {
#pragma omp parallel for schedule(static)
  for (int32_t image = 0; image < n; ++image) {
    uint8_t* view = a.view + image * a.view_stride;
    uint8_t* dense = staging + a.offset + image * a.image_bytes;
    if (into_staging) std::memcpy(dense, view, static_cast<size_t>(a.image_bytes));
    else std::memcpy(view, dense, static_cast<size_t>(a.image_bytes));
  }
}

template <typename StepExec>
void RunConverted(StepExec& s, uint8_t* staging, dnnl::stream& stream) {
  for (auto& c : s.converted) {
    memory& staged = s.args[c.arg];
    staged.set_data_handle(staging + c.offset);
    if (c.copy_in) c.in.execute(stream, {{DNNL_ARG_FROM, c.arena}, {DNNL_ARG_TO, staged}});
  }
  s.primitive.execute(stream, s.args);
  for (auto& c : s.converted) {
    if (c.copy_out) c.out.execute(stream, {{DNNL_ARG_FROM, s.args[c.arg]}, {DNNL_ARG_TO, c.arena}});
  }
}

template <typename StepExec>
void RunStaged(StepExec& s, int32_t n, uint8_t* staging, dnnl::stream& stream) {
  for (auto& a : s.staged_args) {
    s.args[a.arg].set_data_handle(staging + a.offset);
    if (a.copy_in) CopyImages(a, n, staging, true);
  }
  s.primitive.execute(stream, s.args);
  stream.wait();
  for (const auto& a : s.staged_args) {
    if (a.copy_out) CopyImages(a, n, staging, false);
  }
}
}  // namespace

void CpuProgram::Run(const float* input, int32_t n, float* output) {
  std::lock_guard<std::mutex> lock(mutex_);
  Execute(input, n, output, nullptr);
}

std::vector<double> CpuProgram::Profile(const float* input, int32_t n, int32_t repeats, float* output,
                                       std::vector<double>* hot_ms) {
  std::lock_guard<std::mutex> lock(mutex_);
  INCEPTION_CHECK(repeats >= 1, kCodeInvalidArgument, "repeats must be at least 1, got ", repeats);
  Execute(input, n, output, nullptr);  // warm-up: first-touch of this batch size's memory
  std::vector<std::vector<double>> runs, hot_runs;
  for (int32_t r = 0; r < repeats; ++r) {
    std::vector<double> ms, hot;
    Execute(input, n, output, &ms, hot_ms != nullptr ? &hot : nullptr);
    runs.push_back(std::move(ms));
    hot_runs.push_back(std::move(hot));
  }
  auto medians = [](const std::vector<std::vector<double>>& by_run) {
    std::vector<double> median(by_run.front().size());
    std::vector<double> column(by_run.size());
    for (size_t i = 0; i < median.size(); ++i) {
      for (size_t r = 0; r < by_run.size(); ++r) column[r] = by_run[r][i];
      std::nth_element(column.begin(), column.begin() + column.size() / 2, column.end());
      median[i] = column[column.size() / 2];
    }
    return median;
  };
  if (hot_ms != nullptr) *hot_ms = medians(hot_runs);
  return medians(runs);
}

std::vector<StepImplementation> CpuProgram::ProfileEntries(int32_t n) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (released_) throw Error(kCodeDisposed, "", "this program has been disposed", "Program.profile");
  BatchExec& exec = ExecFor(n);
  std::vector<StepImplementation> result;
  result.push_back({"(input reorder nchw -> plan layout)", "reorder", n});
  for (const StepExec& s : exec.steps) result.push_back({s.name, s.staged ? s.impl + " (staged)" : s.images > 0 ? s.impl + " (per image)" : s.impl, n});
  result.push_back({"(output reorder -> nchw)", "reorder", n});
  return result;
}

void CpuProgram::Execute(const float* input, int32_t n, float* output, std::vector<double>* step_ms,
                         std::vector<double>* hot_ms) {
  if (released_) throw Error(kCodeDisposed, "", "this program has been disposed", "Program.run");
  INCEPTION_CHECK(n >= 1 && n <= plan_.batch, kCodeInvalidInput, "batch ", n, " is outside 1..", plan_.batch,
                  " (the plan's maximum batch)");
  UseThreads(threads_);
  BatchExec& exec = ExecFor(n);
  using Clock = std::chrono::steady_clock;
  Clock::time_point mark = Clock::now();
  auto lap = [&](std::vector<double>* into) {
    if (into == nullptr) return;
    stream_.wait();
    const Clock::time_point now = Clock::now();
    into->push_back(std::chrono::duration<double, std::milli>(now - mark).count());
    mark = now;
  };
  DnnlCall("reorder(input).execute", [&] {
    exec.input_user.set_data_handle(const_cast<float*>(input));
    exec.input_reorder.execute(stream_, exec.input_user, exec.input_buffer);
    return 0;
  });
  lap(step_ms);
  for (StepExec& s : exec.steps) {
    try {
      ExecuteStep(s, n);
      lap(step_ms);
      if (hot_ms != nullptr && step_ms != nullptr) {
        ExecuteStep(s, n);
        lap(hot_ms);
      }
    } catch (Error& e) {
      e.WithStep(s.name).WithShapes(s.shapes);
      throw;
    }
  }
  DnnlCall("reorder(output).execute", [&] {
    exec.output_user.set_data_handle(output);
    exec.output_reorder.execute(stream_, exec.output_buffer, exec.output_user);
    stream_.wait();
    return 0;
  });
  lap(step_ms);
}

// One step of batch n, as Execute runs it (the caller waits and times).
void CpuProgram::ExecuteStep(StepExec& s, int32_t n) {
  if (s.is_primitive) {
    DnnlCall("primitive::execute", [&] {
      if (!s.converted.empty()) {
        RunConverted(s, staging_.get(), stream_);
      } else if (s.staged) {
        RunStaged(s, n, staging_.get(), stream_);
      } else if (s.images == 0) {
        s.primitive.execute(stream_, s.args);
      } else {
        for (int32_t image = 0; image < s.images; ++image) {
          for (const StepExec::MovingArg& m : s.moving) {
            s.args[m.arg].set_data_handle(m.first + image * m.image_stride);
          }
          s.primitive.execute(stream_, s.args);
        }
      }
      return 0;
    });
  } else {
    stream_.wait();
    s.loop();
  }
}

std::vector<StepImplementation> CpuProgram::Implementations() {
  std::lock_guard<std::mutex> lock(mutex_);
  std::vector<StepImplementation> result;
  for (const auto& [batch, exec] : execs_) {
    for (const StepExec& s : exec->steps) {
      result.push_back({s.name, s.staged ? s.impl + " (staged)" : s.images > 0 ? s.impl + " (per image)" : s.impl, batch});
    }
  }
  return result;
}

}  // namespace inception::cpu
