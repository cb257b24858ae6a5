#include "cuda/conv_step.h"

#include <algorithm>
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

std::string CacheKey(const ConvStep& s, const ConvSetupContext& ctx, const TensorView& y) {
  return Concat(ctx.gpu_name, "|cudnn ", ctx.cudnn_version, "|", PrecisionName(ctx.precision), "|",
                ctx.benchmark ? "find" : "heuristic", "|", s.relu ? "relu" : "identity", s.residual ? "+z" : "",
                "|x ", s.x.n, "x", s.x.c, "x", s.x.h, "x", s.x.w, ":", s.x.sn, "/", s.x.sc, "/", s.x.sh, "/", s.x.sw,
                "|w ", s.y.c, "x", s.in_channels, "x", s.kernel[0], "x", s.kernel[1], "|p ", s.pad[0], "/", s.pad[1],
                "|s ", s.stride[0], "/", s.stride[1], "|y ", y.sn, "/", y.sc, "/", y.sh, "/", y.sw);
}

// Ranked candidates for the plain convolution with the descriptors currently set.
std::vector<Candidate> Search(ConvStep& s, const ConvSetupContext& ctx, void* trial_y, std::string& notes) {
  const cudnn::Api& api = *ctx.api;
  int max_count = 0;
  CUDNN_CHECK(api.GetConvolutionForwardAlgorithmMaxCount(ctx.handle, &max_count));
  max_count = std::max(max_count, 1);
  std::vector<cudnn::ConvFwdAlgoPerf> perf(static_cast<size_t>(max_count));
  int returned = 0;
  if (ctx.benchmark) {
    // Find writes into y: it gets scratch memory, never the live output (which may be a residual z).
    CUDNN_CHECK(api.FindConvolutionForwardAlgorithmEx(ctx.handle, s.x_desc.get(), s.x.data, s.w_desc.get(), s.w,
                                                      s.conv_desc.get(), s.y_desc.get(), trial_y, max_count,
                                                      &returned, perf.data(), ctx.search_workspace,
                                                      ctx.search_workspace_bytes));
  } else {
    CUDNN_CHECK(api.GetConvolutionForwardAlgorithmV7(ctx.handle, s.x_desc.get(), s.w_desc.get(), s.conv_desc.get(),
                                                     s.y_desc.get(), max_count, &returned, perf.data()));
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

// Runs the step once into trial memory with the given candidate; returns "" or why it failed.
std::string Trial(ConvStep& s, const ConvSetupContext& ctx, const Candidate& c, bool split, void* trial_y,
                  const TensorView& trial_view, size_t* workspace) {
  const cudnn::Api& api = *ctx.api;
  Status st = api.SetConvolutionMathType(s.conv_desc.get(), c.math);
  if (st != Status::kSuccess) return Concat(AlgoName(c.algo), ": SetConvolutionMathType ", static_cast<int>(st));
  st = api.GetConvolutionForwardWorkspaceSize(ctx.handle, s.x_desc.get(), s.w_desc.get(), s.conv_desc.get(),
                                              s.y_desc.get(), c.algo, workspace);
  if (st != Status::kSuccess) {
    return Concat(AlgoName(c.algo), ": workspace query ", cudnn::StatusName(st) ? cudnn::StatusName(st) : "?");
  }
  if (*workspace > ctx.search_workspace_bytes) {
    return Concat(AlgoName(c.algo), ": needs ", *workspace, " workspace bytes (> ", ctx.search_workspace_bytes, ")");
  }
  const float one = 1.0f, zero = 0.0f;
  const float* alpha2 = s.residual ? &one : &zero;
  if (split) {
    st = api.ConvolutionForward(ctx.handle, &one, s.x_desc.get(), s.x.data, s.w_desc.get(), s.w, s.conv_desc.get(),
                                c.algo, ctx.search_workspace, *workspace, alpha2, s.y_desc.get(), trial_y);
    if (st == Status::kSuccess) {
      LaunchAffine(trial_view, trial_view, nullptr, s.bias_f32, s.relu, ctx.stream);
    }
  } else {
    st = api.ConvolutionBiasActivationForward(ctx.handle, &one, s.x_desc.get(), s.x.data, s.w_desc.get(), s.w,
                                              s.conv_desc.get(), c.algo, ctx.search_workspace, *workspace, alpha2,
                                              s.y_desc.get(), trial_y, s.bias_desc.get(), s.bias,
                                              s.act_desc.get(), s.y_desc.get(), trial_y);
  }
  if (st != Status::kSuccess) {
    return Concat(AlgoName(c.algo), split ? " (split)" : " (fused)", ": ",
                  cudnn::StatusName(st) ? cudnn::StatusName(st) : "?");
  }
  cudaError_t ce = cudaStreamSynchronize(ctx.stream);
  if (ce == cudaSuccess) ce = cudaGetLastError();
  if (ce != cudaSuccess) {
    cudaGetLastError();
    return Concat(AlgoName(c.algo), ": ", cudaGetErrorName(ce));
  }
  return "";
}

}  // namespace

std::string ConvStep::Describe() const {
  return Concat("conv x ", ViewString(x), " w [", y.c, ",", in_channels, ",", kernel[0], ",", kernel[1], "] pad ",
                pad[0], ",", pad[1], " stride ", stride[0], ",", stride[1], " y ", ViewString(y),
                relu ? " relu" : "", residual ? " residual" : "", " algo ", AlgoName(algo), " math ",
                static_cast<int>(math_type), split ? " split" : " fused", via_scratch ? " via-scratch" : "");
}

void SetupConv(ConvStep& s, const ConvSetupContext& ctx) {
  const cudnn::Api& api = *ctx.api;
  const cudnn::DataType dt = DataTypeOf(ctx.precision);
  try {
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

    std::string failures;
    const bool y_packed = IsPacked(s.y);
    bool searched_any = false;  // a cuDNN search ran for this conv (at either output layout)
    for (int use_scratch = 0; use_scratch < 2; ++use_scratch) {
      if (use_scratch == 0 && ctx.force_scratch && !y_packed) continue;
      if (use_scratch == 1 && y_packed) break;
      const TensorView& yv = use_scratch ? s.packed : s.y;
      SetView(api, s.y_desc.get(), yv, dt);
      void* trial_y = ctx.trial + (use_scratch ? 0 : s.y_offset_in_buffer);
      TensorView trial_view = yv;
      trial_view.data = trial_y;
      CUDNN_CHECK(api.SetConvolutionMathType(s.conv_desc.get(), BaseMath(ctx.precision)));

      const std::string key = CacheKey(s, ctx, yv);
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
            CUDNN_CHECK(api.SetConvolutionMathType(s.conv_desc.get(), BaseMath(ctx.precision)));
            std::vector<Candidate> found = Search(s, ctx, trial_y, failures);
            ranked.insert(ranked.end(), found.begin(), found.end());
            searched = searched_any = true;
          }
          candidates = ranked;
        }
        for (size_t i = 0; i < candidates.size(); ++i) {
          const Candidate& c = candidates[i];
          size_t ws = 0;
          std::string why = Trial(s, ctx, c, split != 0, trial_y, trial_view, &ws);
          if (!why.empty()) {
            failures += "; " + why;
            // A stale cached choice: search now if we have not.
            if (i + 1 == candidates.size() && (split || s.relu) && !searched) {
              CUDNN_CHECK(api.SetConvolutionMathType(s.conv_desc.get(), BaseMath(ctx.precision)));
              std::vector<Candidate> found = Search(s, ctx, trial_y, failures);
              candidates.insert(candidates.end(), found.begin(), found.end());
              ranked.insert(ranked.end(), found.begin(), found.end());
              searched = searched_any = true;
            }
            continue;
          }
          s.algo = c.algo;
          s.math_type = c.math;
          s.workspace_bytes = ws;
          s.split = split != 0;
          s.via_scratch = use_scratch != 0;
          s.from_cache = have_cached && i == 0 && (split || s.relu) && !searched_any;
          if (split || s.relu) StoreCachedAlgo(key, {static_cast<int>(c.algo), static_cast<int>(c.math)});
          return;
        }
      }
      // A full search found nothing that writes the strided view: remember it, so the next compile
      // goes straight to the scratch path (not stored under test switches, which skip candidates).
      if (use_scratch == 0 && !y_packed && searched && !ctx.force_split) StoreCachedAlgo(key, {kNoAlgorithmForView, 0});
    }
    throw Error(kCodeNative, "CUDNN_STATUS_NOT_SUPPORTED",
                "no cuDNN convolution algorithm runs this convolution (tried" + failures + ")", "SetupConv");
  } catch (Error& e) {
    e.WithStep(s.name).WithShapes(s.Describe());
    throw;
  }
}

void RunConv(const ConvStep& s, const cudnn::Api& api, cudnn::Handle handle, cudaStream_t stream, void* workspace,
             size_t workspace_bytes, void* scratch) {
  const float one = 1.0f, zero = 0.0f;
  const float* alpha2 = s.residual ? &one : &zero;
  TensorView out = s.y;
  if (s.via_scratch) {
    out = s.packed;
    out.data = scratch;
    if (s.residual) LaunchCopy(s.y, out, stream);
  }
  if (s.split) {
    CUDNN_CHECK(api.ConvolutionForward(handle, &one, s.x_desc.get(), s.x.data, s.w_desc.get(), s.w, s.conv_desc.get(),
                                       s.algo, workspace, workspace_bytes, alpha2, s.y_desc.get(), out.data));
    LaunchAffine(out, out, nullptr, s.bias_f32, s.relu, stream);
  } else {
    CUDNN_CHECK(api.ConvolutionBiasActivationForward(handle, &one, s.x_desc.get(), s.x.data, s.w_desc.get(), s.w,
                                                     s.conv_desc.get(), s.algo, workspace, workspace_bytes, alpha2,
                                                     s.y_desc.get(), out.data, s.bias_desc.get(), s.bias,
                                                     s.act_desc.get(), s.y_desc.get(), out.data));
  }
  if (s.via_scratch) LaunchCopy(out, s.y, stream);
}

}  // namespace inception::cuda
