#include "cpu/peak.h"

#include <dnnl.hpp>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <optional>
#include <unordered_map>
#include <vector>

#include "core/error.h"
#include "cpu/check.h"
#include "cpu/compute_thread.h"
#include "cpu/thread_team.h"
#include "js/convert.h"

namespace inception::cpu {

namespace {
struct ConvTiming {
  double gflops = 0, best_ms = 0;
  std::string impl;
};

// A [1,c,hw,hw] -> [1,c,hw,hw] convolution with a k x k kernel (pad k/2) in oneDNN's own layouts.
ConvTiming MeasureConv(const dnnl::engine& engine, dnnl::stream& stream, int32_t repeats, int64_t kChannels, int64_t kHw, int64_t k) {
  using dnnl::memory;
  const memory::desc any_src({1, kChannels, kHw, kHw}, memory::data_type::f32, memory::format_tag::any);
  const memory::desc any_wei({kChannels, kChannels, k, k}, memory::data_type::f32, memory::format_tag::any);
  const memory::desc any_dst({1, kChannels, kHw, kHw}, memory::data_type::f32, memory::format_tag::any);
  auto pd = DnnlCall("convolution_forward::primitive_desc (peak)", [&] {
    dnnl::convolution_forward::desc desc(dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_direct, any_src,
                                         any_wei, any_dst, {1, 1}, {k / 2, k / 2}, {k / 2, k / 2});
    return dnnl::convolution_forward::primitive_desc(desc, engine);
  });
  dnnl::convolution_forward conv = DnnlCall("convolution_forward (peak)", [&] { return dnnl::convolution_forward(pd); });
  memory src(pd.src_desc(), engine), wei(pd.weights_desc(), engine), dst(pd.dst_desc(), engine);
  for (memory* m : {&src, &wei}) {
    float* p = static_cast<float*>(m->get_data_handle());
    std::fill(p, p + m->get_desc().get_size() / sizeof(float), 0.125f);
  }
  const std::unordered_map<int, memory> args = {{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, wei}, {DNNL_ARG_DST, dst}};
  double best = 1e300;
  for (int32_t i = 0; i < repeats + 2; ++i) {
    const auto start = std::chrono::steady_clock::now();
    DnnlCall("convolution_forward::execute (peak)", [&] {
      conv.execute(stream, args);
      stream.wait();
      return 0;
    });
    const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    if (i >= 2 && ms < best) best = ms;
  }
  ConvTiming timing;
  timing.impl = pd.impl_info_str();
  timing.best_ms = best;
  timing.gflops = 2.0 * static_cast<double>(kChannels * kChannels * kHw * kHw * k * k) / (best * 1e-3) / 1e9;
  return timing;
}
}  // namespace

PeakResult MeasurePeak(int64_t size, int32_t threads, int32_t repeats) {
  UseThreads(threads);
  using dnnl::memory;
  dnnl::engine engine = DnnlCall("dnnl::engine(cpu, 0)", [] { return dnnl::engine(dnnl::engine::kind::cpu, 0); });
  dnnl::stream stream = DnnlCall("dnnl::stream", [&] { return dnnl::stream(engine); });
  const memory::desc a({size, size}, memory::data_type::f32, memory::format_tag::ab);
  const memory::desc b({size, size}, memory::data_type::f32, memory::format_tag::ab);
  const memory::desc c({size, size}, memory::data_type::f32, memory::format_tag::ab);
  auto pd = DnnlCall("matmul::primitive_desc", [&] {
    return dnnl::matmul::primitive_desc(dnnl::matmul::desc(a, b, c), engine);
  });
  dnnl::matmul mm = DnnlCall("matmul", [&] { return dnnl::matmul(pd); });
  std::vector<float> va(static_cast<size_t>(size * size), 0.5f), vb(va.size(), 0.25f), vc(va.size());
  memory ma(a, engine, va.data()), mb(b, engine, vb.data()), mc(c, engine, vc.data());
  const std::unordered_map<int, memory> args = {{DNNL_ARG_SRC, ma}, {DNNL_ARG_WEIGHTS, mb}, {DNNL_ARG_DST, mc}};

  PeakResult result;
  result.m = result.n = result.k = size;
  result.threads = threads;
  result.repeats = repeats;
  result.impl = pd.impl_info_str();
  double best = 1e300;
  for (int32_t i = 0; i < repeats + 2; ++i) {
    const auto start = std::chrono::steady_clock::now();
    DnnlCall("matmul::execute", [&] {
      mm.execute(stream, args);
      stream.wait();
      return 0;
    });
    const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    if (i >= 2 && ms < best) best = ms;
  }
  result.best_ms = best;
  result.gflops = 2.0 * static_cast<double>(size) * static_cast<double>(size) * static_cast<double>(size) / (best * 1e-3) / 1e9;
  const ConvTiming one = MeasureConv(engine, stream, repeats, 512, 56, 1);
  result.conv_channels = 512;
  result.conv_hw = 56;
  result.conv_gflops = one.gflops;
  result.conv_best_ms = one.best_ms;
  result.conv_impl = one.impl;
  const ConvTiming three = MeasureConv(engine, stream, repeats, 192, 35, 3);
  result.conv3_gflops = three.gflops;
  result.conv3_best_ms = three.best_ms;
  result.conv3_impl = three.impl;
  return result;
}

namespace {

class PeakWorker : public Napi::AsyncWorker {
 public:
  PeakWorker(Napi::Env env, int64_t size, int32_t threads, int32_t repeats)
      : Napi::AsyncWorker(env, "inception_cpu.peakGflops"),
        deferred_(Napi::Promise::Deferred::New(env)),
        size_(size),
        threads_(threads),
        repeats_(repeats) {}
  Napi::Promise Promise() const { return deferred_.Promise(); }
  void Execute() override {
    try {
      ComputeThread::Instance().Run([&] { result_ = MeasurePeak(size_, threads_, repeats_); });
    } catch (const Error& e) {
      error_ = e;
      SetError(e.what());
    } catch (const std::exception& e) {
      error_ = Error(kCodeNative, "EXCEPTION", e.what());
      SetError(e.what());
    }
  }
  void OnOK() override {
    Napi::Env env = Env();
    Napi::Object o = Napi::Object::New(env);
    o.Set("gflops", result_.gflops);
    o.Set("bestMs", result_.best_ms);
    o.Set("m", static_cast<double>(result_.m));
    o.Set("n", static_cast<double>(result_.n));
    o.Set("k", static_cast<double>(result_.k));
    o.Set("threads", result_.threads);
    o.Set("repeats", result_.repeats);
    o.Set("impl", result_.impl);
    o.Set("conv1x1Gflops", result_.conv_gflops);
    o.Set("conv1x1BestMs", result_.conv_best_ms);
    o.Set("conv1x1Channels", static_cast<double>(result_.conv_channels));
    o.Set("conv1x1Size", static_cast<double>(result_.conv_hw));
    o.Set("conv1x1Impl", result_.conv_impl);
    o.Set("conv3x3Gflops", result_.conv3_gflops);
    o.Set("conv3x3BestMs", result_.conv3_best_ms);
    o.Set("conv3x3Impl", result_.conv3_impl);
    deferred_.Resolve(o);
  }
  void OnError(const Napi::Error& fallback) override {
    if (error_) deferred_.Reject(ToJsError(Env(), *error_).Value());
    else deferred_.Reject(fallback.Value());
  }

 private:
  Napi::Promise::Deferred deferred_;
  int64_t size_;
  int32_t threads_, repeats_;
  PeakResult result_;
  std::optional<Error> error_;
};

}  // namespace

Napi::Value JsPeakGflops(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  try {
    Napi::Object options = info.Length() > 0 && info[0].IsObject() ? info[0].As<Napi::Object>() : Napi::Object::New(env);
    const int32_t size = OptionalInt32(options, "size", 1536, 64, 8192);
    const int32_t threads = OptionalInt32(options, "threads", omp_get_num_procs(), 1, 1024);
    const int32_t repeats = OptionalInt32(options, "repeats", 10, 1, 1000);
    auto* worker = new PeakWorker(env, size, threads, repeats);
    Napi::Promise promise = worker->Promise();
    worker->Queue();
    return promise;
  } catch (const Error& e) {
    auto deferred = Napi::Promise::Deferred::New(env);
    deferred.Reject(ToJsError(env, e).Value());
    return deferred.Promise();
  }
}

}  // namespace inception::cpu
