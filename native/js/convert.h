// The only code that reads Napi objects into plain structs (and plain errors back into JS).
// Shared by inception_cpu.node and inception_cuda.node; no oneDNN/CUDA headers here.
#pragma once

#include <napi.h>

#include <exception>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/plan.h"

namespace inception {

// Decodes a JS `Plan` (src/plan/types.ts) into an inception::Plan, validating every index,
// shape and weight range. Throws inception::Error(E_PLAN) naming the bad field, e.g.
// "steps[12].weight: offset 100 + length 864 exceeds weights length 512".
// plan.weights points into the JS Float32Array: the caller must keep that array alive for as
// long as it reads the weights. With `weights_owner`, it is set to a strong reference to exactly
// the array plan.weights points into (a reference to the plan object is not enough: JS may
// reassign plan.weights while an async compile reads the old array).
Plan PlanFromJs(const Napi::Object& plan, Napi::ObjectReference* weights_owner = nullptr);

// {name, kind} for every op, in OpKind order: modules export it as `opKinds` for the ABI check.
struct OpKindName {
  const char* name;
  OpKind kind;
};
const std::vector<OpKindName>& OpKindTable();
// An object { conv2d: 0, ... } built from OpKindTable().
Napi::Object OpKindsToJs(Napi::Env env);

// The string op of a JS step -> OpKind (the same table as src/native/abi.ts). Throws E_PLAN.
OpKind OpKindFromString(const std::string& op, const std::string& path);

// A JS Error carrying `code`, `nativeCode` (when set), `step` (when set), `call` and `shapes`.
Napi::Error ToJsError(Napi::Env env, const Error& error);
// Any exception -> JS Error (inception::Error keeps its fields; others get code E_NATIVE).
Napi::Error ToJsError(Napi::Env env, const std::exception& error);

// Reads an optional non-negative integer option (`undefined` -> fallback). Throws E_INVALID_ARGUMENT.
int32_t OptionalInt32(const Napi::Object& options, const char* key, int32_t fallback, int32_t min,
                      int32_t max);

}  // namespace inception
