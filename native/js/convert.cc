#include "js/convert.h"

#include <cmath>
#include <initializer_list>
#include <limits>
#include <utility>
#include <vector>

namespace inception {
namespace {

[[noreturn]] void FailPlan(const std::string& path, const std::string& problem) {
  throw Error(kCodePlan, "", "malformed plan: " + path + ": " + problem, "PlanFromJs");
}

Napi::Value Field(const Napi::Object& obj, const char* key, const std::string& path) {
  Napi::Value value = obj.Get(key);
  if (value.IsUndefined()) FailPlan(path + "." + key, "missing");
  return value;
}

int64_t IntegerValue(const Napi::Value& value, const std::string& path, int64_t min, int64_t max) {
  if (!value.IsNumber()) FailPlan(path, "expected an integer");
  const double d = value.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(d) || std::floor(d) != d) FailPlan(path, Concat("expected an integer, got ", d));
  if (d < static_cast<double>(min) || d > static_cast<double>(max)) {
    FailPlan(path, Concat("expected an integer in [", min, ", ", max, "], got ", d));
  }
  return static_cast<int64_t>(d);
}

int64_t Int64Field(const Napi::Object& obj, const char* key, const std::string& path, int64_t min,
                   int64_t max = int64_t{1} << 53) {
  return IntegerValue(Field(obj, key, path), path + "." + key, min, max);
}

int32_t Int32Field(const Napi::Object& obj, const char* key, const std::string& path, int32_t min,
                   int32_t max = std::numeric_limits<int32_t>::max()) {
  return static_cast<int32_t>(Int64Field(obj, key, path, min, max));
}

bool BoolField(const Napi::Object& obj, const char* key, const std::string& path) {
  Napi::Value value = Field(obj, key, path);
  if (!value.IsBoolean()) FailPlan(path + "." + key, "expected a boolean");
  return value.As<Napi::Boolean>().Value();
}

float FloatField(const Napi::Object& obj, const char* key, const std::string& path) {
  Napi::Value value = Field(obj, key, path);
  if (!value.IsNumber()) FailPlan(path + "." + key, "expected a number");
  const double d = value.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(d)) FailPlan(path + "." + key, "expected a finite number");
  return static_cast<float>(d);
}

Napi::Object ObjectField(const Napi::Object& obj, const char* key, const std::string& path) {
  Napi::Value value = Field(obj, key, path);
  if (!value.IsObject()) FailPlan(path + "." + key, "expected an object");
  return value.As<Napi::Object>();
}

Napi::Array ArrayField(const Napi::Object& obj, const char* key, const std::string& path) {
  Napi::Value value = Field(obj, key, path);
  if (!value.IsArray()) FailPlan(path + "." + key, "expected an array");
  return value.As<Napi::Array>();
}

void PairField(const Napi::Object& obj, const char* key, const std::string& path, int32_t min,
               int32_t out[2]) {
  Napi::Array arr = ArrayField(obj, key, path);
  const std::string p = path + "." + key;
  if (arr.Length() != 2) FailPlan(p, Concat("expected 2 numbers, got ", arr.Length()));
  for (uint32_t i = 0; i < 2; ++i) {
    out[i] = static_cast<int32_t>(
        IntegerValue(arr.Get(i), Concat(p, "[", i, "]"), min, std::numeric_limits<int32_t>::max()));
  }
}

std::string Element(const std::string& path, uint32_t i) { return Concat(path, "[", i, "]"); }

// The product of positive int32 factors, or E_PLAN when it exceeds 2^53 (no int64 overflow: a plan
// with absurd dimensions must be refused, not wrap around to a length that happens to match).
int64_t CheckedProduct(std::initializer_list<int32_t> factors, const std::string& path) {
  constexpr int64_t kLimit = int64_t{1} << 53;
  int64_t product = 1;
  for (int32_t f : factors) {
    if (f > 0 && product > kLimit / f) FailPlan(path, "the shapes give more than 2^53 values");
    product *= f;
  }
  return product;
}

class PlanDecoder {
 public:
  explicit PlanDecoder(Plan* plan) : plan_(*plan) {}

  void DecodeBuffers(const Napi::Array& arr) {
    for (uint32_t i = 0; i < arr.Length(); ++i) {
      const std::string p = Element("buffers", i);
      Napi::Value v = arr.Get(i);
      if (!v.IsObject()) FailPlan(p, "expected an object");
      Napi::Object o = v.As<Napi::Object>();
      PlanBuffer b;
      b.offset = Int64Field(o, "offset", p, 0);
      b.bytes = Int64Field(o, "bytes", p, 1);
      b.n = Int32Field(o, "n", p, 1);
      b.c = Int32Field(o, "c", p, 1);
      b.h = Int32Field(o, "h", p, 1);
      b.w = Int32Field(o, "w", p, 1);
      if (b.offset + b.bytes > plan_.arena_bytes) {
        FailPlan(p, Concat("offset ", b.offset, " + bytes ", b.bytes, " exceeds arenaBytes ", plan_.arena_bytes));
      }
      if (b.n != plan_.batch) FailPlan(p + ".n", Concat("expected the plan batch ", plan_.batch, ", got ", b.n));
      plan_.buffers.push_back(b);
    }
  }

  void DecodeTensors(const Napi::Array& arr) {
    for (uint32_t i = 0; i < arr.Length(); ++i) {
      const std::string p = Element("tensors", i);
      Napi::Value v = arr.Get(i);
      if (!v.IsObject()) FailPlan(p, "expected an object");
      Napi::Object o = v.As<Napi::Object>();
      PlanTensor t;
      t.buffer = Int32Field(o, "buffer", p, 0, static_cast<int32_t>(plan_.buffers.size()) - 1);
      t.channel_offset = Int32Field(o, "channelOffset", p, 0);
      t.n = Int32Field(o, "n", p, 1);
      t.c = Int32Field(o, "c", p, 1);
      t.h = Int32Field(o, "h", p, 1);
      t.w = Int32Field(o, "w", p, 1);
      const PlanBuffer& b = plan_.buffers[t.buffer];
      if (t.n != b.n || t.h != b.h || t.w != b.w) {
        FailPlan(p, Concat("n,h,w ", t.n, ",", t.h, ",", t.w, " differ from buffer ", t.buffer, "'s ", b.n, ",",
                           b.h, ",", b.w));
      }
      if (int64_t{t.channel_offset} + t.c > b.c) {
        FailPlan(p, Concat("channels [", t.channel_offset, ", ", t.channel_offset + t.c, ") exceed buffer ", t.buffer,
                           "'s ", b.c, " channels"));
      }
      plan_.tensors.push_back(t);
    }
  }

  void DecodeSteps(const Napi::Array& arr) {
    for (uint32_t i = 0; i < arr.Length(); ++i) {
      const std::string p = Element("steps", i);
      Napi::Value v = arr.Get(i);
      if (!v.IsObject()) FailPlan(p, "expected an object");
      plan_.steps.push_back(DecodeStep(v.As<Napi::Object>(), p));
    }
  }

  // plan.schedule = { streams: 1..4, steps: [{ stream, waits: [earlier step indices] }] } (optional:
  // absent = every step on stream 0, no waits). Each wait must name an earlier step.
  void DecodeSchedule(const Napi::Value& value) {
    if (value.IsUndefined()) return;
    if (!value.IsObject()) FailPlan("plan.schedule", "expected an object");
    const Napi::Object o = value.As<Napi::Object>();
    plan_.streams = Int32Field(o, "streams", "plan.schedule", 1, kMaxStreams);
    Napi::Array steps = ArrayField(o, "steps", "plan.schedule");
    if (steps.Length() != plan_.steps.size()) {
      FailPlan("plan.schedule.steps", Concat("expected one entry per step (", plan_.steps.size(), "), got ", steps.Length()));
    }
    for (uint32_t j = 0; j < steps.Length(); ++j) {
      const std::string p = Element("plan.schedule.steps", j);
      Napi::Value v = steps.Get(j);
      if (!v.IsObject()) FailPlan(p, "expected an object");
      const Napi::Object entry = v.As<Napi::Object>();
      PlanStep& step = plan_.steps[j];
      step.stream = Int32Field(entry, "stream", p, 0, plan_.streams - 1);
      Napi::Array waits = ArrayField(entry, "waits", p);
      for (uint32_t k = 0; k < waits.Length(); ++k) {
        const int64_t w = IntegerValue(waits.Get(k), Element(p + ".waits", k), 0, static_cast<int64_t>(j) - 1);
        if (!step.waits.empty() && w <= step.waits.back()) FailPlan(Element(p + ".waits", k), "expected ascending step indices");
        step.waits.push_back(static_cast<int32_t>(w));
      }
    }
  }

  int32_t TensorIndex(const Napi::Object& o, const char* key, const std::string& p) {
    return Int32Field(o, key, p, 0, static_cast<int32_t>(plan_.tensors.size()) - 1);
  }

 private:
  PlanStep DecodeStep(const Napi::Object& o, const std::string& p) {
    PlanStep s;
    Napi::Value op = Field(o, "op", p);
    if (!op.IsString()) FailPlan(p + ".op", "expected a string");
    s.op = OpKindFromString(op.As<Napi::String>().Utf8Value(), p + ".op");
    Napi::Value name = Field(o, "name", p);
    if (!name.IsString()) FailPlan(p + ".name", "expected a string");
    s.name = name.As<Napi::String>().Utf8Value();
    const std::string sp = p + " ('" + s.name + "')";

    if (s.op == OpKind::kResidualAdd || s.op == OpKind::kConcat) {
      Napi::Array inputs = ArrayField(o, "inputs", sp);
      for (uint32_t k = 0; k < inputs.Length(); ++k) {
        s.inputs.push_back(static_cast<int32_t>(IntegerValue(inputs.Get(k), Element(sp + ".inputs", k), 0,
                                                             static_cast<int64_t>(plan_.tensors.size()) - 1)));
      }
    } else {
      s.inputs.push_back(TensorIndex(o, "input", sp));
    }
    s.output = TensorIndex(o, "output", sp);

    switch (s.op) {
      case OpKind::kConv2d: DecodeConv(o, sp, &s); break;
      case OpKind::kMaxPool2d:
      case OpKind::kAvgPool2d: DecodePool(o, sp, &s); break;
      case OpKind::kGlobalAvgPool: {
        const PlanTensor &in = In(s), &out = Out(s);
        if (out.c != in.c || out.h != 1 || out.w != 1) FailPlan(sp, "globalavgpool output must be [N,C,1,1] of its input");
        break;
      }
      case OpKind::kLinear: {
        s.weight = WeightField(o, "weight", sp);
        s.bias = WeightField(o, "bias", sp);
        s.relu = BoolField(o, "relu", sp);
        const PlanTensor &in = In(s), &out = Out(s);
        if (in.h != 1 || in.w != 1 || out.h != 1 || out.w != 1) FailPlan(sp, "linear input and output must be [N,F,1,1]");
        ExpectLength(s.weight, CheckedProduct({out.c, in.c}, sp + ".weight"), sp + ".weight");
        ExpectLength(s.bias, out.c, sp + ".bias");
        break;
      }
      case OpKind::kAffine: {
        s.weight = WeightField(o, "scale", sp);
        s.bias = WeightField(o, "shift", sp);
        s.relu = BoolField(o, "relu", sp);
        ExpectSameShape(In(s), Out(s), sp);
        ExpectLength(s.weight, In(s).c, sp + ".scale");
        ExpectLength(s.bias, In(s).c, sp + ".shift");
        break;
      }
      case OpKind::kRelu:
      case OpKind::kSoftmax: ExpectSameShape(In(s), Out(s), sp); break;
      case OpKind::kL2Norm:
        s.eps = FloatField(o, "eps", sp);
        if (s.eps < 0) FailPlan(sp + ".eps", "expected eps >= 0");
        ExpectSameShape(In(s), Out(s), sp);
        break;
      case OpKind::kResidualAdd:
        if (s.inputs.size() != 2) FailPlan(sp + ".inputs", Concat("expected 2 tensors, got ", s.inputs.size()));
        s.scale = FloatField(o, "scale", sp);
        s.relu = BoolField(o, "relu", sp);
        ExpectSameShape(plan_.tensors[s.inputs[0]], Out(s), sp);
        ExpectSameShape(plan_.tensors[s.inputs[1]], Out(s), sp);
        break;
      case OpKind::kConcat: {
        if (s.inputs.empty()) FailPlan(sp + ".inputs", "expected at least one tensor");
        int64_t channels = 0;
        for (int32_t t : s.inputs) {
          const PlanTensor& in = plan_.tensors[t];
          if (in.h != Out(s).h || in.w != Out(s).w) FailPlan(sp, Concat("concat input tensor ", t, " has another H,W than the output"));
          channels += in.c;
        }
        if (channels != Out(s).c) FailPlan(sp, Concat("concat inputs have ", channels, " channels, output has ", Out(s).c));
        break;
      }
    }
    return s;
  }

  void DecodeConv(const Napi::Object& o, const std::string& sp, PlanStep* s) {
    s->residual = Int32Field(o, "residual", sp, kNoTensor, static_cast<int32_t>(plan_.tensors.size()) - 1);
    s->weight = WeightField(o, "weight", sp);
    s->bias = WeightField(o, "bias", sp);
    PairField(o, "kernel", sp, 1, s->kernel);
    PairField(o, "stride", sp, 1, s->stride);
    PairField(o, "pad", sp, 0, s->pad);
    s->relu = BoolField(o, "relu", sp);
    const PlanTensor &in = In(*s), &out = Out(*s);
    ExpectWindowShape(in, out, *s, sp);
    ExpectLength(s->weight, CheckedProduct({out.c, in.c, s->kernel[0], s->kernel[1]}, sp + ".weight"), sp + ".weight");
    ExpectLength(s->bias, out.c, sp + ".bias");
    if (s->residual != kNoTensor && !SameTensor(plan_.tensors[s->residual], out)) {
      FailPlan(sp + ".residual", Concat("tensor ", s->residual, " must be the output tensor ", s->output,
                                        " (the residual is accumulated in place)"));
    }
  }

  void DecodePool(const Napi::Object& o, const std::string& sp, PlanStep* s) {
    PairField(o, "kernel", sp, 1, s->kernel);
    PairField(o, "stride", sp, 1, s->stride);
    PairField(o, "pad", sp, 0, s->pad);
    s->count_include_pad = BoolField(o, "countIncludePad", sp);
    if (In(*s).c != Out(*s).c) FailPlan(sp, "pool input and output channels differ");
    for (int d = 0; d < 2; ++d) {
      if (int64_t{s->pad[d]} * 2 > s->kernel[d]) {
        FailPlan(sp + ".pad", Concat("pool pad ", s->pad[d], " must be at most half the kernel ", s->kernel[d]));
      }
    }
    ExpectWindowShape(In(*s), Out(*s), *s, sp);
  }

  // Floor-mode output size: (in + 2 pad - kernel) / stride + 1.
  void ExpectWindowShape(const PlanTensor& in, const PlanTensor& out, const PlanStep& s, const std::string& sp) {
    const int64_t dims_in[2] = {in.h, in.w};
    const int64_t dims_out[2] = {out.h, out.w};
    for (int d = 0; d < 2; ++d) {
      const int64_t span = dims_in[d] + int64_t{2} * s.pad[d] - s.kernel[d];
      const int64_t expected = span < 0 ? 0 : span / s.stride[d] + 1;
      if (expected != dims_out[d]) {
        FailPlan(sp, Concat("output ", d == 0 ? "height " : "width ", dims_out[d], " does not match input ", dims_in[d],
                            ", kernel ", s.kernel[d], ", stride ", s.stride[d], ", pad ", s.pad[d], " (expected ",
                            expected, ")"));
      }
    }
  }

  WeightRef WeightField(const Napi::Object& o, const char* key, const std::string& sp) {
    const std::string p = sp + "." + key;
    Napi::Object w = ObjectField(o, key, sp);
    WeightRef r;
    r.offset = Int64Field(w, "offset", p, 0);
    r.length = Int64Field(w, "length", p, 1);
    if (r.offset + r.length > plan_.weight_count) {
      FailPlan(p, Concat("offset ", r.offset, " + length ", r.length, " exceeds weights length ", plan_.weight_count));
    }
    return r;
  }

  static void ExpectLength(const WeightRef& r, int64_t expected, const std::string& p) {
    if (r.length != expected) FailPlan(p, Concat("length ", r.length, " does not match the shapes (expected ", expected, ")"));
  }
  static void ExpectSameShape(const PlanTensor& a, const PlanTensor& b, const std::string& sp) {
    if (a.c != b.c || a.h != b.h || a.w != b.w) {
      FailPlan(sp, Concat("shapes differ: [", a.c, ",", a.h, ",", a.w, "] vs [", b.c, ",", b.h, ",", b.w, "]"));
    }
  }
  static bool SameTensor(const PlanTensor& a, const PlanTensor& b) {
    return a.buffer == b.buffer && a.channel_offset == b.channel_offset && a.c == b.c && a.h == b.h && a.w == b.w;
  }
  const PlanTensor& In(const PlanStep& s) const { return plan_.tensors[s.inputs[0]]; }
  const PlanTensor& Out(const PlanStep& s) const { return plan_.tensors[s.output]; }

  Plan& plan_;
};

}  // namespace

const std::vector<OpKindName>& OpKindTable() {
  static const std::vector<OpKindName> kTable = {
      {"conv2d", OpKind::kConv2d},       {"maxpool2d", OpKind::kMaxPool2d},
      {"avgpool2d", OpKind::kAvgPool2d}, {"globalavgpool", OpKind::kGlobalAvgPool},
      {"linear", OpKind::kLinear},       {"affine", OpKind::kAffine},
      {"relu", OpKind::kRelu},           {"residual_add", OpKind::kResidualAdd},
      {"concat", OpKind::kConcat},       {"l2norm", OpKind::kL2Norm},
      {"softmax", OpKind::kSoftmax},
  };
  return kTable;
}

Napi::Object OpKindsToJs(Napi::Env env) {
  Napi::Object kinds = Napi::Object::New(env);
  for (const OpKindName& entry : OpKindTable()) {
    kinds.Set(entry.name, Napi::Number::New(env, static_cast<int32_t>(entry.kind)));
  }
  return kinds;
}

OpKind OpKindFromString(const std::string& op, const std::string& path) {
  for (const OpKindName& entry : OpKindTable()) {
    if (op == entry.name) return entry.kind;
  }
  FailPlan(path, "unknown op '" + op + "'");
}

Plan PlanFromJs(const Napi::Object& js, Napi::ObjectReference* weights_owner) {
  Plan plan;
  plan.batch = Int32Field(js, "batch", "plan", 1);
  plan.arena_bytes = Int64Field(js, "arenaBytes", "plan", 1);

  Napi::Value weights = Field(js, "weights", "plan");
  if (!weights.IsTypedArray() || weights.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array) {
    FailPlan("plan.weights", "expected a Float32Array");
  }
  Napi::Float32Array w = weights.As<Napi::Float32Array>();
  plan.weights = w.Data();
  plan.weight_count = static_cast<int64_t>(w.ElementLength());
  if (weights_owner != nullptr) *weights_owner = Napi::Persistent(static_cast<Napi::Object>(w));

  PlanDecoder decoder(&plan);
  decoder.DecodeBuffers(ArrayField(js, "buffers", "plan"));
  decoder.DecodeTensors(ArrayField(js, "tensors", "plan"));
  if (plan.tensors.empty()) FailPlan("plan.tensors", "expected at least one tensor");
  decoder.DecodeSteps(ArrayField(js, "steps", "plan"));
  decoder.DecodeSchedule(js.Get("schedule"));
  plan.input = decoder.TensorIndex(js, "input", "plan");
  plan.output = decoder.TensorIndex(js, "output", "plan");
  // Any [N,C,H,W] input and output are accepted (the models use [N,3,H,W] -> [N,K,1,1]; tests read
  // intermediate maps): backends convert from/to plain NCHW.
  if (plan.input == plan.output) FailPlan("plan.output", "must differ from plan.input");
  return plan;
}

Napi::Error ToJsError(Napi::Env env, const Error& error) {
  Napi::Error js = Napi::Error::New(env, error.what());
  js.Set("code", Napi::String::New(env, error.code()));
  if (!error.native_code().empty()) js.Set("nativeCode", Napi::String::New(env, error.native_code()));
  if (!error.step().empty()) js.Set("step", Napi::String::New(env, error.step()));
  if (!error.call().empty()) js.Set("call", Napi::String::New(env, error.call()));
  if (!error.shapes().empty()) js.Set("shapes", Napi::String::New(env, error.shapes()));
  return js;
}

Napi::Error ToJsError(Napi::Env env, const std::exception& error) {
  if (const auto* e = dynamic_cast<const Error*>(&error)) return ToJsError(env, *e);
  Napi::Error js = Napi::Error::New(env, error.what());
  js.Set("code", Napi::String::New(env, kCodeNative));
  js.Set("nativeCode", Napi::String::New(env, dynamic_cast<const std::bad_alloc*>(&error) ? "ENOMEM" : "EXCEPTION"));
  return js;
}

int32_t OptionalInt32(const Napi::Object& options, const char* key, int32_t fallback, int32_t min, int32_t max) {
  Napi::Value value = options.Get(key);
  if (value.IsUndefined()) return fallback;
  const double d = value.IsNumber() ? value.As<Napi::Number>().DoubleValue() : std::nan("");
  if (!std::isfinite(d) || std::floor(d) != d || d < min || d > max) {
    throw Error(kCodeInvalidArgument, "",
                Concat("Expected an integer between ", min, " and ", max, " for ", key, " but received ",
                       value.IsNumber() ? Concat(d) : std::string("a non-number")));
  }
  return static_cast<int32_t>(d);
}

}  // namespace inception
