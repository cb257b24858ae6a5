#include "cuda/conv_step.h"

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <memory>
#include <vector>

#include "cuda/algo_cache.h"

namespace inception::cuda {
namespace {

using cudnn::ConvFwdAlgo;
using cudnn::MathType;
using cudnn::Status;

const char* AlgoName(ConvFwdAlgo a) {
  static const char* names[] = {"IMPLICIT_GEMM", "IMPLICIT_PRECOMP_GEMM", "GEMM", "DIRECT", "FFT",
                                "FFT_TILING", "WINOGRAD", "WINOGRAD_NONFUSED"};
  int i = static_cast<int>(a);
  return i >= 0 && i < 8 ? names[i] : "UNKNOWN";
}

std::string ViewString(const TensorView& v) {
  return Concat("[", v.n, ",", v.c, ",", v.h, ",", v.w, "] strides [", v.sn, ",", v.sc, ",", v.sh, ",", v.sw, "]");
}

cudnn::DataType DataTypeOf(Precision p) { return p == Precision::kFp16 ? cudnn::DataType::kHalf : cudnn::DataType::kFloat; }

// The math type set before searching (fp32: no TF32; tf32: cuDNN's default, which allows TF32 on
// Ampere and newer; fp16: tensor cores).
MathType BaseMath(Precision p) {
  switch (p) {
    case Precision::kFp32: return MathType::kFma;
    case Precision::kTf32: return MathType::kDefault;
    case Precision::kFp16: return MathType::kTensorOp;
  }
  return MathType::kFma;
}

// The math type to run a search result with, or false to skip it.
bool RunMath(Precision p, MathType reported, MathType* out) {
  if (p == Precision::kFp32) {
    *out = MathType::kFma;  // never let a DEFAULT/TENSOR_OP result turn TF32 on
    return true;
  }
  if (reported == MathType::kTensorOpAllowConversion) return false;  // would round fp32 data to fp16
  *out = reported;
  return true;
}

void SetView(const cudnn::Api& api, cudnn::TensorDescriptor d, const TensorView& v, cudnn::DataType t) {
  int s[4];
  IntStrides(v, s);
  CUDNN_CHECK(api.SetTensor4dDescriptorEx(d, t, v.n, v.c, v.h, v.w, s[0], s[1], s[2], s[3]));
}

struct Candidate {
  ConvFwdAlgo algo;
  MathType math;
};

// One way to run the step: an algorithm with its math type, on one path; or a graph-API plan.
struct Decision {
  Candidate c;
  bool split = false;
  bool via_scratch = false;
  std::shared_ptr<const GraphConvPlan> graph;  // set: this plan runs the step (the rest is unused)
};

std::string Label(const Decision& d) {
  if (d.graph) return d.graph->Label();
  return Concat(AlgoName(d.c.algo), d.split ? " split" : " fused", d.via_scratch ? "+scratch" : "");
}

// mode: "timed" (benchmark: true, whole decisions keyed by the real y view) or "heuristic".
std::string CacheKey(const ConvStep& s, const ConvSetupContext& ctx, const TensorView& y) {
  return Concat(ctx.gpu_name, "|cudnn ", ctx.cudnn_version, "|", PrecisionName(ctx.precision), "|",
                ctx.benchmark ? "timed" : "heuristic", "|", s.relu ? "relu" : "identity", s.residual ? "+z" : "",
                "|x ", s.x.n, "x", s.x.c, "x", s.x.h, "x", s.x.w, ":", s.x.sn, "/", s.x.sc, "/", s.x.sh, "/", s.x.sw,
                "|w ", s.y.c, "x", s.in_channels, "x", s.kernel[0], "x", s.kernel[1], "|p ", s.pad[0], "/", s.pad[1],
                "|s ", s.stride[0], "/", s.stride[1], "|y ", y.sn, "/", y.sc, "/", y.sh, "/", y.sw);
}

// Trial layout: [packed scratch, rounded up to 256 bytes][y stand-in at y's offset in its buffer].
size_t PackedTrialRegion(const ConvStep& s) {
  if (IsPacked(s.y)) return 0;
  const size_t bytes = static_cast<size_t>(s.y.n) * s.y.c * s.y.h * s.y.w * (s.y.type == ElementType::kHalf ? 2 : 4);
  return (bytes + 255) / 256 * 256;
}

cudnn::TensorDescriptor OutDesc(const ConvStep& s, bool via_scratch) {
  return via_scratch ? s.packed_desc.get() : s.y_desc.get();
}

// Where setup runs write the direct output: the real y (nothing in the arena is live during
// setup), or the trial buffer at y's offset in its buffer when y overlaps x.
TensorView SetupOutput(const ConvStep& s, const ConvSetupContext& ctx) {
  TensorView y = s.y;
  if (ViewsOverlap(s.x, s.y)) y.data = ctx.trial + PackedTrialRegion(s) + s.y_offset_in_buffer;
  return y;
}

// The production sequence of the step as its fields say, writing `y` (s.y or its setup stand-in).
void Enqueue(const ConvStep& s, const TensorView& y, const cudnn::Api& api, cudnn::Handle handle, cudaStream_t stream,
             void* workspace, size_t workspace_bytes, void* scratch) {
  if (s.graph) {  // y = act(conv(x, w) + bias (+ y)), written into the real view directly
    s.graph->Execute(api, handle, s.x.data, s.w, s.bias, y.data, workspace, workspace_bytes);
    return;
  }
  const float one = 1.0f, zero = 0.0f;
  const float* alpha2 = s.residual ? &one : &zero;
  cudnn::TensorDescriptor out_desc = OutDesc(s, s.via_scratch);
  TensorView out = y;
  if (s.via_scratch) {
    out = s.packed;
    out.data = scratch;
    if (s.residual) LaunchCopy(y, out, stream);
  }
  if (s.split) {
    CUDNN_CHECK(api.ConvolutionForward(handle, &one, s.x_desc.get(), s.x.data, s.w_desc.get(), s.w, s.conv_desc.get(),
                                       s.algo, workspace, workspace_bytes, alpha2, out_desc, out.data));
    LaunchAffine(out, out, nullptr, s.bias_f32, s.relu, stream);
  } else {
    CUDNN_CHECK(api.ConvolutionBiasActivationForward(handle, &one, s.x_desc.get(), s.x.data, s.w_desc.get(), s.w,
                                                     s.conv_desc.get(), s.algo, workspace, workspace_bytes, alpha2,
                                                     out_desc, out.data, s.bias_desc.get(), s.bias, s.act_desc.get(),
                                                     out_desc, out.data));
  }
  if (s.via_scratch) LaunchCopy(out, y, stream);
}

// Ranked candidates for the plain convolution into the given output view. benchmark: cuDNN's
// Find, which writes `y_data` (setup memory); else the heuristic (writes nothing).
std::vector<Candidate> Search(ConvStep& s, const ConvSetupContext& ctx, bool via_scratch, void* y_data,
                              std::string& notes) {
  const cudnn::Api& api = *ctx.api;
  CUDNN_CHECK(api.SetConvolutionMathType(s.conv_desc.get(), BaseMath(ctx.precision)));
  int max_count = 0;
  CUDNN_CHECK(api.GetConvolutionForwardAlgorithmMaxCount(ctx.handle, &max_count));
  max_count = std::max(max_count, 1);
  std::vector<cudnn::ConvFwdAlgoPerf> perf(static_cast<size_t>(max_count));
  int returned = 0;
  if (ctx.benchmark) {
    // A view Find rejects as a whole leaves the other paths (noted; the error lists every failure).
    const Status st = api.FindConvolutionForwardAlgorithmEx(
        ctx.handle, s.x_desc.get(), s.x.data, s.w_desc.get(), s.w, s.conv_desc.get(), OutDesc(s, via_scratch), y_data,
        max_count, &returned, perf.data(), ctx.search_workspace, ctx.search_workspace_bytes);
    if (st != Status::kSuccess) {
      notes += Concat("; Find on the ", via_scratch ? "packed scratch" : "direct", " output: ",
                      cudnn::StatusName(st) ? cudnn::StatusName(st) : "?");
      return {};
    }
  } else {
    CUDNN_CHECK(api.GetConvolutionForwardAlgorithmV7(ctx.handle, s.x_desc.get(), s.w_desc.get(), s.conv_desc.get(),
                                                     OutDesc(s, via_scratch), max_count, &returned, perf.data()));
  }
  std::vector<Candidate> out;
  for (int i = 0; i < returned; ++i) {
    const auto& p = perf[static_cast<size_t>(i)];
    if (p.status != Status::kSuccess) continue;
    if (p.memory > ctx.search_workspace_bytes) {
      notes += Concat("; ", AlgoName(p.algo), " skipped: needs ", p.memory, " workspace bytes");
      continue;
    }
    Candidate c{p.algo, MathType::kDefault};
    if (!RunMath(ctx.precision, p.mathType, &c.math)) continue;
    out.push_back(c);
  }
  return out;
}

// Puts the decision into the step (fields, the descriptor's math type, its workspace); returns
// "" or why it cannot run.
std::string Apply(ConvStep& s, const ConvSetupContext& ctx, const Decision& d) {
  const cudnn::Api& api = *ctx.api;
  s.graph = d.graph;
  if (d.graph) {
    s.algo = static_cast<ConvFwdAlgo>(-1);  // no legacy algorithm (the profile's algo column shows -1)
    s.math_type = MathType::kDefault;
    s.split = false;
    s.via_scratch = false;
    if (d.graph->workspace_bytes() > ctx.search_workspace_bytes) {
      return Concat(Label(d), ": needs ", d.graph->workspace_bytes(), " workspace bytes (> ",
                    ctx.search_workspace_bytes, ")");
    }
    s.workspace_bytes = d.graph->workspace_bytes();
    return "";
  }
  s.algo = d.c.algo;
  s.math_type = d.c.math;
  s.split = d.split;
  s.via_scratch = d.via_scratch;
  Status st = api.SetConvolutionMathType(s.conv_desc.get(), d.c.math);
  if (st != Status::kSuccess) return Concat(Label(d), ": SetConvolutionMathType ", static_cast<int>(st));
  size_t workspace = 0;
  st = api.GetConvolutionForwardWorkspaceSize(ctx.handle, s.x_desc.get(), s.w_desc.get(), s.conv_desc.get(),
                                              OutDesc(s, d.via_scratch), d.c.algo, &workspace);
  if (st != Status::kSuccess) {
    return Concat(Label(d), ": workspace query ", cudnn::StatusName(st) ? cudnn::StatusName(st) : "?");
  }
  if (workspace > ctx.search_workspace_bytes) {
    return Concat(Label(d), ": needs ", workspace, " workspace bytes (> ", ctx.search_workspace_bytes, ")");
  }
  s.workspace_bytes = workspace;
  return "";
}

void EnqueueSetupRun(const ConvStep& s, const ConvSetupContext& ctx, const TensorView& y_setup) {
  Enqueue(s, y_setup, *ctx.api, ctx.handle, ctx.stream, ctx.search_workspace, s.workspace_bytes, ctx.trial);
}

// Applies the decision and runs it once on setup memory; returns "" or why it failed.
std::string Trial(ConvStep& s, const ConvSetupContext& ctx, const Decision& d, const TensorView& y_setup) {
  std::string why = Apply(s, ctx, d);
  if (!why.empty()) return why;
  // Only this candidate's errors count: a failed Find or an earlier candidate may have left a
  // (non-sticky) error in the runtime's last-error slot, which the check below would pin on it.
  cudaGetLastError();
  try {
    EnqueueSetupRun(s, ctx, y_setup);
  } catch (const Error& e) {
    // Part of the sequence may be enqueued (the scratch copy before a refused cuDNN call): let it
    // finish and clear its launch status, so no later check (the next candidate's, a pool
    // kernel's CheckLaunch) reports this candidate's failure as its own.
    cudaStreamSynchronize(ctx.stream);
    cudaGetLastError();
    return Concat(Label(d), ": ", e.native_code().empty() ? e.message() : e.native_code());
  }
  cudaError_t ce = cudaStreamSynchronize(ctx.stream);
  if (ce == cudaSuccess) ce = cudaGetLastError();
  if (ce != cudaSuccess) {
    cudaGetLastError();
    return Concat(Label(d), ": ", cudaGetErrorName(ce));
  }
  return "";
}

// The fastest decision timed so far.
struct Fastest {
  bool found = false;
  Decision d;
  double ms = std::numeric_limits<double>::infinity();
};

// Trials the decision and, when it runs, times it (the step's own sequence, as RunConv runs it)
// and keeps it in `fastest` when faster. Returns whether it ran.
bool TrialAndTime(ConvStep& s, const ConvSetupContext& ctx, const Decision& d, const TensorView& y_setup,
                  Fastest* fastest, std::string& failures) {
  std::string why = Trial(s, ctx, d, y_setup);
  if (!why.empty()) {
    failures += "; " + why;
    return false;
  }
  double ms = 0;
  try {
    ms = MedianRunMs(ctx.stream, [&] {
      EnqueueSetupRun(s, ctx, y_setup);
      CUDA_CHECK(cudaGetLastError());
    });
  } catch (const Error& e) {
    cudaStreamSynchronize(ctx.stream);
    cudaGetLastError();
    failures += Concat("; ", Label(d), " timing: ", e.native_code().empty() ? e.message() : e.native_code());
    return false;
  }
  ++s.timed_candidates;
  if (ms < fastest->ms) {
    fastest->found = true;
    fastest->d = d;
    fastest->ms = ms;
  }
  return true;
}

// Whether a cached decision may run this step under the current switches and rules.
bool Allowed(const ConvStep& s, const ConvSetupContext& ctx, const Decision& d) {
  const int algo = static_cast<int>(d.c.algo);
  if (algo < 0 || algo >= 8) return false;
  const bool y_packed = IsPacked(s.y);
  if (d.via_scratch && y_packed) return false;
  if (!d.via_scratch && ctx.force_scratch && !y_packed) return false;
  if (!d.split && ctx.force_split) return false;
  if (!d.split && !s.relu && d.c.algo != ConvFwdAlgo::kImplicitPrecompGemm) return false;
  MathType math;
  return RunMath(ctx.precision, d.c.math, &math) && math == d.c.math;
}

[[noreturn]] void ThrowNoAlgorithm(const std::string& failures) {
  throw Error(kCodeNative, "CUDNN_STATUS_NOT_SUPPORTED",
              "no cuDNN convolution algorithm runs this convolution (tried" + failures + ")", "SetupConv");
}

// Keeps the chosen decision in the step (Apply of a decision that already ran cannot fail, but
// its status is still checked).
void Keep(ConvStep& s, const ConvSetupContext& ctx, const Fastest& fastest) {
  const std::string why = Apply(s, ctx, fastest.d);
  if (!why.empty()) ThrowNoAlgorithm("; chosen " + why);
  s.setup_ms = fastest.ms;
}

// The graph-API description of the step, with y_setup (where setup runs write) as its output.
GraphConvSpec GraphSpec(const ConvStep& s, const ConvSetupContext& ctx, const TensorView& y_setup) {
  GraphConvSpec spec;
  spec.precision = ctx.precision;
  spec.x = s.x;
  spec.y = y_setup;
  spec.y_run = s.y.data;
  spec.w = s.w;
  spec.bias = s.bias;
  spec.in_channels = s.in_channels;
  for (int i = 0; i < 2; ++i) {
    spec.kernel[i] = s.kernel[i];
    spec.stride[i] = s.stride[i];
    spec.pad[i] = s.pad[i];
  }
  spec.relu = s.relu;
  spec.residual = s.residual;
  return spec;
}

// Graph API on: builds the step's operation graph and trials and times up to kMaxGraphPlans of its
// plans like every other candidate. Anything that fails is a reason in `failures`, never an error.
void TimeGraphCandidates(ConvStep& s, const ConvSetupContext& ctx, const TensorView& y_setup, Fastest* fastest,
                         std::string& failures) {
  try {
    const GraphConv conv(*ctx.api, ctx.handle, GraphSpec(s, ctx, y_setup));
    std::string notes;
    const std::vector<std::shared_ptr<const GraphConvPlan>> plans =
        conv.Plans(ctx.search_workspace_bytes, kMaxGraphPlans, kMaxGraphFinalizeAttempts, notes);
    failures += notes;
    for (const auto& plan : plans) {
      Decision d{};
      d.graph = plan;
      TrialAndTime(s, ctx, d, y_setup, fastest, failures);
    }
  } catch (const Error& e) {
    failures += "; graph API: " + (e.native_code().empty() ? e.message() : e.native_code() + " " + e.message());
  }
}

// A cached graph-API decision: the same engine config, finalized again, trialed and timed.
bool TimeCachedGraph(ConvStep& s, const ConvSetupContext& ctx, const CachedAlgo& cached, const TensorView& y_setup,
                     Fastest* fastest, std::string& failures) {
  try {
    const GraphConv conv(*ctx.api, ctx.handle, GraphSpec(s, ctx, y_setup));
    Decision d{};
    d.graph = conv.PlanAt(cached.graph_config, cached.algo, ctx.search_workspace_bytes, failures);
    return d.graph && TrialAndTime(s, ctx, d, y_setup, fastest, failures);
  } catch (const Error& e) {
    failures += "; cached graph engine: " + (e.native_code().empty() ? e.message() : e.native_code());
    return false;
  }
}

// benchmark: true. A cached decision that still runs, else every allowed candidate timed.
void SetupTimed(ConvStep& s, const ConvSetupContext& ctx) {
  const bool y_packed = IsPacked(s.y);
  const TensorView y_setup = SetupOutput(s, ctx);
  // Test switches restrict the candidates: such decisions are neither read from nor written to the cache.
  const bool use_cache = !ctx.force_split && !ctx.force_scratch;
  // The graph-API candidates (on unless INCEPTION_CUDA_GRAPH_API=0) have their own cache keys: a decision made without them
  // must not stop them from being timed.
  const bool graph_api = ctx.graph_api && use_cache;
  const std::string key = CacheKey(s, ctx, s.y) + (graph_api ? "|graph-api" : "");
  std::string failures;
  CachedAlgo cached;
  const bool have_cached = use_cache && LookupCachedAlgo(key, &cached);
  if (have_cached && cached.graph) {
    Fastest fastest;
    if (!graph_api) {
      failures += Concat("; the cached graph engine ", cached.algo, " is not allowed here");
    } else if (TimeCachedGraph(s, ctx, cached, y_setup, &fastest, failures)) {
      Keep(s, ctx, fastest);
      s.from_cache = true;
      return;
    }
  } else if (have_cached && cached.has_path) {
    const Decision d{{static_cast<ConvFwdAlgo>(cached.algo), static_cast<MathType>(cached.math_type)},
                     cached.split, cached.via_scratch, nullptr};
    Fastest fastest;
    if (!Allowed(s, ctx, d)) {
      failures += "; the cached " + Label(d) + " is not allowed here";
    } else if (TrialAndTime(s, ctx, d, y_setup, &fastest, failures)) {
      Keep(s, ctx, fastest);
      s.from_cache = true;
      return;
    }
  }
  Fastest fastest;
  for (int via_scratch = 0; via_scratch < 2; ++via_scratch) {
    if (via_scratch == 0 && ctx.force_scratch && !y_packed) continue;
    if (via_scratch == 1 && y_packed) break;
    void* find_y = via_scratch ? static_cast<void*>(ctx.trial) : y_setup.data;
    const std::vector<Candidate> ranked = Search(s, ctx, via_scratch != 0, find_y, failures);
    for (int split = ctx.force_split ? 1 : 0; split < 2; ++split) {
      // IDENTITY is only honoured by IMPLICIT_PRECOMP_GEMM (other algorithms may silently apply ReLU).
      const std::vector<Candidate> path = !split && !s.relu
                                              ? std::vector<Candidate>{{ConvFwdAlgo::kImplicitPrecompGemm, BaseMath(ctx.precision)}}
                                              : ranked;
      int timed = 0;
      for (size_t i = 0; i < path.size() && timed < kMaxTimedPerPath; ++i) {
        if (TrialAndTime(s, ctx, {path[i], split != 0, via_scratch != 0, nullptr}, y_setup, &fastest, failures)) ++timed;
      }
    }
  }
  if (graph_api) TimeGraphCandidates(s, ctx, y_setup, &fastest, failures);
  if (!fastest.found) ThrowNoAlgorithm(failures);
  Keep(s, ctx, fastest);
  if (use_cache && fastest.d.graph) {
    CachedAlgo entry;
    entry.algo = static_cast<int>(fastest.d.graph->engine_id());
    entry.math_type = kGraphEngineMarker;
    entry.has_path = true;
    entry.graph = true;
    entry.graph_config = fastest.d.graph->config_index();
    StoreCachedAlgo(key, entry);
  } else if (use_cache) {
    StoreCachedAlgo(key, {static_cast<int>(fastest.d.c.algo), static_cast<int>(fastest.d.c.math), true,
                          fastest.d.split, fastest.d.via_scratch});
  }
}

// benchmark: false. The heuristic ranking per output view; the first candidate that runs.
void SetupFirstSuccess(ConvStep& s, const ConvSetupContext& ctx) {
  const bool y_packed = IsPacked(s.y);
  const TensorView y_setup = SetupOutput(s, ctx);
  std::string failures;
  bool searched_any = false;  // a cuDNN search ran for this conv (at either output layout)
  for (int use_scratch = 0; use_scratch < 2; ++use_scratch) {
    if (use_scratch == 0 && ctx.force_scratch && !y_packed) continue;
    if (use_scratch == 1 && y_packed) break;
    const std::string key = CacheKey(s, ctx, use_scratch ? s.packed : s.y);
    std::vector<Candidate> ranked;
    CachedAlgo cached;
    bool have_cached = LookupCachedAlgo(key, &cached);
    if (have_cached && cached.algo == kNoAlgorithmForView) {
      // An earlier search found no algorithm that writes this strided view: go to the scratch path.
      if (use_scratch == 0 && !y_packed) {
        failures += "; cached: no algorithm writes this strided output view";
        continue;
      }
      have_cached = false;
    }
    if (have_cached) ranked.push_back({static_cast<ConvFwdAlgo>(cached.algo), static_cast<MathType>(cached.math_type)});
    bool searched = false;

    for (int split = ctx.force_split ? 1 : 0; split < 2; ++split) {
      std::vector<Candidate> candidates;
      if (!split && !s.relu) {
        // IDENTITY is only honoured by IMPLICIT_PRECOMP_GEMM (other algorithms may silently apply ReLU).
        candidates.push_back({ConvFwdAlgo::kImplicitPrecompGemm, BaseMath(ctx.precision)});
      } else {
        if (!searched && !have_cached) {  // a cached choice is tried first; searched only if it fails
          std::vector<Candidate> found = Search(s, ctx, use_scratch != 0, nullptr, failures);
          ranked.insert(ranked.end(), found.begin(), found.end());
          searched = searched_any = true;
        }
        candidates = ranked;
      }
      for (size_t i = 0; i < candidates.size(); ++i) {
        const Candidate& c = candidates[i];
        std::string why = Trial(s, ctx, {c, split != 0, use_scratch != 0, nullptr}, y_setup);
        if (!why.empty()) {
          failures += "; " + why;
          // A stale cached choice: search now if we have not.
          if (i + 1 == candidates.size() && (split || s.relu) && !searched) {
            std::vector<Candidate> found = Search(s, ctx, use_scratch != 0, nullptr, failures);
            candidates.insert(candidates.end(), found.begin(), found.end());
            ranked.insert(ranked.end(), found.begin(), found.end());
            searched = searched_any = true;
          }
          continue;
        }
        // Trial applied the decision (fields, math type, workspace).
        s.from_cache = have_cached && i == 0 && (split || s.relu) && !searched_any;
        if (split || s.relu) StoreCachedAlgo(key, {static_cast<int>(c.algo), static_cast<int>(c.math)});
        return;
      }
    }
    // A full search found nothing that writes the strided view: remember it, so the next compile
    // goes straight to the scratch path (not stored under test switches, which skip candidates).
    if (use_scratch == 0 && !y_packed && searched && !ctx.force_split) StoreCachedAlgo(key, {kNoAlgorithmForView, 0});
  }
  ThrowNoAlgorithm(failures);
}

}  // namespace

size_t ViewSpanBytes(const TensorView& v) {
  if (v.n <= 0 || v.c <= 0 || v.h <= 0 || v.w <= 0) return 0;
  const int64_t last = int64_t{v.n - 1} * v.sn + int64_t{v.c - 1} * v.sc + int64_t{v.h - 1} * v.sh + int64_t{v.w - 1} * v.sw;
  return static_cast<size_t>(last + 1) * (v.type == ElementType::kHalf ? 2 : 4);
}

bool ViewsOverlap(const TensorView& a, const TensorView& b) {
  const uintptr_t a0 = reinterpret_cast<uintptr_t>(a.data), b0 = reinterpret_cast<uintptr_t>(b.data);
  const size_t as = ViewSpanBytes(a), bs = ViewSpanBytes(b);
  return as > 0 && bs > 0 && a0 < b0 + bs && b0 < a0 + as;
}

size_t ConvTrialBytes(const ConvStep& s) {
  const size_t stand_in = ViewsOverlap(s.x, s.y) ? static_cast<size_t>(s.y_offset_in_buffer) + ViewSpanBytes(s.y) : 0;
  return PackedTrialRegion(s) + stand_in;
}

double MedianRunMs(cudaStream_t stream, const std::function<void()>& enqueue, int timed) {
  // Back to back, one event between runs, so the host's launch time hides behind the GPU's work.
  std::vector<std::unique_ptr<Event>> marks;
  for (int r = 0; r <= timed; ++r) marks.push_back(std::make_unique<Event>(true));
  enqueue();  // warm-up
  CUDA_CHECK(cudaEventRecord(marks[0]->get(), stream));
  for (int r = 0; r < timed; ++r) {
    enqueue();
    CUDA_CHECK(cudaEventRecord(marks[static_cast<size_t>(r) + 1]->get(), stream));
  }
  CUDA_CHECK(cudaEventSynchronize(marks.back()->get()));
  std::vector<float> ms(static_cast<size_t>(timed));
  for (int r = 0; r < timed; ++r) {
    CUDA_CHECK(cudaEventElapsedTime(&ms[static_cast<size_t>(r)], marks[static_cast<size_t>(r)]->get(),
                                    marks[static_cast<size_t>(r) + 1]->get()));
  }
  std::sort(ms.begin(), ms.end());
  const size_t m = ms.size() / 2;
  return ms.size() % 2 == 1 ? ms[m] : (static_cast<double>(ms[m - 1]) + ms[m]) / 2.0;
}

std::string ConvStep::DescribeDecision() const {
  const std::string shapes =
      Concat("conv x ", ViewString(x), " w [", y.c, ",", in_channels, ",", kernel[0], ",", kernel[1], "] pad ", pad[0],
             ",", pad[1], " stride ", stride[0], ",", stride[1], " y ", ViewString(y), relu ? " relu" : "",
             residual ? " residual" : "");
  if (graph) return Concat(shapes, " ", graph->Label());
  return Concat(shapes, " algo ", AlgoName(algo), " math ", static_cast<int>(math_type), split ? " split" : " fused",
                via_scratch ? " via-scratch" : "");
}

std::string ConvStep::Describe() const {
  if (timed_candidates == 0) return DescribeDecision();
  return Concat(DescribeDecision(), " setup ", setup_ms, " ms (fastest of ", timed_candidates, " timed",
                from_cache ? ", cached decision" : "", ")");
}

std::string ConvStep::PathName() const {
  if (graph) return "graph";
  return std::string(split ? "split" : "fused") + (via_scratch ? "+scratch-copy" : "");
}

bool GraphApiRequested() {
  static const bool requested = [] {
    const char* v = std::getenv("INCEPTION_CUDA_GRAPH_API");
    return v == nullptr || std::strcmp(v, "0") != 0;
  }();
  return requested;
}

void SetupConv(ConvStep& s, const ConvSetupContext& ctx) {
  const cudnn::Api& api = *ctx.api;
  const cudnn::DataType dt = DataTypeOf(ctx.precision);
  try {
    INCEPTION_CHECK(ConvTrialBytes(s) <= ctx.trial_bytes, kCodeNative, "the setup trial buffer (", ctx.trial_bytes,
                    " bytes) is smaller than this convolution's setup runs need (", ConvTrialBytes(s), ")");
    SetView(api, s.x_desc.get(), s.x, dt);
    CUDNN_CHECK(api.SetFilter4dDescriptor(s.w_desc.get(), dt,
                                          IsNhwc(ctx.precision) ? cudnn::TensorFormat::kNhwc : cudnn::TensorFormat::kNchw,
                                          s.y.c, s.in_channels, s.kernel[0], s.kernel[1]));
    CUDNN_CHECK(api.SetConvolution2dDescriptor(s.conv_desc.get(), s.pad[0], s.pad[1], s.stride[0], s.stride[1], 1, 1,
                                               cudnn::ConvolutionMode::kCrossCorrelation, cudnn::DataType::kFloat));
    CUDNN_CHECK(api.SetActivationDescriptor(s.act_desc.get(),
                                            s.relu ? cudnn::ActivationMode::kRelu : cudnn::ActivationMode::kIdentity,
                                            cudnn::NanPropagation::kNotPropagate, 0.0));
    CUDNN_CHECK(api.SetTensor4dDescriptorEx(s.bias_desc.get(), dt, 1, s.y.c, 1, 1, s.y.c, 1, 1, 1));
    s.packed = PackedView(nullptr, s.y.n, s.y.c, s.y.h, s.y.w, ctx.precision);
    s.packed_bytes = static_cast<size_t>(s.y.n) * s.y.c * s.y.h * s.y.w * ElementBytes(ctx.precision);
    SetView(api, s.y_desc.get(), s.y, dt);
    SetView(api, s.packed_desc.get(), s.packed, dt);
    s.graph = nullptr;
    s.from_cache = false;
    s.setup_ms = 0;
    s.timed_candidates = 0;
    if (ctx.benchmark) {
      SetupTimed(s, ctx);
    } else {
      SetupFirstSuccess(s, ctx);
    }
  } catch (Error& e) {
    e.WithStep(s.name).WithShapes(s.Describe());
    throw;
  }
}

void RunConv(const ConvStep& s, const cudnn::Api& api, cudnn::Handle handle, cudaStream_t stream, void* workspace,
             size_t workspace_bytes, void* scratch) {
  Enqueue(s, s.y, api, handle, stream, workspace, workspace_bytes, scratch);
}

}  // namespace inception::cuda
