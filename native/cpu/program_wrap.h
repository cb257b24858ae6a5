// The JS face of a CpuProgram: `Program` objects made by compile(), with run() as an AsyncWorker.
#pragma once

#include <napi.h>

#include <atomic>
#include <optional>
#include <vector>
#include <memory>

#include "core/error.h"
#include "cpu/program.h"

namespace inception::cpu {

class AddonData;

class ProgramWrap : public Napi::ObjectWrap<ProgramWrap> {
 public:
  static Napi::Function Define(Napi::Env env);
  // Constructed only by compile(): info[0] is an External holding the compiled program.
  explicit ProgramWrap(const Napi::CallbackInfo& info);

  void FinishRun() { busy_ = false; }

 private:
  Napi::Value JsRun(const Napi::CallbackInfo& info);
  Napi::Value JsDispose(const Napi::CallbackInfo& info);
  Napi::Value JsImplementations(const Napi::CallbackInfo& info);
  Napi::Value JsProfile(const Napi::CallbackInfo& info);
  Napi::Value JsWorkspaceBytes(const Napi::CallbackInfo& info);
  Napi::Value JsWeightBytes(const Napi::CallbackInfo& info);
  Napi::Value JsArenaBytes(const Napi::CallbackInfo& info);
  Napi::Value JsBatch(const Napi::CallbackInfo& info);
  Napi::Value JsDisposed(const Napi::CallbackInfo& info);
  std::shared_ptr<CpuProgram> Live(Napi::Env env, const char* method);
  // The shared checks of run() and profile(): a live program, (Float32Array, n) arguments,
  // 1 <= n <= batch, the input length for n images, no run in progress. On success marks the
  // program busy and returns n and the input, which the run reads in place on the compute thread
  // (no copy on the JS thread): the caller must leave it unchanged until the promise settles.
  std::optional<inception::Error> TakeBatch(const Napi::CallbackInfo& info, const char* method, const char* usage, int32_t* n,
                                 Napi::Float32Array* input);

  std::shared_ptr<CpuProgram> program_;
  std::atomic<bool> busy_{false};
};

// compile(plan, { threads }) -> Promise<Program>
Napi::Value JsCompile(const Napi::CallbackInfo& info);

}  // namespace inception::cpu
