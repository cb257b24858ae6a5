// The flat execution plan, as decoded from JavaScript (mirrors src/plan/types.ts).
// Plain data only: no Napi, no oneDNN, no CUDA headers here.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace inception {

enum class OpKind : int32_t {
  kConv2d = 0,
  kMaxPool2d = 1,
  kAvgPool2d = 2,
  kGlobalAvgPool = 3,
  kLinear = 4,
  kAffine = 5,
  kRelu = 6,
  kResidualAdd = 7,
  kConcat = 8,
  kL2Norm = 9,
  kSoftmax = 10,
};

constexpr int32_t kNoTensor = -1;
// Most streams a plan schedule may use (MAX_STREAMS in src/plan/schedule.ts).
constexpr int32_t kMaxStreams = 4;

// The version of the JS <-> native contract (Plan object, module exports, OpKind values).
// Must equal ABI_VERSION in src/native/abi.ts; each module exports it as `abiVersion`.
constexpr int32_t kAbiVersion = 2;

struct PlanBuffer {
  int64_t offset = 0;  // bytes into the activation arena
  int64_t bytes = 0;   // bytes reserved at plan.batch
  int32_t n = 0, c = 0, h = 0, w = 0;
};

// A channel slice [channel_offset, channel_offset + c) of a buffer.
struct PlanTensor {
  int32_t buffer = 0;
  int32_t channel_offset = 0;
  int32_t n = 0, c = 0, h = 0, w = 0;
};

struct WeightRef {
  int64_t offset = 0;  // in float32 elements into Plan::weights
  int64_t length = 0;
};

struct PlanStep {
  OpKind op = OpKind::kConv2d;
  std::string name;
  std::vector<int32_t> inputs;  // conv/pool/...: {input}; residual_add: {a, b}; concat: all pieces
  int32_t output = kNoTensor;
  int32_t residual = kNoTensor;  // conv only; == output when set (in-place accumulate)
  WeightRef weight, bias;        // conv, linear; affine uses weight = scale, bias = shift
  int32_t kernel[2] = {1, 1};
  int32_t stride[2] = {1, 1};
  int32_t pad[2] = {0, 0};
  bool relu = false;
  bool count_include_pad = false;
  float scale = 1.0f;  // residual_add
  float eps = 0.0f;    // l2norm
  // Branch streams (plan.schedule; src/plan/schedule.ts): the stream this step runs on
  // (0..Plan::streams-1) and the earlier steps on other streams it must wait for (ascending).
  int32_t stream = 0;
  std::vector<int32_t> waits;
};

struct Plan {
  int32_t batch = 0;  // the maximum batch the plan was made for
  int64_t arena_bytes = 0;
  std::vector<PlanBuffer> buffers;
  std::vector<PlanTensor> tensors;
  std::vector<PlanStep> steps;
  int32_t input = kNoTensor;
  int32_t output = kNoTensor;
  int32_t streams = 1;  // plan.schedule.streams (1 when the plan has no schedule)
  // Weights stay owned by the JS Float32Array during compile; backends copy/reorder what they keep.
  const float* weights = nullptr;
  int64_t weight_count = 0;
};

}  // namespace inception
