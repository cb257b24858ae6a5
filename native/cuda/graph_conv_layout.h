// The pure layout logic of a cuDNN graph-API convolution (graph_conv.h), with no CUDA or cuDNN
// dependency so the host compiler can test it (tests/native/graph-conv-layout.test.ts):
// the int64 dims/strides of each tensor, the unique ids of the graph's tensors, the variant pack's
// order, the byte alignment declared for a pointer, and which engines a precision may run.
//
// Every tensor is described with logical dims in n,c,h,w order and explicit element strides (the
// backend API takes any strides, so NHWC, NCHW and channel slices of a concat buffer are all
// "dims + strides"; the filter is k,c,r,s with its memory order in the strides).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace inception::cuda::graph {

struct TensorLayout {
  int64_t dims[4] = {0, 0, 0, 0};
  int64_t strides[4] = {0, 0, 0, 0};
};

// A 4d view: dims n,c,h,w and element strides (what TensorView holds).
inline TensorLayout ViewLayout(int64_t n, int64_t c, int64_t h, int64_t w, int64_t sn, int64_t sc, int64_t sh,
                               int64_t sw) {
  return {{n, c, h, w}, {sn, sc, sh, sw}};
}

// A packed tensor of that shape, NHWC (fp16) or NCHW (fp32/tf32): the virtual intermediates.
inline TensorLayout PackedLayout(int64_t n, int64_t c, int64_t h, int64_t w, bool nhwc) {
  if (nhwc) return {{n, c, h, w}, {c * h * w, 1, w * c, c}};
  return {{n, c, h, w}, {c * h * w, h * w, w, 1}};
}

// The filter [k, c, r, s]: K,R,S,C in memory for NHWC (as program.cc lays fp16 weights out),
// K,C,R,S for NCHW.
inline TensorLayout FilterLayout(int64_t k, int64_t c, int64_t r, int64_t s, bool nhwc) {
  if (nhwc) return {{k, c, r, s}, {c * r * s, 1, s * c, c}};
  return {{k, c, r, s}, {c * r * s, r * s, s, 1}};
}

// The per-channel bias [1, k, 1, 1] (k contiguous values; channel stride 1 in both layouts).
inline TensorLayout BiasLayout(int64_t k, bool nhwc) {
  if (nhwc) return {{1, k, 1, 1}, {k, 1, k, k}};
  return {{1, k, 1, 1}, {k, 1, 1, 1}};
}

// Unique ids of the graph's tensors. Real tensors (in the variant pack) below 100, virtual
// intermediates (never in the variant pack) from 100.
enum Uid : int64_t {
  kUidX = 1,
  kUidW = 2,
  kUidBias = 3,
  kUidZ = 4,  // the residual input: the output view itself (in-place residual)
  kUidY = 5,
  kUidConvOut = 101,      // conv(x, w)
  kUidBiasOut = 102,      // + bias
  kUidResidualOut = 103,  // + z (residual steps only)
};

// The variant pack's unique ids, in the order its data pointers are given: x, w, bias, (z), y.
inline std::vector<int64_t> VariantPackUids(bool residual) {
  if (residual) return {kUidX, kUidW, kUidBias, kUidZ, kUidY};
  return {kUidX, kUidW, kUidBias, kUidY};
}

// The virtual intermediates between the conv and y, in graph order: conv -> +bias -> (+z) -> (relu).
// The last pointwise op writes y, so a step with neither residual nor relu has one intermediate.
inline std::vector<int64_t> IntermediateUids(bool residual, bool relu) {
  std::vector<int64_t> out = {kUidConvOut};
  if (residual || relu) out.push_back(kUidBiasOut);
  if (residual && relu) out.push_back(kUidResidualOut);
  return out;
}

// The largest power of two <= max_alignment that divides the address (what we declare as a
// tensor's CUDNN_ATTR_TENSOR_BYTE_ALIGNMENT; a null pointer counts as max-aligned).
inline int64_t PointerAlignment(uintptr_t address, int64_t max_alignment = 16) {
  int64_t a = max_alignment;
  while (a > 1 && address % static_cast<uintptr_t>(a) != 0) a /= 2;
  return a;
}

// Which engines a precision may run, from their numerical notes (cudnnBackendNumericalNote_t
// values: 0 tensor core, 1 down-converts inputs, 2 reduced-precision reduction).
//   fp32: no tensor cores (they would run TF32) and no down-converted inputs;
//   tf32: tensor cores allowed (TF32), still no down-converted inputs;
//   fp16: tensor cores, but fp32 accumulation (no reduced-precision reduction), no down-convert.
// notes_known = false (the engine's notes could not be read): only fp16 accepts the engine.
// Returns "" when allowed, else the reason.
inline std::string EngineRejection(const std::string& precision, const std::vector<int>& notes, bool notes_known) {
  const bool fp16 = precision == "fp16";
  if (!notes_known) return fp16 ? "" : "its numerical notes could not be read (TF32 cannot be ruled out)";
  for (int note : notes) {
    if (note == 1) return "it down-converts its inputs";
    if (note == 2) return "it accumulates in reduced precision";
    if (note == 0 && precision == "fp32") return "it uses tensor cores (TF32 on fp32 data)";
  }
  return "";
}

}  // namespace inception::cuda::graph
