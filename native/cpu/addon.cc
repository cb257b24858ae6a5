// inception_cpu.node: registers the exports; the work lives in program.* (oneDNN) and program_wrap.*.
#include <dnnl.hpp>
#include <malloc.h>
#include <napi.h>
#include <omp.h>

#include "core/plan.h"
#include "cpu/addon_data.h"
#include "cpu/layout.h"
#include "cpu/peak.h"
#include "cpu/program_wrap.h"
#include "cpu/thread_team.h"
#include "js/convert.h"

namespace inception::cpu {
namespace {

// Whether a step may write straight into a channel slice of a blocked concat buffer. Verified by
// tests/native/cpu-views.test.ts (convs and pools into views at batch 2, compared to a reference).
constexpr bool kConcatViews = true;

Napi::Value JsInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const dnnl_version_t* v = dnnl_version();
  const CpuIsa isa = DetectIsa();
  Napi::Object result = Napi::Object::New(env);
  result.Set("onednn", Concat(v->major, ".", v->minor, ".", v->patch));
  result.Set("isa", isa.name);
  result.Set("channelBlock", isa.channel_block);
  result.Set("bf16Native", isa.bf16_native);
  if (!isa.bf16_native) result.Set("bf16Refusal", Bf16Refusal(isa));
  result.Set("threads", omp_get_num_procs());
  result.Set("threadPinning", Pinning());
  return result;
}

Napi::Value JsLayoutPolicy(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const std::string precision = info.Length() > 0 && info[0].IsString() ? info[0].As<Napi::String>().Utf8Value() : "";
  if (precision != "fp32" && precision != "bf16") {
    throw ToJsError(env, Error(kCodeInvalidArgument, "",
                               "Expected 'fp32' or 'bf16' for precision but received '" + precision +
                                   "' (tf32/fp16 are CUDA precisions)"));
  }
  const CpuIsa isa = DetectIsa();
  if (precision == "bf16" && !isa.bf16_native) throw ToJsError(env, Error("E_DEVICE", "", Bf16Refusal(isa), "layoutPolicy"));
  Napi::Object policy = Napi::Object::New(env);
  // bf16 too: its fp32 steps (the first convolution's input, the classifier's output) keep 4-byte buffers.
  policy.Set("elementBytes", 4);
  policy.Set("channelBlock", DetectIsa().channel_block);
  policy.Set("alignment", 64);
  policy.Set("concatViews", kConcatViews);
  return policy;
}

Napi::Value JsLivePrograms(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(CpuProgram::LiveCount()));
}

// Bytes malloc has handed out and not got back, over every arena (glibc's mallinfo2: uordblks plus
// mmapped blocks). Unlike RSS it does not count memory glibc keeps after free(), so the packaging
// test's worker cycles read leaks from it exactly (tests/packaging/consumer/worker-cycles.mjs).
// undefined where the C library has no mallinfo2 (the prebuilt module already needs glibc 2.34).
Napi::Value JsMallocInUse(const Napi::CallbackInfo& info) {
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 33))
  const struct mallinfo2 m = mallinfo2();
  return Napi::Number::New(info.Env(), static_cast<double>(m.uordblks + m.hblkhd));
#else
  return info.Env().Undefined();
#endif
}

void Cleanup(void* arg) { static_cast<AddonData*>(arg)->ReleaseAll(); }

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  auto* data = new AddonData();
  env.SetInstanceData(data);  // deleted by Node at environment teardown
  data->program_constructor = Napi::Persistent(ProgramWrap::Define(env));
  env.AddCleanupHook(Cleanup, static_cast<void*>(data));
  exports.Set("abiVersion", kAbiVersion);
  exports.Set("opKinds", OpKindsToJs(env));
  exports.Set("info", Napi::Function::New(env, JsInfo, "info"));
  exports.Set("layoutPolicy", Napi::Function::New(env, JsLayoutPolicy, "layoutPolicy"));
  exports.Set("compile", Napi::Function::New(env, JsCompile, "compile"));
  exports.Set("peakGflops", Napi::Function::New(env, JsPeakGflops, "peakGflops"));
  exports.Set("livePrograms", Napi::Function::New(env, JsLivePrograms, "livePrograms"));
  exports.Set("mallocInUse", Napi::Function::New(env, JsMallocInUse, "mallocInUse"));
  exports.Set("Program", data->program_constructor.Value());
  return exports;
}

}  // namespace
}  // namespace inception::cpu

static Napi::Object InitModule(Napi::Env env, Napi::Object exports) { return inception::cpu::Init(env, exports); }

NODE_API_MODULE(inception_cpu, InitModule)
