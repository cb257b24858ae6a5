// The physical layout of arena buffers on oneDNN, and the two ways to address them:
// memory descriptors for primitives, TensorAccess for the plain loops.
//
// Every buffer is blocked nChw{B}c with B = ChannelBlock() (8 on AVX2, 16 on AVX-512), channels
// padded to a multiple of B; the graph input buffer alone is plain NCHW (oneDNN's first-layer
// convolutions want plain 3-channel input, and the plain size fits in the planner's padded bytes).
// A batch-n buffer is the first n images of the batch-max buffer (images are outermost).
#pragma once

#include <dnnl.hpp>

#include <cstdint>
#include <string>

#include "core/plan.h"

namespace inception::cpu {

struct CpuIsa {
  std::string name;   // "avx2", "avx512_core", ...
  int channel_block;  // 16 with AVX-512, else 8
  // The CPU multiplies bf16 natively: AVX512-BF16 (Cooper Lake, Zen 4) or AMX (Sapphire Rapids).
  // oneDNN 2.6 also runs bf16 on plain avx512_core by emulating the dot products (much slower
  // than fp32): precision 'bf16' is refused there (Bf16Refusal says why).
  bool bf16_native = false;
};
CpuIsa DetectIsa();
// Why precision 'bf16' is refused on this CPU, naming its ISA and what is needed.
std::string Bf16Refusal(const CpuIsa& isa);

struct BufferLayout {
  int32_t block = 1;       // channels per block; 1 = plain NCHW
  // f32, or bf16 under precision 'bf16' (the planner reserves 4 bytes per element either way).
  dnnl::memory::data_type data_type = dnnl::memory::data_type::f32;
  int64_t padded_c = 0;    // channels rounded up to block
  int64_t offset = 0;      // bytes into the arena
  int32_t c = 0, h = 0, w = 0;
  int64_t ImageElements() const { return padded_c * h * w; }
  int64_t ElementBytes() const { return data_type == dnnl::memory::data_type::bf16 ? 2 : 4; }
  int64_t ImageBytes() const { return ImageElements() * ElementBytes(); }
};

BufferLayout MakeBufferLayout(const PlanBuffer& buffer, int32_t block);

// [n, c, h, w] of the whole buffer at batch n.
dnnl::memory::desc BufferDesc(const BufferLayout& layout, int32_t n);
// The tensor's channel slice of its buffer at batch n (a submemory_desc when it is a view).
dnnl::memory::desc TensorDesc(const BufferLayout& layout, const PlanTensor& tensor, int32_t n);
std::string LayoutName(const BufferLayout& layout);

// Element addressing for the plain loops (fp32 buffers only: MakeAccess refuses a bf16 one): offset(n, c, s) with s = h * w_ + w.
struct TensorAccess {
  float* base = nullptr;  // start of the buffer in the arena
  int32_t n = 0, c = 0, c_offset = 0, hw = 0;
  int32_t block = 1;
  int64_t image_stride = 0;  // elements per image of the buffer
  int32_t buffer_c = 0;      // logical channels of the buffer
  int64_t padded_c = 0;

  float* Channel(int32_t image, int32_t channel) const {
    const int64_t cc = int64_t{c_offset} + channel;
    return base + image * image_stride + (cc / block) * int64_t{hw} * block + cc % block;
  }
  // Stride between consecutive spatial positions of one channel.
  int32_t SpatialStride() const { return block; }
};

TensorAccess MakeAccess(uint8_t* arena, const BufferLayout& layout, const PlanTensor& tensor, int32_t n);

}  // namespace inception::cpu
