// Convolutions with more than one tap whose whole output over the batch is a handful of pixels
// (n * out_h * out_w <= kMaxRows), on AVX-512 (nChw16c): at batch 1, Inception-ResNet-v1's
// Reduction-B stride-2 3x3 convs (8x8 -> 3x3 at its 160-pixel input) and its Block8 1x3 / 3x1 convs
// on 3x3 maps.
//
// There each weight is used by at most kMaxRows outputs, so the step's time is the time to read its
// weights from DRAM (a network's weights are several times the L3 cache, so they are never hot).
// oneDNN 2.6's direct kernels read them slowly on this shape class (256->384 3x3 stride 2, 8x8 ->
// 3x3, cold weights, 2 threads: 17 GB/s; a plain stream reaches 32-38). This kernel gathers the
// input windows of the few output pixels into a small matrix (im2col: taps * Cin values per pixel,
// zeros in the padding) and streams the weights once, packed in 64-byte-aligned panels of 32 output
// channels [Cout/32][taps * Cin][32], through 2 x rows accumulators. In IR-v1 at batch 1, 2 threads:
// mixed_7a's three stride-2 convs 0.21/0.15/0.14 -> 0.16/0.11/0.09 ms in the network, which runs
// about 2% faster (sessions with and without it in one process, alternating: medians 13.5-13.7
// against 14.3 ms, paired 1.025-1.027 where two identical sessions give 1.011).
//
// Where it is not used, measured: 1x1 convs and linear layers on such maps are slower here in the
// network than oneDNN's 1x1 kernel (1792->192 on 3x3: 57-93 against 47-60 us per step, although
// alone with cold weights the two are equal), and at 64 pixels (8x8 maps) oneDNN's kernels are
// 1.1-1.5x faster than this one (0.65-0.96x here), so kMaxRows stays at one register tile.
// Summation order differs from oneDNN's: results differ from 'direct' at the float rounding level.
//
// Input and output are channel slices of nChw16c buffers addressed directly (image stride and a
// channel offset that is a multiple of 16), like winograd_1d.h, so concat views need no copies.
// A residual step adds the destination's current contents (the plan wrote the residual there).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "cpu/alignment.h"
#include "cpu/blocked_slice.h"

namespace inception::cpu {

struct SmallMapShape {
  int32_t cin = 0, cout = 0;
  int32_t in_h = 0, in_w = 0, out_h = 0, out_w = 0;
  int32_t kernel[2] = {1, 1}, stride[2] = {1, 1}, pad[2] = {0, 0};
  bool relu = false;
  bool residual = false;  // out = conv + bias + out
};

class SmallMapConv {
 public:
  static constexpr const char* kImpl = "small_map:avx512_core";
  static constexpr int32_t kBlock = 16;
  static constexpr int32_t kPanel = 32;    // output channels per weight panel: two AVX-512 registers
  static constexpr int32_t kMaxRows = 12;  // output pixels (over the batch) per run: 2 x 12 accumulators

  // Whether a conv of this geometry runs here at some batch: more than one tap, channel counts and
  // view offsets multiples of 16, and one image's output at most kMaxRows pixels.
  static bool Supports(const SmallMapShape& shape, int32_t in_channel_offset, int32_t out_channel_offset);
  // Whether batch n fits in one run (n * out_h * out_w <= kMaxRows).
  static bool Fits(const SmallMapShape& shape, int32_t n) {
    return int64_t{n} * shape.out_h * shape.out_w <= kMaxRows;
  }
  bool Fits(int32_t n) const { return Fits(shape_, n); }

  // Packs the OIHW weights ([cout][cin][kh][kw]) into panels once; keeps a copy of the bias.
  SmallMapConv(const SmallMapShape& shape, const float* weights, const float* bias);
  SmallMapConv(const SmallMapConv&) = delete;
  SmallMapConv& operator=(const SmallMapConv&) = delete;

  // Bytes of workspace Run needs (the gathered windows), a multiple of 64.
  int64_t WorkspaceBytes() const;
  // out = relu?(conv(in) + bias (+ out if residual)) for n images; workspace: WorkspaceBytes()
  // bytes, 64-byte aligned. Throws inception::Error when batch n does not Fit.
  void Run(int32_t n, const BlockedSlice& in, const BlockedSlice& out, float* workspace) const;

  int64_t weight_bytes() const;
  std::string Describe(int32_t n) const;  // shapes, for error messages

 private:
  SmallMapShape shape_;
  int32_t taps_ = 0;
  int64_t depth_ = 0;  // taps * cin: the length of one gathered window
  int32_t panels_ = 0;
  // [panels][depth][kPanel], zeros past cout; 64-byte aligned, so each 16-float load is one cache
  // line (unaligned, cold weights streamed at ~26 instead of ~34 GB/s).
  AlignedPtr<float> packed_;
  std::vector<float> bias_;  // [panels * kPanel], zeros past cout
};

}  // namespace inception::cpu
