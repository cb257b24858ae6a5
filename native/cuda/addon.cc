// inception_cuda.node: info(), memoryInfo(deviceIndex), copyBandwidth(deviceIndex, bytes, repeats, trials),
// compile(plan, options) -> Promise<Program>,
// Program.run/profile/dispose/choices/graphs. options: { precision, deviceIndex?, benchmark? (default false),
// graphs? (default true) }.
// All CUDA/cuDNN work (compile and run) happens in AsyncWorkers off the JS thread.
#include <napi.h>

#include <cstdlib>
#include <memory>
#include <optional>
#include <sstream>
#include <vector>

#include "core/error.h"
#include "core/plan.h"
#include "cuda/copy_bandwidth.h"
#include "cuda/device_info.h"
#include "cuda/program.h"
#include "js/convert.h"

namespace inception::cuda {
namespace {

struct AddonData {
  Napi::FunctionReference program_class;
};

// Captures any exception from Execute so OnOK can reject with the full inception::Error fields.
struct CapturedError {
  std::optional<Error> error;
  void Capture() {
    try {
      throw;
    } catch (const Error& e) {
      error = e;
    } catch (const std::bad_alloc&) {
      error = Error(kCodeNative, "ENOMEM", "out of host memory");
    } catch (const std::exception& e) {
      error = Error(kCodeNative, "EXCEPTION", e.what());
    }
  }
};

Napi::Value JsInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const DeviceReport r = ProbeDevices();
  Napi::Object o = Napi::Object::New(env);
  o.Set("runtimeVersion", CudaVersionString(r.runtime_version));
  o.Set("driverVersion", r.driver_version ? Napi::Value(Napi::String::New(env, CudaVersionString(r.driver_version))) : env.Null());
  o.Set("driverError", r.driver_error.empty() ? env.Null() : Napi::Value(Napi::String::New(env, r.driver_error)));
  o.Set("deviceCount", r.device_count);
  o.Set("deviceError", r.device_error.empty() ? env.Null() : Napi::Value(Napi::String::New(env, r.device_error)));
  Napi::Array devices = Napi::Array::New(env, r.devices.size());
  for (size_t i = 0; i < r.devices.size(); ++i) {
    Napi::Object d = Napi::Object::New(env);
    d.Set("index", r.devices[i].index);
    d.Set("name", r.devices[i].name);
    d.Set("memoryBytes", static_cast<double>(r.devices[i].memory_bytes));
    d.Set("computeCapability", std::to_string(r.devices[i].major) + "." + std::to_string(r.devices[i].minor));
    devices.Set(static_cast<uint32_t>(i), d);
  }
  o.Set("devices", devices);
  Napi::Object c = Napi::Object::New(env);
  c.Set("loaded", r.cudnn.loaded);
  c.Set("path", r.cudnn.path.empty() ? env.Null() : Napi::Value(Napi::String::New(env, r.cudnn.path)));
  c.Set("source", r.cudnn.source.empty() ? env.Null() : Napi::Value(Napi::String::New(env, r.cudnn.source)));
  c.Set("version", r.cudnn.version ? Napi::Value(Napi::String::New(env, CudnnVersionString(r.cudnn.version))) : env.Null());
  c.Set("cudartVersion", r.cudnn.cudart_version ? Napi::Value(Napi::String::New(env, CudaVersionString(static_cast<int>(r.cudnn.cudart_version)))) : env.Null());
  c.Set("error", r.cudnn.error.empty() ? env.Null() : Napi::Value(Napi::String::New(env, r.cudnn.error)));
  auto strings = [&](const std::vector<std::string>& v) {
    Napi::Array a = Napi::Array::New(env, v.size());
    for (size_t i = 0; i < v.size(); ++i) a.Set(static_cast<uint32_t>(i), v[i]);
    return a;
  };
  c.Set("searched", strings(r.cudnn.searched));
  c.Set("libraries", strings(r.cudnn.libraries));
  o.Set("cudnn", c);
  return o;
}

// memoryInfo(deviceIndex) -> { deviceIndex, freeBytes, totalBytes } (cudaMemGetInfo; throws E_DEVICE /
// E_BACKEND_UNAVAILABLE). Synchronous: one driver query.
Napi::Value JsMemoryInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  try {
    INCEPTION_CHECK(info.Length() >= 1 && info[0].IsNumber(), kCodeInvalidArgument,
                    "memoryInfo(deviceIndex: number) expects a device index");
    const double d = info[0].As<Napi::Number>().DoubleValue();
    INCEPTION_CHECK(d >= 0 && d < (1 << 16) && d == static_cast<int>(d), kCodeInvalidArgument,
                    "memoryInfo: the device index must be a non-negative integer, got ", d);
    const DeviceMemory m = QueryDeviceMemory(static_cast<int>(d));
    Napi::Object o = Napi::Object::New(env);
    o.Set("deviceIndex", static_cast<int>(d));
    o.Set("freeBytes", static_cast<double>(m.free_bytes));
    o.Set("totalBytes", static_cast<double>(m.total_bytes));
    return o;
  } catch (const Error& e) {
    throw ToJsError(env, e);
  }
}

ProgramOptions OptionsFromJs(const Napi::Object& o) {
  ProgramOptions opts;
  Napi::Value precision = o.Get("precision");
  if (!precision.IsString()) {
    throw Error(kCodeInvalidArgument, "", "Expected one of 'fp32', 'tf32', 'fp16' for options.precision");
  }
  opts.precision = ParsePrecision(precision.As<Napi::String>().Utf8Value());
  opts.device = OptionalInt32(o, "deviceIndex", 0, 0, 1 << 16);
  Napi::Value benchmark = o.Get("benchmark");
  if (!benchmark.IsUndefined()) {
    if (!benchmark.IsBoolean()) throw Error(kCodeInvalidArgument, "", "Expected a boolean for options.benchmark");
    opts.benchmark = benchmark.As<Napi::Boolean>().Value();
  } else {
    opts.benchmark = false;
  }
  Napi::Value graphs = o.Get("graphs");
  if (!graphs.IsUndefined()) {
    if (!graphs.IsBoolean()) throw Error(kCodeInvalidArgument, "", "Expected a boolean for options.graphs");
    opts.graphs = graphs.As<Napi::Boolean>().Value();
  }
  Napi::Value sizes = o.Get("batchSizes");
  if (!sizes.IsUndefined()) {
    if (!sizes.IsArray()) throw Error(kCodeInvalidArgument, "", "Expected an array of batch sizes for options.batchSizes");
    Napi::Array array = sizes.As<Napi::Array>();
    for (uint32_t i = 0; i < array.Length(); ++i) {
      Napi::Value v = array.Get(i);
      const double d = v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : 0;
      // Only the conversion is checked here; Program checks the order and range against the plan.
      if (!(d >= 1 && d <= (1 << 20) && d == static_cast<int>(d))) {
        throw Error(kCodeInvalidArgument, "", "options.batchSizes must be an array of positive integers");
      }
      opts.batch_sizes.push_back(static_cast<int>(d));
    }
  }
  opts.copy_threads = OptionalInt32(o, "copyThreads", 0, 1, 8);
  Napi::Value overlap = o.Get("overlapTransfers");
  if (!overlap.IsUndefined()) {
    if (!overlap.IsBoolean()) throw Error(kCodeInvalidArgument, "", "Expected a boolean for options.overlapTransfers");
    opts.overlap_transfers = overlap.As<Napi::Boolean>().Value();
  }
  // Test switches for the fallback paths.
  if (const char* force = std::getenv("INCEPTION_CUDA_FORCE")) {
    std::stringstream ss(force);
    std::string item;
    while (std::getline(ss, item, ',')) {
      if (item == "split-conv") opts.force_split = true;
      else if (item == "scratch-views") opts.force_scratch = true;
      else if (item == "pool-kernel") opts.force_pool_kernel = true;
      else if (!item.empty())
        throw Error(kCodeInvalidArgument, "", "INCEPTION_CUDA_FORCE: unknown switch '" + item +
                                                  "' (known: split-conv, scratch-views, pool-kernel)");
    }
  }
  return opts;
}

void CheckDevice(int device) {
  int count = 0;
  cudaError_t st = cudaGetDeviceCount(&count);
  if (st != cudaSuccess) {
    cudaGetLastError();
    throw Error("E_BACKEND_UNAVAILABLE", cudaGetErrorName(st),
                std::string("no usable CUDA device: ") + cudaGetErrorString(st), "cudaGetDeviceCount");
  }
  if (device >= count) {
    throw Error("E_DEVICE", "", Concat("device cuda:", device, " does not exist; this machine has ", count,
                                       " CUDA device(s): use cuda:0..cuda:", count - 1));
  }
}

// copyBandwidth(deviceIndex, bytes, repeats, trials) -> { bytesPerCopy, bestMs, gbPerS, repeats, trials }:
// the device-to-device copy roof (copy_bandwidth.h). Synchronous: tens of milliseconds of GPU work.
Napi::Value JsCopyBandwidth(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  try {
    bool ok = info.Length() >= 4;
    for (size_t i = 0; ok && i < 4; ++i) ok = info[i].IsNumber();
    INCEPTION_CHECK(ok, kCodeInvalidArgument,
                    "copyBandwidth(deviceIndex: number, bytes: number, repeats: number, trials: number) expects four numbers");
    const double d = info[0].As<Napi::Number>().DoubleValue();
    const double bytes = info[1].As<Napi::Number>().DoubleValue();
    const double repeats = info[2].As<Napi::Number>().DoubleValue();
    const double trials = info[3].As<Napi::Number>().DoubleValue();
    INCEPTION_CHECK(d >= 0 && d < (1 << 16) && d == static_cast<int>(d), kCodeInvalidArgument,
                    "copyBandwidth: the device index must be a non-negative integer, got ", d);
    // Ranges as doubles first (a cast of an out-of-range double is undefined), then integrality.
    INCEPTION_CHECK(bytes >= 1048576.0 && bytes <= 17179869184.0 && repeats >= 1 && repeats <= 1000 && trials >= 1 &&
                        trials <= 100,
                    kCodeInvalidArgument, "copyBandwidth: bytes must be 1 MiB..16 GiB, repeats 1..1000 and trials 1..100, got ",
                    bytes, ", ", repeats, " and ", trials);
    INCEPTION_CHECK(bytes == static_cast<double>(static_cast<size_t>(bytes)) && repeats == static_cast<int>(repeats) &&
                        trials == static_cast<int>(trials),
                    kCodeInvalidArgument, "copyBandwidth: bytes, repeats and trials must be integers");
    CheckCopyBandwidthArgs(static_cast<size_t>(bytes), static_cast<int>(repeats), static_cast<int>(trials));
    CheckDevice(static_cast<int>(d));
    const CopyBandwidth r = MeasureCopyBandwidth(static_cast<int>(d), static_cast<size_t>(bytes), static_cast<int>(repeats),
                                                 static_cast<int>(trials));
    Napi::Object o = Napi::Object::New(env);
    o.Set("bytesPerCopy", static_cast<double>(r.bytes_per_copy));
    o.Set("bestMs", r.best_ms);
    o.Set("gbPerS", static_cast<double>(r.bytes_per_copy) / (r.best_ms / 1000.0) / 1e9);
    o.Set("repeats", r.repeats);
    o.Set("trials", r.trials);
    return o;
  } catch (const Error& e) {
    throw ToJsError(env, e);
  }
}

class ProgramWrap : public Napi::ObjectWrap<ProgramWrap> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "CudaProgram",
                       {InstanceMethod<&ProgramWrap::JsRun>("run"), InstanceMethod<&ProgramWrap::JsRunNow>("runNow"),
                        InstanceMethod<&ProgramWrap::JsDispose>("dispose"),
                        InstanceMethod<&ProgramWrap::JsProfile>("profile"),
                        InstanceMethod<&ProgramWrap::JsChoices>("choices"),
                        InstanceMethod<&ProgramWrap::JsGraphs>("graphs"),
                        InstanceAccessor<&ProgramWrap::JsWorkspaceBytes>("workspaceBytes"),
                        InstanceAccessor<&ProgramWrap::JsWeightBytes>("weightBytes"),
                        InstanceAccessor<&ProgramWrap::JsArenaBytes>("arenaBytes"),
                        InstanceAccessor<&ProgramWrap::JsOverlapsTransfers>("overlapsTransfers")});
  }
  explicit ProgramWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<ProgramWrap>(info) {}
  void Attach(std::shared_ptr<Program> p) { program_ = std::move(p); }

 private:
  // What run() and profile() share: the promise, the program and the input array kept alive (the
  // input is read in place on the worker thread), n; a native error becomes the promise's rejection.
  class BatchWorker : public Napi::AsyncWorker {
   public:
    BatchWorker(Napi::Env env, std::shared_ptr<Program> program, Napi::Float32Array input, int n)
        : Napi::AsyncWorker(env), program_(std::move(program)), input_(input.Data()), n_(n),
          deferred_(Napi::Promise::Deferred::New(env)), input_ref_(Napi::Persistent(input)) {}
    // A run of the batch Program::Stage already copied: no JS array to read or keep (input_ null).
    BatchWorker(Napi::Env env, std::shared_ptr<Program> program, int n, int slot)
        : Napi::AsyncWorker(env), program_(std::move(program)), input_(nullptr), n_(n), slot_(slot),
          deferred_(Napi::Promise::Deferred::New(env)) {}
    Napi::Promise Promise() { return deferred_.Promise(); }
    void Execute() override {
      try {
        Compute();
      } catch (...) {
        captured_.Capture();
      }
    }
    void OnOK() override {
      Napi::Env env = Env();
      if (captured_.error) {
        deferred_.Reject(ToJsError(env, *captured_.error).Value());
        return;
      }
      deferred_.Resolve(Result(env));
    }

   protected:
    virtual void Compute() = 0;                     // on the worker thread
    virtual Napi::Value Result(Napi::Env env) = 0;  // on the JS thread, after Compute succeeded
    std::shared_ptr<Program> program_;
    const float* input_;
    int n_;
    int slot_ = -1;  // the staging slot Program::Stage filled (input_ null)

   private:
    Napi::Promise::Deferred deferred_;
    Napi::Reference<Napi::Float32Array> input_ref_;
    CapturedError captured_;
  };

  class RunWorker : public BatchWorker {
   public:
    using BatchWorker::BatchWorker;
    void Compute() override {
      if (input_ != nullptr) {
        program_->Run(input_, n_, &output_);
      } else {
        program_->RunStaged(n_, slot_, &output_);
      }
    }
    Napi::Value Result(Napi::Env env) override {
      Napi::Float32Array out = Napi::Float32Array::New(env, output_.size());
      std::copy(output_.begin(), output_.end(), out.Data());
      return out;
    }

   private:
    std::vector<float> output_;
  };

  class ProfileWorker : public BatchWorker {
   public:
    ProfileWorker(Napi::Env env, std::shared_ptr<Program> program, Napi::Float32Array input, int n, int repeats)
        : BatchWorker(env, std::move(program), input, n), repeats_(repeats) {}
    void Compute() override { result_ = program_->Profile(input_, n_, repeats_); }
    Napi::Value Result(Napi::Env env) override {
      Napi::Array a = Napi::Array::New(env, result_.size());
      for (size_t i = 0; i < result_.size(); ++i) {
        const StepProfile& p = result_[i];
        Napi::Object o = Napi::Object::New(env);
        o.Set("step", p.step);
        o.Set("index", p.index);
        o.Set("ms", p.ms);
        o.Set("path", p.path);
        o.Set("algo", p.algo);
        o.Set("workspaceBytes", static_cast<double>(p.workspace_bytes));
        o.Set("stream", p.stream);
        o.Set("description", p.description);
        a.Set(static_cast<uint32_t>(i), o);
      }
      return a;
    }

   private:
    int repeats_;
    std::vector<StepProfile> result_;
  };

  // The checks run() and profile() share before a worker reads the JS array: the program is open,
  // info[0] is a Float32Array and info[1..count-1] are numbers (else `usage`), and n = info[1] is
  // a batch size of this program. Returns n.
  int BatchSize(const Napi::CallbackInfo& info, size_t count, const char* usage) {
    INCEPTION_CHECK(program_ != nullptr, kCodeDisposed, "this CUDA program has been disposed; compile a new one");
    bool ok = info.Length() >= count && info[0].IsTypedArray() &&
              info[0].As<Napi::TypedArray>().TypedArrayType() == napi_float32_array;
    for (size_t i = 1; ok && i < count; ++i) ok = info[i].IsNumber();
    INCEPTION_CHECK(ok, kCodeInvalidArgument, usage);
    const double nd = info[1].As<Napi::Number>().DoubleValue();
    INCEPTION_CHECK(nd >= 1 && nd <= program_->batch() && nd == static_cast<int>(nd), kCodeInvalidInput,
                    "Expected an integer between 1 and ", program_->batch(), " for n but received ", nd);
    return static_cast<int>(nd);
  }
  // Checked here, not only in Program::Run: the worker reads n images from the JS array.
  void CheckInputLength(const Napi::Float32Array& input, int n) {
    INCEPTION_CHECK(static_cast<int64_t>(input.ElementLength()) == program_->InputElements(n), kCodeInvalidInput,
                    "Expected a Float32Array of length ", program_->InputElements(n), " for ", n,
                    " images but received length ", input.ElementLength());
  }
  static Napi::Value Start(BatchWorker* worker) {
    Napi::Promise promise = worker->Promise();
    worker->Queue();
    return promise;
  }

  Napi::Value JsRun(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    try {
      const int n = BatchSize(info, 2, "run(input: Float32Array, n: number) expects a Float32Array and a batch size");
      Napi::Float32Array input = info[0].As<Napi::Float32Array>();
      CheckInputLength(input, n);
      return Start(new RunWorker(env, program_, input, n));
    } catch (const Error& e) {
      auto deferred = Napi::Promise::Deferred::New(env);
      deferred.Reject(ToJsError(env, e).Value());
      return deferred.Promise();
    }
  }
  // runNow(input: Float32Array, n) -> Promise<Float32Array> | null: copies and checks the batch into
  // pinned memory on this thread (Program::Stage, on ForEachCopyChunk's threads), then runs it on a
  // worker, so the caller may reuse `input` as soon as this returns. null, copying nothing, while
  // another call holds the program (then use run(), which reads `input` on the worker).
  Napi::Value JsRunNow(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    try {
      const int n = BatchSize(info, 2, "runNow(input: Float32Array, n: number) expects a Float32Array and a batch size");
      Napi::Float32Array input = info[0].As<Napi::Float32Array>();
      CheckInputLength(input, n);
      const int slot = program_->Stage(input.Data(), n);
      if (slot < 0) return env.Null();
      return Start(new RunWorker(env, program_, n, slot));
    } catch (const Error& e) {
      auto deferred = Napi::Promise::Deferred::New(env);
      deferred.Reject(ToJsError(env, e).Value());
      return deferred.Promise();
    }
  }
  // profile(input: Float32Array, n, repeats) -> Promise<StepProfile[]> (see Program::Profile).
  Napi::Value JsProfile(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    try {
      const int n = BatchSize(info, 3, "profile(input: Float32Array, n: number, repeats: number) expects a Float32Array and two numbers");
      const double rd = info[2].As<Napi::Number>().DoubleValue();
      INCEPTION_CHECK(rd >= 1 && rd <= 10000 && rd == static_cast<int>(rd), kCodeInvalidArgument,
                      "Expected an integer between 1 and 10000 for repeats but received ", rd);
      Napi::Float32Array input = info[0].As<Napi::Float32Array>();
      CheckInputLength(input, n);
      return Start(new ProfileWorker(env, program_, input, n, static_cast<int>(rd)));
    } catch (const Error& e) {
      auto deferred = Napi::Promise::Deferred::New(env);
      deferred.Reject(ToJsError(env, e).Value());
      return deferred.Promise();
    }
  }
  Napi::Value JsDispose(const Napi::CallbackInfo& info) {
    program_.reset();  // freed now, or when an in-flight run finishes
    return info.Env().Undefined();
  }
  Napi::Value JsChoices(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Napi::Array a = Napi::Array::New(env);
    if (!program_) return a;
    uint32_t i = 0;
    for (const ConvChoice& c : program_->Choices()) {
      Napi::Object o = Napi::Object::New(env);
      o.Set("step", c.step);
      o.Set("n", c.n);
      o.Set("description", c.description);
      o.Set("split", c.split);
      o.Set("viaScratch", c.via_scratch);
      o.Set("workspaceBytes", static_cast<double>(c.workspace_bytes));
      o.Set("fromCache", c.from_cache);
      a.Set(i++, o);
    }
    return a;
  }
  Napi::Value JsGraphs(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Napi::Array a = Napi::Array::New(env);
    if (!program_) return a;
    uint32_t i = 0;
    for (const GraphInfo& g : program_->Graphs()) {
      Napi::Object o = Napi::Object::New(env);
      o.Set("n", g.n);
      o.Set("captured", g.captured);
      if (!g.reason.empty()) o.Set("reason", g.reason);
      if (g.captured) o.Set("nodes", static_cast<double>(g.nodes));
      a.Set(i++, o);
    }
    return a;
  }
  Napi::Value JsWorkspaceBytes(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), program_ ? static_cast<double>(program_->workspace_bytes()) : 0.0);
  }
  Napi::Value JsWeightBytes(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), program_ ? static_cast<double>(program_->weight_bytes()) : 0.0);
  }
  Napi::Value JsArenaBytes(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), program_ ? static_cast<double>(program_->arena_bytes()) : 0.0);
  }
  Napi::Value JsOverlapsTransfers(const Napi::CallbackInfo& info) {
    return Napi::Boolean::New(info.Env(), program_ != nullptr && program_->overlaps_transfers());
  }

  std::shared_ptr<Program> program_;
};

class CompileWorker : public Napi::AsyncWorker {
 public:
  // weights: the Float32Array plan.weights points into, kept alive while Execute reads it.
  CompileWorker(Napi::Env env, Napi::ObjectReference weights, Plan plan, ProgramOptions options)
      : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)),
        weights_ref_(std::move(weights)), plan_(std::move(plan)), options_(options) {}
  Napi::Promise Promise() { return deferred_.Promise(); }
  void Execute() override {
    try {
      if (!LoadCudnn().loaded) RequireCudnn();
      CheckDevice(options_.device);
      program_ = std::make_shared<Program>(plan_, options_);
    } catch (...) {
      captured_.Capture();
    }
  }
  void OnOK() override {
    Napi::Env env = Env();
    if (captured_.error) {
      deferred_.Reject(ToJsError(env, *captured_.error).Value());
      return;
    }
    AddonData* data = env.GetInstanceData<AddonData>();
    Napi::Object wrap = data->program_class.New({});
    ProgramWrap::Unwrap(wrap)->Attach(std::move(program_));
    deferred_.Resolve(wrap);
  }

 private:
  Napi::Promise::Deferred deferred_;
  Napi::ObjectReference weights_ref_;  // keeps plan.weights (a JS Float32Array) alive
  Plan plan_;
  ProgramOptions options_;
  std::shared_ptr<Program> program_;
  CapturedError captured_;
};

Napi::Value JsCompile(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto deferred = Napi::Promise::Deferred::New(env);
  try {
    INCEPTION_CHECK(info.Length() >= 2 && info[0].IsObject() && info[1].IsObject(), kCodeInvalidArgument,
                    "compile(plan, options) expects two objects");
    Napi::ObjectReference weights;
    Plan plan = PlanFromJs(info[0].As<Napi::Object>(), &weights);
    ProgramOptions options = OptionsFromJs(info[1].As<Napi::Object>());
    auto* worker = new CompileWorker(env, std::move(weights), std::move(plan), options);
    Napi::Promise promise = worker->Promise();
    worker->Queue();
    return promise;
  } catch (const Error& e) {
    deferred.Reject(ToJsError(env, e).Value());
    return deferred.Promise();
  }
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  auto* data = new AddonData();
  data->program_class = Napi::Persistent(ProgramWrap::Define(env));
  env.SetInstanceData<AddonData>(data);
  exports.Set("abiVersion", kAbiVersion);
  exports.Set("opKinds", OpKindsToJs(env));
  exports.Set("info", Napi::Function::New(env, JsInfo, "info"));
  exports.Set("compile", Napi::Function::New(env, JsCompile, "compile"));
  exports.Set("memoryInfo", Napi::Function::New(env, JsMemoryInfo, "memoryInfo"));
  exports.Set("copyBandwidth", Napi::Function::New(env, JsCopyBandwidth, "copyBandwidth"));
  return exports;
}

}  // namespace
}  // namespace inception::cuda

static Napi::Object InitInceptionCuda(Napi::Env env, Napi::Object exports) {
  return inception::cuda::Init(env, exports);
}
NODE_API_MODULE(inception_cuda, InitInceptionCuda)
