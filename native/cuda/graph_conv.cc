#include "cuda/graph_conv.h"

#include <algorithm>
#include <set>
#include <utility>

#include "cuda/cuda_error.h"
#include "cuda/cudnn_loader.h"
#include "cuda/graph_conv_layout.h"

namespace inception::cuda {

using cudnn::BackendAttributeName;
using cudnn::BackendAttributeType;
using cudnn::BackendDescriptorType;
using cudnn::Status;

// The finalized descriptors of one spec. Tensors and operations stay alive as long as any plan
// made from the graph does (they are referenced by the operation graph).
struct GraphConvGraph {
  std::string shapes;
  std::vector<BackendDesc> tensors;  // x, w, bias, (z), y, then the virtual intermediates
  BackendDesc conv_desc;
  std::vector<BackendDesc> pointwise_descs;
  std::vector<BackendDesc> ops;  // conv fprop, then the pointwise ops in order
  BackendDesc op_graph;
  std::vector<int64_t> pack_uids;      // graph_conv_layout.h VariantPackUids
  std::vector<int64_t> pack_alignment;  // declared byte alignment of each, same order
};

struct GraphEngineConfig {
  BackendDesc config;  // from the heuristics' results (finalized by cuDNN)
  int index = 0;       // in GraphConv::configs_
  int64_t engine_id = -1;
  const char* heuristic = "";  // "A" or "FALLBACK"
  std::vector<int> numerical_notes;
  bool notes_known = false;
  bool runtime_compiled = false;
};

namespace {

const char* TypeName(BackendDescriptorType t) {
  switch (t) {
    case BackendDescriptorType::kPointwise: return "CUDNN_BACKEND_POINTWISE_DESCRIPTOR";
    case BackendDescriptorType::kConvolution: return "CUDNN_BACKEND_CONVOLUTION_DESCRIPTOR";
    case BackendDescriptorType::kEngine: return "CUDNN_BACKEND_ENGINE_DESCRIPTOR";
    case BackendDescriptorType::kEngineCfg: return "CUDNN_BACKEND_ENGINECFG_DESCRIPTOR";
    case BackendDescriptorType::kEngineHeur: return "CUDNN_BACKEND_ENGINEHEUR_DESCRIPTOR";
    case BackendDescriptorType::kExecutionPlan: return "CUDNN_BACKEND_EXECUTION_PLAN_DESCRIPTOR";
    case BackendDescriptorType::kOperationConvolutionForward:
      return "CUDNN_BACKEND_OPERATION_CONVOLUTION_FORWARD_DESCRIPTOR";
    case BackendDescriptorType::kOperationPointwise: return "CUDNN_BACKEND_OPERATION_POINTWISE_DESCRIPTOR";
    case BackendDescriptorType::kOperationGraph: return "CUDNN_BACKEND_OPERATIONGRAPH_DESCRIPTOR";
    case BackendDescriptorType::kVariantPack: return "CUDNN_BACKEND_VARIANT_PACK_DESCRIPTOR";
    case BackendDescriptorType::kTensor: return "CUDNN_BACKEND_TENSOR_DESCRIPTOR";
  }
  return "CUDNN_BACKEND_<unknown>_DESCRIPTOR";
}

const char* AttributeName(BackendAttributeName a) {
  switch (a) {
    case BackendAttributeName::kPointwiseMode: return "CUDNN_ATTR_POINTWISE_MODE";
    case BackendAttributeName::kPointwiseMathPrec: return "CUDNN_ATTR_POINTWISE_MATH_PREC";
    case BackendAttributeName::kConvolutionCompType: return "CUDNN_ATTR_CONVOLUTION_COMP_TYPE";
    case BackendAttributeName::kConvolutionConvMode: return "CUDNN_ATTR_CONVOLUTION_CONV_MODE";
    case BackendAttributeName::kConvolutionDilations: return "CUDNN_ATTR_CONVOLUTION_DILATIONS";
    case BackendAttributeName::kConvolutionFilterStrides: return "CUDNN_ATTR_CONVOLUTION_FILTER_STRIDES";
    case BackendAttributeName::kConvolutionPostPaddings: return "CUDNN_ATTR_CONVOLUTION_POST_PADDINGS";
    case BackendAttributeName::kConvolutionPrePaddings: return "CUDNN_ATTR_CONVOLUTION_PRE_PADDINGS";
    case BackendAttributeName::kConvolutionSpatialDims: return "CUDNN_ATTR_CONVOLUTION_SPATIAL_DIMS";
    case BackendAttributeName::kEngineHeurMode: return "CUDNN_ATTR_ENGINEHEUR_MODE";
    case BackendAttributeName::kEngineHeurOperationGraph: return "CUDNN_ATTR_ENGINEHEUR_OPERATION_GRAPH";
    case BackendAttributeName::kEngineHeurResults: return "CUDNN_ATTR_ENGINEHEUR_RESULTS";
    case BackendAttributeName::kEngineCfgEngine: return "CUDNN_ATTR_ENGINECFG_ENGINE";
    case BackendAttributeName::kExecutionPlanHandle: return "CUDNN_ATTR_EXECUTION_PLAN_HANDLE";
    case BackendAttributeName::kExecutionPlanEngineConfig: return "CUDNN_ATTR_EXECUTION_PLAN_ENGINE_CONFIG";
    case BackendAttributeName::kExecutionPlanWorkspaceSize: return "CUDNN_ATTR_EXECUTION_PLAN_WORKSPACE_SIZE";
    case BackendAttributeName::kOperationConvolutionForwardAlpha: return "CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_ALPHA";
    case BackendAttributeName::kOperationConvolutionForwardBeta: return "CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_BETA";
    case BackendAttributeName::kOperationConvolutionForwardConvDesc:
      return "CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_CONV_DESC";
    case BackendAttributeName::kOperationConvolutionForwardW: return "CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_W";
    case BackendAttributeName::kOperationConvolutionForwardX: return "CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_X";
    case BackendAttributeName::kOperationConvolutionForwardY: return "CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_Y";
    case BackendAttributeName::kOperationPointwisePwDescriptor: return "CUDNN_ATTR_OPERATION_POINTWISE_PW_DESCRIPTOR";
    case BackendAttributeName::kOperationPointwiseXDesc: return "CUDNN_ATTR_OPERATION_POINTWISE_XDESC";
    case BackendAttributeName::kOperationPointwiseBDesc: return "CUDNN_ATTR_OPERATION_POINTWISE_BDESC";
    case BackendAttributeName::kOperationPointwiseYDesc: return "CUDNN_ATTR_OPERATION_POINTWISE_YDESC";
    case BackendAttributeName::kOperationGraphHandle: return "CUDNN_ATTR_OPERATIONGRAPH_HANDLE";
    case BackendAttributeName::kOperationGraphOps: return "CUDNN_ATTR_OPERATIONGRAPH_OPS";
    case BackendAttributeName::kTensorByteAlignment: return "CUDNN_ATTR_TENSOR_BYTE_ALIGNMENT";
    case BackendAttributeName::kTensorDataType: return "CUDNN_ATTR_TENSOR_DATA_TYPE";
    case BackendAttributeName::kTensorDimensions: return "CUDNN_ATTR_TENSOR_DIMENSIONS";
    case BackendAttributeName::kTensorStrides: return "CUDNN_ATTR_TENSOR_STRIDES";
    case BackendAttributeName::kTensorUniqueId: return "CUDNN_ATTR_TENSOR_UNIQUE_ID";
    case BackendAttributeName::kTensorIsVirtual: return "CUDNN_ATTR_TENSOR_IS_VIRTUAL";
    case BackendAttributeName::kVariantPackUniqueIds: return "CUDNN_ATTR_VARIANT_PACK_UNIQUE_IDS";
    case BackendAttributeName::kVariantPackDataPointers: return "CUDNN_ATTR_VARIANT_PACK_DATA_POINTERS";
    case BackendAttributeName::kVariantPackWorkspace: return "CUDNN_ATTR_VARIANT_PACK_WORKSPACE";
    case BackendAttributeName::kEngineGlobalIndex: return "CUDNN_ATTR_ENGINE_GLOBAL_INDEX";
    case BackendAttributeName::kEngineNumericalNote: return "CUDNN_ATTR_ENGINE_NUMERICAL_NOTE";
    case BackendAttributeName::kEngineBehaviorNote: return "CUDNN_ATTR_ENGINE_BEHAVIOR_NOTE";
  }
  return "CUDNN_ATTR_<unknown>";
}

// The status name with cuDNN's own detail for the last error on this thread, when it has one.
std::string StatusText(const cudnn::Api& api, Status st) {
  const char* known = cudnn::StatusName(st);
  std::string text = known ? known : Concat("CUDNN_STATUS_", static_cast<int>(st));
  if (api.GetLastErrorString) {
    char detail[512] = {0};
    api.GetLastErrorString(detail, sizeof(detail));
    if (detail[0] != '\0') text += Concat(" (cuDNN says: ", detail, ")");
  }
  return text;
}

// Throws inception::Error naming the call, the attribute and what it was for (with the shapes).
void Check(Status st, const char* call, const char* attribute, const std::string& what) {
  if (st == Status::kSuccess) return;
  const std::string expr = attribute[0] != '\0' ? Concat(call, "(", attribute, ") for ", what) : Concat(call, " for ", what);
  ThrowCudnnStatus(st, expr.c_str(), __FILE__, __LINE__);
}

void Set(const cudnn::Api& api, const BackendDesc& d, BackendAttributeName name, BackendAttributeType type,
         int64_t count, const void* elements, const std::string& what) {
  Check(api.BackendSetAttribute(d.get(), name, type, count, elements), "cudnnBackendSetAttribute", AttributeName(name),
        what);
}

void SetDesc(const cudnn::Api& api, const BackendDesc& d, BackendAttributeName name, const BackendDesc& value,
             const std::string& what) {
  cudnn::BackendDescriptor raw = value.get();
  Set(api, d, name, BackendAttributeType::kBackendDescriptor, 1, &raw, what);
}

void Finalize(const cudnn::Api& api, const BackendDesc& d, const std::string& what) {
  Check(api.BackendFinalize(d.get()), "cudnnBackendFinalize", "", what);
}

std::string ViewText(const TensorView& v) {
  return Concat("[", v.n, ",", v.c, ",", v.h, ",", v.w, "] strides [", v.sn, ",", v.sc, ",", v.sh, ",", v.sw, "]");
}

graph::TensorLayout LayoutOf(const TensorView& v) { return graph::ViewLayout(v.n, v.c, v.h, v.w, v.sn, v.sc, v.sh, v.sw); }

BackendDesc MakeTensor(const cudnn::Api& api, int64_t uid, cudnn::DataType type, const graph::TensorLayout& layout,
                       int64_t alignment, bool is_virtual, const std::string& what) {
  BackendDesc d(api, BackendDescriptorType::kTensor, what);
  Set(api, d, BackendAttributeName::kTensorDataType, BackendAttributeType::kDataType, 1, &type, what);
  Set(api, d, BackendAttributeName::kTensorDimensions, BackendAttributeType::kInt64, 4, layout.dims, what);
  Set(api, d, BackendAttributeName::kTensorStrides, BackendAttributeType::kInt64, 4, layout.strides, what);
  Set(api, d, BackendAttributeName::kTensorUniqueId, BackendAttributeType::kInt64, 1, &uid, what);
  Set(api, d, BackendAttributeName::kTensorByteAlignment, BackendAttributeType::kInt64, 1, &alignment, what);
  if (is_virtual) {
    const bool yes = true;
    Set(api, d, BackendAttributeName::kTensorIsVirtual, BackendAttributeType::kBoolean, 1, &yes, what);
  }
  Finalize(api, d, what);
  return d;
}

// One pointwise op y = mode(x[, b]) (fp32 math) appended to the graph.
void AddPointwise(const cudnn::Api& api, GraphConvGraph& g, cudnn::PointwiseMode mode, const BackendDesc& x,
                  const BackendDesc* b, const BackendDesc& y, const std::string& what) {
  BackendDesc pw(api, BackendDescriptorType::kPointwise, what);
  const cudnn::DataType precision = cudnn::DataType::kFloat;
  Set(api, pw, BackendAttributeName::kPointwiseMode, BackendAttributeType::kPointwiseMode, 1, &mode, what);
  Set(api, pw, BackendAttributeName::kPointwiseMathPrec, BackendAttributeType::kDataType, 1, &precision, what);
  Finalize(api, pw, what);
  BackendDesc op(api, BackendDescriptorType::kOperationPointwise, what);
  SetDesc(api, op, BackendAttributeName::kOperationPointwisePwDescriptor, pw, what);
  SetDesc(api, op, BackendAttributeName::kOperationPointwiseXDesc, x, what);
  if (b) SetDesc(api, op, BackendAttributeName::kOperationPointwiseBDesc, *b, what);
  SetDesc(api, op, BackendAttributeName::kOperationPointwiseYDesc, y, what);
  Finalize(api, op, what);
  g.pointwise_descs.push_back(std::move(pw));
  g.ops.push_back(std::move(op));
}

std::shared_ptr<GraphConvGraph> BuildGraph(const cudnn::Api& api, cudnn::Handle handle, const GraphConvSpec& s) {
  auto g = std::make_shared<GraphConvGraph>();
  g->shapes = s.Shapes();
  const std::string of = " of graph conv " + g->shapes;
  const bool nhwc = IsNhwc(s.precision);
  const cudnn::DataType io = s.precision == Precision::kFp16 ? cudnn::DataType::kHalf : cudnn::DataType::kFloat;
  const cudnn::DataType f32 = cudnn::DataType::kFloat;
  const int k = s.y.c;
  auto align = [](const void* p) { return graph::PointerAlignment(reinterpret_cast<uintptr_t>(p)); };

  // Real tensors, in variant-pack order (x, w, bias, (z), y).
  g->pack_uids = graph::VariantPackUids(s.residual);
  for (int64_t uid : g->pack_uids) {
    graph::TensorLayout layout;
    const void* data = nullptr;
    const char* name = "";
    switch (uid) {
      case graph::kUidX: layout = LayoutOf(s.x), data = s.x.data, name = "tensor x"; break;
      case graph::kUidW:
        layout = graph::FilterLayout(k, s.in_channels, s.kernel[0], s.kernel[1], nhwc), data = s.w, name = "tensor w";
        break;
      case graph::kUidBias: layout = graph::BiasLayout(k, nhwc), data = s.bias, name = "tensor bias"; break;
      case graph::kUidZ: layout = LayoutOf(s.y), data = s.y.data, name = "tensor z (= y)"; break;
      default: layout = LayoutOf(s.y), data = s.y.data, name = "tensor y"; break;
    }
    int64_t alignment = align(data);
    if ((uid == graph::kUidY || uid == graph::kUidZ) && s.y_run) alignment = std::min(alignment, align(s.y_run));
    g->pack_alignment.push_back(alignment);
    g->tensors.push_back(MakeTensor(api, uid, io, layout, alignment, false, name + of));
  }
  auto real = [&](int64_t uid) -> const BackendDesc& {
    const size_t i = static_cast<size_t>(std::find(g->pack_uids.begin(), g->pack_uids.end(), uid) - g->pack_uids.begin());
    return g->tensors[i];
  };
  // Virtual fp32 intermediates, packed in the data's layout.
  const graph::TensorLayout inner = graph::PackedLayout(s.y.n, k, s.y.h, s.y.w, nhwc);
  const std::vector<int64_t> inner_uids = graph::IntermediateUids(s.residual, s.relu);
  const size_t first_inner = g->tensors.size();
  for (int64_t uid : inner_uids) {
    g->tensors.push_back(MakeTensor(api, uid, f32, inner, 16, true, Concat("virtual tensor ", uid, of)));
  }
  auto virt = [&](size_t i) -> const BackendDesc& { return g->tensors[first_inner + i]; };

  // The convolution (cross-correlation, fp32 accumulation, symmetric padding, no dilation).
  g->conv_desc = BackendDesc(api, BackendDescriptorType::kConvolution, "the convolution descriptor" + of);
  {
    const std::string what = "the convolution descriptor" + of;
    const cudnn::ConvolutionMode mode = cudnn::ConvolutionMode::kCrossCorrelation;
    const int64_t spatial = 2, dilations[2] = {1, 1}, strides[2] = {s.stride[0], s.stride[1]},
                  pads[2] = {s.pad[0], s.pad[1]};
    Set(api, g->conv_desc, BackendAttributeName::kConvolutionCompType, BackendAttributeType::kDataType, 1, &f32, what);
    Set(api, g->conv_desc, BackendAttributeName::kConvolutionConvMode, BackendAttributeType::kConvolutionMode, 1, &mode,
        what);
    Set(api, g->conv_desc, BackendAttributeName::kConvolutionSpatialDims, BackendAttributeType::kInt64, 1, &spatial,
        what);
    Set(api, g->conv_desc, BackendAttributeName::kConvolutionDilations, BackendAttributeType::kInt64, 2, dilations, what);
    Set(api, g->conv_desc, BackendAttributeName::kConvolutionFilterStrides, BackendAttributeType::kInt64, 2, strides,
        what);
    Set(api, g->conv_desc, BackendAttributeName::kConvolutionPrePaddings, BackendAttributeType::kInt64, 2, pads, what);
    Set(api, g->conv_desc, BackendAttributeName::kConvolutionPostPaddings, BackendAttributeType::kInt64, 2, pads, what);
    Finalize(api, g->conv_desc, what);
  }
  {
    const std::string what = "the conv fprop operation" + of;
    BackendDesc op(api, BackendDescriptorType::kOperationConvolutionForward, what);
    const float alpha = 1.0f, beta = 0.0f;
    SetDesc(api, op, BackendAttributeName::kOperationConvolutionForwardX, real(graph::kUidX), what);
    SetDesc(api, op, BackendAttributeName::kOperationConvolutionForwardW, real(graph::kUidW), what);
    SetDesc(api, op, BackendAttributeName::kOperationConvolutionForwardY, virt(0), what);
    SetDesc(api, op, BackendAttributeName::kOperationConvolutionForwardConvDesc, g->conv_desc, what);
    Set(api, op, BackendAttributeName::kOperationConvolutionForwardAlpha, BackendAttributeType::kFloat, 1, &alpha, what);
    Set(api, op, BackendAttributeName::kOperationConvolutionForwardBeta, BackendAttributeType::kFloat, 1, &beta, what);
    Finalize(api, op, what);
    g->ops.push_back(std::move(op));
  }
  // conv -> + bias -> (+ z) -> (relu); the last op writes y.
  size_t next = 1;  // the next virtual tensor to write
  const BackendDesc& y = real(graph::kUidY);
  auto out = [&]() -> const BackendDesc& { return next < inner_uids.size() ? virt(next) : y; };
  {
    const BackendDesc& dst = out();
    AddPointwise(api, *g, cudnn::PointwiseMode::kAdd, virt(0), &real(graph::kUidBias), dst, "the bias add" + of);
    ++next;
  }
  if (s.residual) {
    const BackendDesc& src = virt(next - 1);
    const BackendDesc& dst = out();
    AddPointwise(api, *g, cudnn::PointwiseMode::kAdd, src, &real(graph::kUidZ), dst, "the residual add" + of);
    ++next;
  }
  if (s.relu) {
    const BackendDesc& src = virt(next - 1);
    AddPointwise(api, *g, cudnn::PointwiseMode::kReluFwd, src, nullptr, y, "the ReLU" + of);
  }

  const std::string what = "the operation graph" + of;
  g->op_graph = BackendDesc(api, BackendDescriptorType::kOperationGraph, what);
  std::vector<cudnn::BackendDescriptor> ops;
  for (const BackendDesc& op : g->ops) ops.push_back(op.get());
  Set(api, g->op_graph, BackendAttributeName::kOperationGraphHandle, BackendAttributeType::kHandle, 1, &handle, what);
  Set(api, g->op_graph, BackendAttributeName::kOperationGraphOps, BackendAttributeType::kBackendDescriptor,
      static_cast<int64_t>(ops.size()), ops.data(), what);
  Finalize(api, g->op_graph, what);
  return g;
}

// Reads the engine behind a config: its global index and its notes (notes stay unknown when
// cuDNN does not answer; the precision filter then decides).
void DescribeEngine(const cudnn::Api& api, GraphEngineConfig& c, const std::string& of) {
  const std::string what = Concat("the engine of heuristic config ", c.index, of);
  BackendDesc engine(api, BackendDescriptorType::kEngine, what);
  cudnn::BackendDescriptor raw = engine.get();
  int64_t count = 0;
  Check(api.BackendGetAttribute(c.config.get(), BackendAttributeName::kEngineCfgEngine,
                                BackendAttributeType::kBackendDescriptor, 1, &count, &raw),
        "cudnnBackendGetAttribute", AttributeName(BackendAttributeName::kEngineCfgEngine), what);
  Check(api.BackendGetAttribute(engine.get(), BackendAttributeName::kEngineGlobalIndex, BackendAttributeType::kInt64, 1,
                                &count, &c.engine_id),
        "cudnnBackendGetAttribute", AttributeName(BackendAttributeName::kEngineGlobalIndex), what);
  // More slots than any cuDNN 9 defines (10 numerical notes, 4 behaviour notes in 9.6).
  cudnn::NumericalNote notes[32];
  count = 0;
  if (api.BackendGetAttribute(engine.get(), BackendAttributeName::kEngineNumericalNote,
                              BackendAttributeType::kNumericalNote, 32, &count, notes) == Status::kSuccess) {
    c.notes_known = true;
    for (int64_t i = 0; i < std::min<int64_t>(count, 32); ++i) c.numerical_notes.push_back(static_cast<int>(notes[i]));
  }
  cudnn::BehaviorNote behavior[32];
  count = 0;
  if (api.BackendGetAttribute(engine.get(), BackendAttributeName::kEngineBehaviorNote,
                              BackendAttributeType::kBehaviorNote, 32, &count, behavior) == Status::kSuccess) {
    for (int64_t i = 0; i < std::min<int64_t>(count, 32); ++i) {
      if (behavior[i] == cudnn::BehaviorNote::kRuntimeCompilation) c.runtime_compiled = true;
    }
  }
}

}  // namespace

// ---- BackendDesc ----

BackendDesc::BackendDesc(const cudnn::Api& api, BackendDescriptorType type, const std::string& what) : api_(&api) {
  const Status st = api.BackendCreateDescriptor(type, &desc_);
  if (st != Status::kSuccess) {
    desc_ = nullptr;
    Check(st, "cudnnBackendCreateDescriptor", TypeName(type), what);
  }
}

BackendDesc::~BackendDesc() { Reset(); }

BackendDesc::BackendDesc(BackendDesc&& o) noexcept
    : api_(o.api_), desc_(std::exchange(o.desc_, nullptr)) {}

BackendDesc& BackendDesc::operator=(BackendDesc&& o) noexcept {
  if (this != &o) {
    Reset();
    api_ = o.api_;
    desc_ = std::exchange(o.desc_, nullptr);
  }
  return *this;
}

void BackendDesc::Reset() noexcept {
  if (desc_ && api_) api_->BackendDestroyDescriptor(desc_);  // teardown: nothing to do about a failure
  desc_ = nullptr;
}

// ---- GraphConvSpec ----

std::string GraphConvSpec::Shapes() const {
  return Concat("x ", ViewText(x), " w [", y.c, ",", in_channels, ",", kernel[0], ",", kernel[1], "] pad ", pad[0], ",",
                pad[1], " stride ", stride[0], ",", stride[1], " y ", ViewText(y), relu ? " relu" : "",
                residual ? " residual" : "", " ", PrecisionName(precision));
}

// ---- GraphConvPlan ----

GraphConvPlan::GraphConvPlan(std::shared_ptr<const GraphConvGraph> graph,
                             std::shared_ptr<const GraphEngineConfig> config, BackendDesc plan, size_t workspace_bytes)
    : graph_(std::move(graph)), config_(std::move(config)), plan_(std::move(plan)), workspace_bytes_(workspace_bytes) {}

GraphConvPlan::~GraphConvPlan() = default;

int64_t GraphConvPlan::engine_id() const { return config_->engine_id; }
int GraphConvPlan::config_index() const { return config_->index; }

std::string GraphConvPlan::Label() const {
  return Concat("graph engine ", config_->engine_id, " (config ", config_->index, ", heuristic ", config_->heuristic,
                config_->runtime_compiled ? ", runtime-compiled" : "", ")");
}

void GraphConvPlan::Execute(const cudnn::Api& api, cudnn::Handle handle, const void* x, const void* w,
                            const void* bias, void* y, void* workspace, size_t workspace_bytes) const {
  const std::string of = " of graph conv " + graph_->shapes;
  INCEPTION_CHECK(workspace_bytes >= workspace_bytes_ && (workspace != nullptr || workspace_bytes_ == 0), kCodeNative,
                  Label(), " needs ", workspace_bytes_, " workspace bytes, got ", workspace_bytes, of);
  const void* pointers[5] = {x, w, bias, y, workspace};
  std::lock_guard<std::mutex> lock(pack_mutex_);
  if (!pack_.get() || !std::equal(pointers, pointers + 5, pack_pointers_)) {
    // Each tensor's pointer must keep the alignment its descriptor declared at setup.
    std::vector<void*> data;
    for (size_t i = 0; i < graph_->pack_uids.size(); ++i) {
      const int64_t uid = graph_->pack_uids[i];
      const void* p = uid == graph::kUidX ? x : uid == graph::kUidW ? w : uid == graph::kUidBias ? bias : y;
      const int64_t have = graph::PointerAlignment(reinterpret_cast<uintptr_t>(p));
      INCEPTION_CHECK(have >= graph_->pack_alignment[i], kCodeNative, "tensor uid ", uid, " is ", have,
                      "-byte aligned at run time but its descriptor declared ", graph_->pack_alignment[i], of);
      data.push_back(const_cast<void*>(p));
    }
    const std::string what = "the variant pack of " + Label() + of;
    BackendDesc pack(api, BackendDescriptorType::kVariantPack, what);
    Set(api, pack, BackendAttributeName::kVariantPackUniqueIds, BackendAttributeType::kInt64,
        static_cast<int64_t>(graph_->pack_uids.size()), graph_->pack_uids.data(), what);
    Set(api, pack, BackendAttributeName::kVariantPackDataPointers, BackendAttributeType::kVoidPtr,
        static_cast<int64_t>(data.size()), data.data(), what);
    Set(api, pack, BackendAttributeName::kVariantPackWorkspace, BackendAttributeType::kVoidPtr, 1, &workspace, what);
    Finalize(api, pack, what);
    pack_ = std::move(pack);
    std::copy(pointers, pointers + 5, pack_pointers_);
  }
  Check(api.BackendExecute(handle, plan_.get(), pack_.get()), "cudnnBackendExecute", "", Label() + of);
}

// ---- GraphConv ----

GraphConv::GraphConv(const cudnn::Api& api, cudnn::Handle handle, const GraphConvSpec& spec)
    : api_(&api), handle_(handle), precision_(PrecisionName(spec.precision)) {
  std::shared_ptr<GraphConvGraph> g = BuildGraph(api, handle, spec);
  graph_ = g;
  const std::string of = " of graph conv " + g->shapes;
  std::set<int64_t> engines_seen;
  const std::pair<cudnn::HeurMode, const char*> modes[2] = {{cudnn::HeurMode::kA, "A"},
                                                            {cudnn::HeurMode::kFallback, "FALLBACK"}};
  for (const auto& [mode, mode_name] : modes) {
    // A mode that fails (or an engine that cannot be described) is noted; the other mode may work.
    try {
      AddHeuristicConfigs(mode, mode_name, of, engines_seen);
    } catch (const Error& e) {
      heuristic_notes_ += Concat("; graph heuristics mode ", mode_name, ": ", e.message());
    }
  }
}

void GraphConv::AddHeuristicConfigs(cudnn::HeurMode mode, const char* mode_name, const std::string& of,
                                    std::set<int64_t>& engines_seen) {
  const cudnn::Api& api = *api_;
  const std::string what = Concat("the heuristics (mode ", mode_name, ")", of);
  BackendDesc heur(api, BackendDescriptorType::kEngineHeur, what);
  SetDesc(api, heur, BackendAttributeName::kEngineHeurOperationGraph, graph_->op_graph, what);
  Set(api, heur, BackendAttributeName::kEngineHeurMode, BackendAttributeType::kHeurMode, 1, &mode, what);
  Finalize(api, heur, what);
  int64_t count = 0;
  Check(api.BackendGetAttribute(heur.get(), BackendAttributeName::kEngineHeurResults,
                                BackendAttributeType::kBackendDescriptor, 0, &count, nullptr),
        "cudnnBackendGetAttribute", AttributeName(BackendAttributeName::kEngineHeurResults), what + " (count)");
  if (count <= 0) return;
  // cuDNN fills descriptors we create: one ENGINECFG descriptor per result, created first.
  std::vector<BackendDesc> configs;
  std::vector<cudnn::BackendDescriptor> raw;
  for (int64_t i = 0; i < count; ++i) {
    configs.emplace_back(api, BackendDescriptorType::kEngineCfg, what);
    raw.push_back(configs.back().get());
  }
  int64_t got = 0;
  Check(api.BackendGetAttribute(heur.get(), BackendAttributeName::kEngineHeurResults,
                                BackendAttributeType::kBackendDescriptor, count, &got, raw.data()),
        "cudnnBackendGetAttribute", AttributeName(BackendAttributeName::kEngineHeurResults), what);
  for (int64_t i = 0; i < std::min(got, count); ++i) {
    auto c = std::make_shared<GraphEngineConfig>();
    c->config = std::move(configs[static_cast<size_t>(i)]);
    c->index = static_cast<int>(configs_.size());
    c->heuristic = mode_name;
    try {
      DescribeEngine(api, *c, of);
    } catch (const Error& e) {
      heuristic_notes_ += Concat("; graph heuristics mode ", mode_name, " result ", i, ": ", e.message());
      continue;
    }
    if (!engines_seen.insert(c->engine_id).second) continue;  // one config per engine
    configs_.push_back(std::move(c));
  }
}

GraphConv::~GraphConv() = default;

size_t GraphConv::config_count() const { return configs_.size(); }

std::shared_ptr<const GraphConvPlan> GraphConv::FinalizePlan(size_t index, size_t workspace_limit,
                                                             std::string& notes) const {
  const GraphEngineConfig& c = *configs_[index];
  const std::string name = Concat("graph engine ", c.engine_id, " (config ", c.index, ")");
  const std::string rejection = graph::EngineRejection(precision_, c.numerical_notes, c.notes_known);
  if (!rejection.empty()) {
    notes += Concat("; ", name, ": not for ", precision_, ", ", rejection);
    return nullptr;
  }
  const std::string what = "the execution plan of " + name + " of graph conv " + graph_->shapes;
  BackendDesc plan(*api_, BackendDescriptorType::kExecutionPlan, what);
  cudnn::BackendDescriptor config_raw = c.config.get();
  Set(*api_, plan, BackendAttributeName::kExecutionPlanHandle, BackendAttributeType::kHandle, 1, &handle_, what);
  Set(*api_, plan, BackendAttributeName::kExecutionPlanEngineConfig, BackendAttributeType::kBackendDescriptor, 1,
      &config_raw, what);
  // An engine that cannot run this graph says so here: a dropped candidate, not an error.
  const Status st = api_->BackendFinalize(plan.get());
  if (st != Status::kSuccess) {
    notes += Concat("; ", name, ": finalize ", StatusText(*api_, st));
    return nullptr;
  }
  int64_t workspace = 0, count = 0;
  Check(api_->BackendGetAttribute(plan.get(), BackendAttributeName::kExecutionPlanWorkspaceSize,
                                  BackendAttributeType::kInt64, 1, &count, &workspace),
        "cudnnBackendGetAttribute", AttributeName(BackendAttributeName::kExecutionPlanWorkspaceSize), what);
  if (workspace < 0 || static_cast<uint64_t>(workspace) > workspace_limit) {
    notes += Concat("; ", name, ": needs ", workspace, " workspace bytes (> ", workspace_limit, ")");
    return nullptr;
  }
  return std::make_shared<GraphConvPlan>(graph_, configs_[index], std::move(plan), static_cast<size_t>(workspace));
}

std::vector<std::shared_ptr<const GraphConvPlan>> GraphConv::Plans(size_t workspace_limit, int max_plans,
                                                                   int max_attempts, std::string& notes) const {
  std::vector<std::shared_ptr<const GraphConvPlan>> out;
  notes += heuristic_notes_;
  if (configs_.empty()) notes += "; graph API: the heuristics returned no engine config";
  int attempts = 0;
  for (size_t i = 0; i < configs_.size() && static_cast<int>(out.size()) < max_plans; ++i) {
    if (graph::EngineRejection(precision_, configs_[i]->numerical_notes, configs_[i]->notes_known).empty()) {
      if (attempts == max_attempts) {
        notes += Concat("; graph API: stopped after ", max_attempts, " plan finalizations");
        break;
      }
      ++attempts;
    }
    if (auto plan = FinalizePlan(i, workspace_limit, notes)) out.push_back(std::move(plan));
  }
  return out;
}

std::shared_ptr<const GraphConvPlan> GraphConv::PlanAt(int config_index, int64_t engine_id, size_t workspace_limit,
                                                       std::string& notes) const {
  notes += heuristic_notes_;
  if (config_index < 0 || static_cast<size_t>(config_index) >= configs_.size() ||
      configs_[static_cast<size_t>(config_index)]->engine_id != engine_id) {
    notes += Concat("; the cached graph engine ", engine_id, " (config ", config_index,
                    ") is no longer in the heuristics' list");
    return nullptr;
  }
  return FinalizePlan(static_cast<size_t>(config_index), workspace_limit, notes);
}

}  // namespace inception::cuda
