#include "cpu/layout.h"

#include "core/error.h"
#include "cpu/check.h"

namespace inception::cpu {

using dnnl::memory;

CpuIsa DetectIsa() {
  const auto isa = static_cast<dnnl_cpu_isa_t>(dnnl_get_effective_cpu_isa());
  CpuIsa result{"unknown", 8};
  switch (isa) {
    case dnnl_cpu_isa_all: result.name = "all"; break;
    case dnnl_cpu_isa_sse41: result.name = "sse41"; break;
    case dnnl_cpu_isa_avx: result.name = "avx"; break;
    case dnnl_cpu_isa_avx2: result.name = "avx2"; break;
    case dnnl_cpu_isa_avx512_mic: result.name = "avx512_mic"; break;
    case dnnl_cpu_isa_avx512_mic_4ops: result.name = "avx512_mic_4ops"; break;
    case dnnl_cpu_isa_avx512_core: result.name = "avx512_core"; break;
    case dnnl_cpu_isa_avx512_core_vnni: result.name = "avx512_core_vnni"; break;
    case dnnl_cpu_isa_avx512_core_bf16: result.name = "avx512_core_bf16"; break;
    case dnnl_cpu_isa_avx512_core_amx: result.name = "avx512_core_amx"; break;
    case dnnl_cpu_isa_avx2_vnni: result.name = "avx2_vnni"; break;
  }
  // avx512_core and everything above it carry the avx512_core bits; avx512_mic does not.
  if ((isa & dnnl_cpu_isa_avx512_core) == dnnl_cpu_isa_avx512_core) result.channel_block = 16;
  // avx512_core_amx carries the avx512_core_bf16 bits; avx2_vnni and avx512_core_vnni do not.
  result.bf16_native = (isa & dnnl_cpu_isa_avx512_core_bf16) == dnnl_cpu_isa_avx512_core_bf16;
  return result;
}

std::string Bf16Refusal(const CpuIsa& isa) {
  return Concat("precision 'bf16' needs a CPU that multiplies bf16 natively (AVX512-BF16: avx512_core_bf16, as on Intel ",
                "Cooper Lake or AMD Zen 4; or AMX: avx512_core_amx, Sapphire Rapids and later), but oneDNN runs this CPU as '",
                isa.name, "' (DNNL_MAX_CPU_ISA, when set, lowers it); bf16 would be emulated here, slower than fp32: ",
                "use precision 'fp32'");
}

BufferLayout MakeBufferLayout(const PlanBuffer& buffer, int32_t block) {
  BufferLayout l;
  l.block = block;
  l.padded_c = (int64_t{buffer.c} + block - 1) / block * block;
  l.offset = buffer.offset;
  l.c = buffer.c;
  l.h = buffer.h;
  l.w = buffer.w;
  return l;
}

static memory::format_tag BlockTag(int32_t block) {
  switch (block) {
    case 1: return memory::format_tag::nchw;
    case 8: return memory::format_tag::nChw8c;
    case 16: return memory::format_tag::nChw16c;
  }
  throw Error(kCodeNative, "", Concat("unsupported channel block ", block), "BlockTag");
}

std::string LayoutName(const BufferLayout& layout) {
  const char* type = layout.data_type == memory::data_type::bf16 ? " bf16" : "";
  return layout.block == 1 ? Concat("nchw", type) : Concat("nChw", layout.block, "c", type);
}

memory::desc BufferDesc(const BufferLayout& layout, int32_t n) {
  return DnnlCall("memory::desc(buffer)", [&] {
    return memory::desc({n, layout.c, layout.h, layout.w}, layout.data_type, BlockTag(layout.block));
  });
}

memory::desc TensorDesc(const BufferLayout& layout, const PlanTensor& tensor, int32_t n) {
  memory::desc whole = BufferDesc(layout, n);
  if (tensor.channel_offset == 0 && tensor.c == layout.c) return whole;
  if (tensor.channel_offset % layout.block != 0 ||
      (tensor.c % layout.block != 0 && tensor.channel_offset + tensor.c != layout.c)) {
    throw Error(kCodePlan, "",
                Concat("a view of channels [", tensor.channel_offset, ", ", tensor.channel_offset + tensor.c,
                       ") is not aligned to the ", LayoutName(layout),
                       " channel block; the planner must not make views when layoutPolicy().concatViews is false"),
                "TensorDesc");
  }
  return DnnlCall("memory::desc::submemory_desc", [&] {
    return whole.submemory_desc({n, tensor.c, layout.h, layout.w}, {0, tensor.channel_offset, 0, 0});
  });
}

TensorAccess MakeAccess(uint8_t* arena, const BufferLayout& layout, const PlanTensor& tensor, int32_t n) {
  if (layout.data_type != memory::data_type::f32) {
    throw Error(kCodePlan, "", Concat("a plain loop step would read or write a ", LayoutName(layout),
                                      " buffer; the loops are fp32 only (program.cc keeps their buffers fp32)"),
                "MakeAccess");
  }
  TensorAccess a;
  a.base = reinterpret_cast<float*>(arena + layout.offset);
  a.n = n;
  a.c = tensor.c;
  a.c_offset = tensor.channel_offset;
  a.hw = layout.h * layout.w;
  a.block = layout.block;
  a.image_stride = layout.ImageElements();
  a.buffer_c = layout.c;
  a.padded_c = layout.padded_c;
  return a;
}

}  // namespace inception::cpu
