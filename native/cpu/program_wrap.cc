#include "cpu/program_wrap.h"

#include <omp.h>

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/error.h"
#include "cpu/addon_data.h"
#include "cpu/compute_thread.h"
#include "js/convert.h"

namespace inception::cpu {
namespace {

// Base for workers that keep an inception::Error (code, step, shapes) for the JS rejection.
class PromiseWorker : public Napi::AsyncWorker {
 public:
  PromiseWorker(Napi::Env env, const char* name) : Napi::AsyncWorker(env, name), deferred_(Napi::Promise::Deferred::New(env)) {}
  Napi::Promise Promise() const { return deferred_.Promise(); }

 protected:
  // Runs fn() and turns any exception into a stored error (Execute must not touch JS).
  template <typename Fn>
  void Guard(Fn&& fn) {
    try {
      fn();
    } catch (const Error& e) {
      error_ = e;
      SetError(e.what());
    } catch (const std::exception& e) {
      error_ = Error(kCodeNative, dynamic_cast<const std::bad_alloc*>(&e) ? "ENOMEM" : "EXCEPTION", e.what());
      SetError(e.what());
    }
  }
  void OnError(const Napi::Error& fallback) override {
    Cleanup();
    if (error_) deferred_.Reject(ToJsError(Env(), *error_).Value());
    else deferred_.Reject(fallback.Value());
  }
  virtual void Cleanup() {}

  Napi::Promise::Deferred deferred_;
  std::optional<Error> error_;
};

class CompileWorker : public PromiseWorker {
 public:
  // weights: the Float32Array plan.weights points into, kept alive while Execute reads it.
  CompileWorker(Napi::Env env, Plan plan, Napi::ObjectReference weights, int32_t threads, ConvAlgorithm conv_algorithm,
                bool benchmark, Precision precision)
      : PromiseWorker(env, "inception_cpu.compile"),
        plan_(std::move(plan)),
        threads_(threads),
        conv_algorithm_(conv_algorithm),
        benchmark_(benchmark),
        precision_(precision),
        weights_(std::move(weights)) {}
  void Execute() override {
    Guard([&] {
      ComputeThread::Instance().Run([&] { program_ = std::make_shared<CpuProgram>(plan_, threads_, conv_algorithm_, benchmark_, precision_); });
    });
  }
  void OnOK() override {
    Napi::Env env = Env();
    try {
      auto* data = env.GetInstanceData<AddonData>();
      Napi::Object wrap = data->program_constructor.New({Napi::External<std::shared_ptr<CpuProgram>>::New(env, &program_)});
      data->Register(program_);
      deferred_.Resolve(wrap);
    } catch (const Napi::Error& e) {
      deferred_.Reject(e.Value());
    }
  }

 private:
  Plan plan_;
  int32_t threads_;
  ConvAlgorithm conv_algorithm_;
  bool benchmark_;
  Precision precision_;
  Napi::ObjectReference weights_;
  std::shared_ptr<CpuProgram> program_;
};

// What run() and profile() share: the program kept alive, its wrap marked busy until the work
// ends, and the input array referenced (not copied) and read in place on the compute thread.
class BatchWorker : public PromiseWorker {
 public:
  BatchWorker(Napi::Env env, const char* name, ProgramWrap* wrap, Napi::Object self,
              std::shared_ptr<CpuProgram> program, Napi::Float32Array input, int32_t n)
      : PromiseWorker(env, name),
        program_(std::move(program)),
        input_(input.Data()),
        n_(n),
        wrap_(wrap),
        self_(Napi::Persistent(self)),  // the wrap outlives the work
        input_ref_(Napi::Persistent(input)) {}
  void Cleanup() override { wrap_->FinishRun(); }

 protected:
  std::shared_ptr<CpuProgram> program_;
  const float* input_;
  int32_t n_;

 private:
  ProgramWrap* wrap_;
  Napi::ObjectReference self_;
  Napi::Reference<Napi::Float32Array> input_ref_;
};

class RunWorker : public BatchWorker {
 public:
  RunWorker(Napi::Env env, ProgramWrap* wrap, Napi::Object self, std::shared_ptr<CpuProgram> program,
            Napi::Float32Array input, int32_t n)
      : BatchWorker(env, "inception_cpu.run", wrap, self, std::move(program), input, n) {}
  void Execute() override {
    Guard([&] {
      output_.resize(static_cast<size_t>(program_->OutputElements(n_)));
      ComputeThread::Instance().Run([&] { program_->Run(input_, n_, output_.data()); });
    });
  }
  void OnOK() override {
    Cleanup();
    Napi::Env env = Env();
    Napi::Float32Array result = Napi::Float32Array::New(env, output_.size());
    std::copy(output_.begin(), output_.end(), result.Data());
    deferred_.Resolve(result);
  }

 private:
  std::vector<float> output_;
};

// profile(input, n, repeats, hot?): per-entry median milliseconds (and with hot, each plan step's
// median when rerun right after), off the JS thread like run().
class ProfileWorker : public BatchWorker {
 public:
  ProfileWorker(Napi::Env env, ProgramWrap* wrap, Napi::Object self, std::shared_ptr<CpuProgram> program,
                Napi::Float32Array input, int32_t n, int32_t repeats, bool hot)
      : BatchWorker(env, "inception_cpu.profile", wrap, self, std::move(program), input, n), repeats_(repeats), hot_(hot) {}
  void Execute() override {
    Guard([&] {
      std::vector<float> output(static_cast<size_t>(program_->OutputElements(n_)));
      // ProfileEntries may create batch n's primitives (oneDNN work): on the compute thread too.
      ComputeThread::Instance().Run([&] {
        entries_ = program_->ProfileEntries(n_);
        ms_ = program_->Profile(input_, n_, repeats_, output.data(), hot_ ? &hot_ms_ : nullptr);
      });
    });
  }
  void OnOK() override {
    Cleanup();
    Napi::Env env = Env();
    Napi::Array result = Napi::Array::New(env, entries_.size());
    for (size_t i = 0; i < entries_.size(); ++i) {
      Napi::Object o = Napi::Object::New(env);
      o.Set("step", entries_[i].step);
      o.Set("impl", entries_[i].impl);
      o.Set("ms", i < ms_.size() ? ms_[i] : 0.0);
      // hot_ms_: one per plan step, the entries between the input and the output reorder.
      if (hot_ && i >= 1 && i - 1 < hot_ms_.size() && i + 1 < entries_.size()) o.Set("hotMs", hot_ms_[i - 1]);
      result.Set(static_cast<uint32_t>(i), o);
    }
    deferred_.Resolve(result);
  }

 private:
  int32_t repeats_;
  bool hot_;
  std::vector<StepImplementation> entries_;
  std::vector<double> ms_, hot_ms_;
};

Napi::Value Rejected(Napi::Env env, const Error& error) {
  auto deferred = Napi::Promise::Deferred::New(env);
  deferred.Reject(ToJsError(env, error).Value());
  return deferred.Promise();
}

}  // namespace

Napi::Function ProgramWrap::Define(Napi::Env env) {
  return DefineClass(env, "Program",
                     {
                         InstanceMethod<&ProgramWrap::JsRun>("run"),
                         InstanceMethod<&ProgramWrap::JsDispose>("dispose"),
                         InstanceMethod<&ProgramWrap::JsImplementations>("implementations"),
                         InstanceMethod<&ProgramWrap::JsProfile>("profile"),
                         InstanceAccessor<&ProgramWrap::JsWorkspaceBytes>("workspaceBytes"),
                         InstanceAccessor<&ProgramWrap::JsWeightBytes>("weightBytes"),
                         InstanceAccessor<&ProgramWrap::JsArenaBytes>("arenaBytes"),
                         InstanceAccessor<&ProgramWrap::JsBatch>("batch"),
                         InstanceAccessor<&ProgramWrap::JsDisposed>("disposed"),
                     });
}

ProgramWrap::ProgramWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<ProgramWrap>(info) {
  if (info.Length() != 1 || !info[0].IsExternal()) {
    throw ToJsError(info.Env(), Error(kCodeInvalidArgument, "", "Program objects are made by compile(plan, options), not new Program()"));
  }
  program_ = *info[0].As<Napi::External<std::shared_ptr<CpuProgram>>>().Data();
}

std::shared_ptr<CpuProgram> ProgramWrap::Live(Napi::Env env, const char* method) {
  if (!program_) throw ToJsError(env, Error(kCodeDisposed, "", Concat("Program.", method, " after dispose()")));
  return program_;
}

std::optional<Error> ProgramWrap::TakeBatch(const Napi::CallbackInfo& info, const char* method, const char* usage,
                                            int32_t* n, Napi::Float32Array* input) {
  if (!program_) return Error(kCodeDisposed, "", Concat("Program.", method, " after dispose()"));
  if (info.Length() < 2 || !info[0].IsTypedArray() ||
      info[0].As<Napi::TypedArray>().TypedArrayType() != napi_float32_array || !info[1].IsNumber()) {
    return Error(kCodeInvalidArgument, "", Concat("Expected ", usage));
  }
  const double n_value = info[1].As<Napi::Number>().DoubleValue();
  if (!(n_value >= 1 && n_value <= program_->batch()) || n_value != static_cast<int32_t>(n_value)) {
    return Error(kCodeInvalidInput, "", Concat("Expected an integer batch between 1 and ", program_->batch(),
                                               " for n but received ", n_value));
  }
  *n = static_cast<int32_t>(n_value);
  *input = info[0].As<Napi::Float32Array>();
  const int64_t expected = program_->InputElements(*n);
  if (static_cast<int64_t>(input->ElementLength()) != expected) {
    return Error(kCodeInvalidInput, "", Concat("Expected a Float32Array of length ", expected, " for ", *n,
                                               " images but received length ", input->ElementLength()));
  }
  if (busy_.exchange(true)) {
    return Error(kCodeInvalidArgument, "",
                 Concat("Program.", method, " called while another run of this program is in progress; await it first"));
  }
  return std::nullopt;
}

Napi::Value ProgramWrap::JsRun(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int32_t n = 0;
  Napi::Float32Array input;
  if (auto error = TakeBatch(info, "run", "run(input: Float32Array, n: number)", &n, &input)) return Rejected(env, *error);
  auto* worker = new RunWorker(env, this, Value(), program_, input, n);
  Napi::Promise promise = worker->Promise();
  worker->Queue();
  return promise;
}

Napi::Value ProgramWrap::JsProfile(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  constexpr const char* kUsage = "profile(input: Float32Array, n: number, repeats: number, hot?: boolean)";
  if (!program_) return Rejected(env, Error(kCodeDisposed, "", "Program.profile after dispose()"));
  if (info.Length() < 3 || !info[2].IsNumber()) return Rejected(env, Error(kCodeInvalidArgument, "", Concat("Expected ", kUsage)));
  const double repeats = info[2].As<Napi::Number>().DoubleValue();
  if (!(repeats >= 1 && repeats <= 1000) || repeats != static_cast<int32_t>(repeats)) {
    return Rejected(env, Error(kCodeInvalidArgument, "", Concat("Expected an integer between 1 and 1000 for repeats but received ", repeats)));
  }
  if (info.Length() > 3 && !info[3].IsUndefined() && !info[3].IsBoolean()) {
    return Rejected(env, Error(kCodeInvalidArgument, "", Concat("Expected a boolean for hot: ", kUsage)));
  }
  const bool hot = info.Length() > 3 && info[3].IsBoolean() && info[3].As<Napi::Boolean>().Value();
  int32_t n = 0;
  Napi::Float32Array input;
  if (auto error = TakeBatch(info, "profile", kUsage, &n, &input)) return Rejected(env, *error);
  auto* worker = new ProfileWorker(env, this, Value(), program_, input, n, static_cast<int32_t>(repeats), hot);
  Napi::Promise promise = worker->Promise();
  worker->Queue();
  return promise;
}

Napi::Value ProgramWrap::JsDispose(const Napi::CallbackInfo& info) {
  // A run in flight keeps its own reference; its memory goes when it finishes.
  if (program_ && !busy_) program_->Release();
  program_.reset();
  return info.Env().Undefined();
}

Napi::Value ProgramWrap::JsImplementations(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::vector<StepImplementation> impls = Live(env, "implementations")->Implementations();
  Napi::Array result = Napi::Array::New(env, impls.size());
  for (size_t i = 0; i < impls.size(); ++i) {
    Napi::Object o = Napi::Object::New(env);
    o.Set("step", impls[i].step);
    o.Set("impl", impls[i].impl);
    o.Set("batch", impls[i].batch);
    result.Set(static_cast<uint32_t>(i), o);
  }
  return result;
}

Napi::Value ProgramWrap::JsWorkspaceBytes(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(Live(info.Env(), "workspaceBytes")->workspace_bytes()));
}
Napi::Value ProgramWrap::JsWeightBytes(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(Live(info.Env(), "weightBytes")->weight_bytes()));
}
Napi::Value ProgramWrap::JsArenaBytes(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(Live(info.Env(), "arenaBytes")->arena_bytes()));
}
Napi::Value ProgramWrap::JsBatch(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), Live(info.Env(), "batch")->batch());
}
Napi::Value ProgramWrap::JsDisposed(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), !program_);
}

Napi::Value JsCompile(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  try {
    if (info.Length() < 1 || !info[0].IsObject()) {
      throw Error(kCodeInvalidArgument, "",
                  "Expected compile(plan: Plan, options?: { threads?: number, convolution?: 'auto' | 'direct', benchmark?: boolean, "
                  "precision?: 'fp32' | 'bf16' })");
    }
    Napi::Object options = info.Length() > 1 && info[1].IsObject() ? info[1].As<Napi::Object>() : Napi::Object::New(env);
    const int32_t threads = OptionalInt32(options, "threads", omp_get_num_procs(), 1, 1024);
    ConvAlgorithm conv_algorithm = ConvAlgorithm::kAuto;
    const Napi::Value convolution = options.Get("convolution");
    if (!convolution.IsUndefined()) {
      const std::string name = convolution.IsString() ? convolution.As<Napi::String>().Utf8Value() : std::string();
      if (name == "direct") {
        conv_algorithm = ConvAlgorithm::kDirect;
      } else if (name != "auto") {
        throw Error(kCodeInvalidArgument, "", "Expected 'auto' or 'direct' for convolution");
      }
    }
    bool benchmark = true;
    const Napi::Value benchmark_value = options.Get("benchmark");
    if (!benchmark_value.IsUndefined()) {
      if (!benchmark_value.IsBoolean()) throw Error(kCodeInvalidArgument, "", "Expected a boolean for benchmark");
      benchmark = benchmark_value.As<Napi::Boolean>().Value();
    }
    Precision precision = Precision::kFp32;
    const Napi::Value precision_value = options.Get("precision");
    if (!precision_value.IsUndefined()) {
      const std::string name = precision_value.IsString() ? precision_value.As<Napi::String>().Utf8Value() : std::string();
      if (name == "bf16") {
        precision = Precision::kBf16;
        const CpuIsa isa = DetectIsa();
        if (!isa.bf16_native) throw Error("E_DEVICE", "", Bf16Refusal(isa), "compile");
      } else if (name != "fp32") {
        throw Error(kCodeInvalidArgument, "", "Expected 'fp32' or 'bf16' for precision (tf32/fp16 are CUDA precisions)");
      }
    }
    Napi::ObjectReference weights;
    Plan plan = PlanFromJs(info[0].As<Napi::Object>(), &weights);
    auto* worker = new CompileWorker(env, std::move(plan), std::move(weights), threads, conv_algorithm, benchmark, precision);
    Napi::Promise promise = worker->Promise();
    worker->Queue();
    return promise;
  } catch (const Error& e) {
    return Rejected(env, e);
  }
}

}  // namespace inception::cpu
