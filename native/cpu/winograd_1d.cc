#include "cpu/winograd_1d.h"

#include <immintrin.h>

#include <algorithm>

#include "core/error.h"
#include "cpu/alignment.h"
#include "cpu/check.h"

namespace inception::cpu {

using dnnl::memory;

namespace {
constexpr int kTaps = 7;
constexpr int kOutputs = 4;                      // outputs per tile
constexpr int kInputs = kOutputs + kTaps - 1;    // 10 inputs per tile
constexpr int kPoints = 10;                      // transform points (multiplications per tile)
constexpr int kHalo = 3;                         // 'same' padding along the tap axis

// F(4,7) Toom-Cook transforms (generated exactly from the points 0, +-1, +-2, +-1/2, +-3/2, inf,
// scaled to keep BT and AT integral). Y = AT [ (G w) .* (BT d) ].
constexpr float kBT[kPoints][kInputs] = {
    {36, 0, -205, 0, 273, 0, -120, 0, 16, 0},       {0, -36, -36, 169, 169, -104, -104, 16, 16, 0},
    {0, 36, -36, -169, 169, 104, -104, -16, 16, 0},  {0, -18, -9, 98, 49, -112, -56, 32, 16, 0},
    {0, 18, -9, -98, 49, 112, -56, -32, 16, 0},      {0, 36, 72, -61, -122, 29, 58, -4, -8, 0},
    {0, -36, 72, 61, -122, -29, 58, 4, -8, 0},       {0, 12, 8, -63, -42, 63, 42, -12, -8, 0},
    {0, -12, 8, 63, -42, -63, 42, 12, -8, 0},        {0, 36, 0, -205, 0, 273, 0, -120, 0, 16}};
constexpr float kAT[kOutputs][kPoints] = {{1, 1, 1, 1, 1, 8, 8, 8, 8, 0},
                                          {0, 1, -1, 2, -2, 4, -4, 12, -12, 0},
                                          {0, 1, 1, 4, 4, 2, 2, 18, 18, 0},
                                          {0, 1, -1, 8, -8, 1, -1, 27, -27, 1}};
constexpr double kG[kPoints][kTaps] = {
    {1.0 / 36, 0, 0, 0, 0, 0, 0},
    {1.0 / 90, 1.0 / 90, 1.0 / 90, 1.0 / 90, 1.0 / 90, 1.0 / 90, 1.0 / 90},
    {1.0 / 90, -1.0 / 90, 1.0 / 90, -1.0 / 90, 1.0 / 90, -1.0 / 90, 1.0 / 90},
    {1.0 / 2520, 2.0 / 2520, 4.0 / 2520, 8.0 / 2520, 16.0 / 2520, 32.0 / 2520, 64.0 / 2520},
    {1.0 / 2520, -2.0 / 2520, 4.0 / 2520, -8.0 / 2520, 16.0 / 2520, -32.0 / 2520, 64.0 / 2520},
    {64.0 / 11520, 32.0 / 11520, 16.0 / 11520, 8.0 / 11520, 4.0 / 11520, 2.0 / 11520, 1.0 / 11520},
    {64.0 / 11520, -32.0 / 11520, 16.0 / 11520, -8.0 / 11520, 4.0 / 11520, -2.0 / 11520, 1.0 / 11520},
    {64.0 / 80640, 96.0 / 80640, 144.0 / 80640, 216.0 / 80640, 324.0 / 80640, 486.0 / 80640, 729.0 / 80640},
    {64.0 / 80640, -96.0 / 80640, 144.0 / 80640, -216.0 / 80640, 324.0 / 80640, -486.0 / 80640, 729.0 / 80640},
    {0, 0, 0, 0, 0, 0, 1.0 / 16}};

// The geometry of one step at batch n, in floats.
struct Geometry {
  int32_t lines, extent, tiles_per_line, cin_blocks, cout_blocks;
  int64_t pos_stride, line_stride, plane;  // within one 16-channel plane [H][W][16]
  int64_t tiles;                           // over the whole batch
};

Geometry GeometryOf(const Winograd1dShape& shape, int32_t n) {
  constexpr int32_t block = Winograd1dConv::kBlock;
  Geometry g{};
  g.extent = shape.along_w ? shape.w : shape.h;
  g.lines = shape.along_w ? shape.h : shape.w;
  g.tiles_per_line = (g.extent + kOutputs - 1) / kOutputs;
  g.cin_blocks = shape.cin / block;
  g.cout_blocks = shape.cout / block;
  g.plane = int64_t{shape.h} * shape.w * block;
  g.pos_stride = shape.along_w ? block : int64_t{shape.w} * block;
  g.line_stride = shape.along_w ? int64_t{shape.w} * block : block;
  g.tiles = int64_t{n} * g.lines * g.tiles_per_line;
  return g;
}

// One line of one image: all its tiles and channel blocks into U[point][tile][cin].
__attribute__((target("avx512f,fma"))) void InputTransformLine(const Geometry& g, const float* line_base, float* u,
                                                               int64_t point_stride, int32_t cin) {
  for (int32_t t = 0; t < g.tiles_per_line; ++t) {
    const int32_t first = t * kOutputs - kHalo;
    float* tile_out = u + int64_t{t} * cin;
    for (int32_t cb = 0; cb < g.cin_blocks; ++cb) {
      const float* base = line_base + cb * g.plane;
      __m512 d[kInputs];
#pragma GCC unroll 16
      for (int i = 0; i < kInputs; ++i) {
        const int32_t pos = first + i;
        d[i] = pos >= 0 && pos < g.extent ? _mm512_load_ps(base + pos * g.pos_stride) : _mm512_set1_ps(0.0f);
      }
      float* out = tile_out + cb * Winograd1dConv::kBlock;
#pragma GCC unroll 16
      for (int p = 0; p < kPoints; ++p) {
        __m512 acc = _mm512_set1_ps(0.0f);
#pragma GCC unroll 16
        for (int i = 0; i < kInputs; ++i) {
          if (kBT[p][i] != 0.0f) acc = _mm512_fmadd_ps(_mm512_set1_ps(kBT[p][i]), d[i], acc);
        }
        _mm512_store_ps(out + p * point_stride, acc);
      }
    }
  }
}

// One line of one image: M[point][tile][cout] -> 4 outputs per tile, + bias, relu.
__attribute__((target("avx512f,fma"))) void OutputTransformLine(const Geometry& g, const float* m, int64_t point_stride,
                                                                int32_t cout, const float* bias, bool relu,
                                                                float* line_base) {
  for (int32_t t = 0; t < g.tiles_per_line; ++t) {
    const int32_t first = t * kOutputs;
    const int32_t count = std::min(kOutputs, g.extent - first);
    const float* tile_in = m + int64_t{t} * cout;
    for (int32_t cb = 0; cb < g.cout_blocks; ++cb) {
      const float* in = tile_in + cb * Winograd1dConv::kBlock;
      __m512 mv[kPoints];
#pragma GCC unroll 16
      for (int p = 0; p < kPoints; ++p) mv[p] = _mm512_load_ps(in + p * point_stride);
      const __m512 b = _mm512_loadu_ps(bias + cb * Winograd1dConv::kBlock);
      float* base = line_base + cb * g.plane;
#pragma GCC unroll 4
      for (int j = 0; j < kOutputs; ++j) {
        if (j >= count) break;
        __m512 acc = b;
#pragma GCC unroll 16
        for (int p = 0; p < kPoints; ++p) {
          if (kAT[j][p] == 1.0f) acc = _mm512_add_ps(acc, mv[p]);
          else if (kAT[j][p] == -1.0f) acc = _mm512_sub_ps(acc, mv[p]);
          else if (kAT[j][p] != 0.0f) acc = _mm512_fmadd_ps(_mm512_set1_ps(kAT[j][p]), mv[p], acc);
        }
        // maskz_max: _mm512_max_ps trips GCC 12's -Wmaybe-uninitialized (its undefined pass-through).
        if (relu) acc = _mm512_maskz_max_ps(0xFFFF, acc, _mm512_set1_ps(0.0f));
        _mm512_store_ps(base + (first + j) * g.pos_stride, acc);
      }
    }
  }
}
}  // namespace

bool Winograd1dConv::Supports(const int32_t kernel[2], const int32_t stride[2], const int32_t pad[2], bool residual,
                              int32_t cin, int32_t cout, int32_t in_channel_offset, int32_t out_channel_offset) {
  const bool row = kernel[0] == 1 && kernel[1] == kTaps && pad[0] == 0 && pad[1] == kHalo;
  const bool column = kernel[0] == kTaps && kernel[1] == 1 && pad[0] == kHalo && pad[1] == 0;
  return (row || column) && stride[0] == 1 && stride[1] == 1 && !residual && cin % kBlock == 0 && cout % kBlock == 0 &&
         in_channel_offset % kBlock == 0 && out_channel_offset % kBlock == 0;
}

Winograd1dConv::Winograd1dConv(const dnnl::engine& engine, const Winograd1dShape& shape, const float* weights,
                               const float* bias)
    : engine_(engine), shape_(shape), bias_(bias, bias + shape.cout) {
  INCEPTION_CHECK(shape.cin % kBlock == 0 && shape.cout % kBlock == 0 && shape.h > 0 && shape.w > 0, kCodeInvalidArgument,
                  "Winograd 1-D conv needs channel counts that are multiples of ", kBlock, ", got ", Describe(1));
  const int64_t cin = shape.cin, cout = shape.cout;
  transformed_.resize(static_cast<size_t>(kPoints * cin * cout));
  for (int p = 0; p < kPoints; ++p) {
    for (int64_t co = 0; co < cout; ++co) {
      for (int64_t ci = 0; ci < cin; ++ci) {
        const float* taps = weights + (co * cin + ci) * kTaps;
        double acc = 0;
        for (int k = 0; k < kTaps; ++k) acc += kG[p][k] * double{taps[k]};
        transformed_[static_cast<size_t>((p * cin + ci) * cout + co)] = static_cast<float>(acc);
      }
    }
  }
}

std::string Winograd1dConv::Describe(int32_t n) const {
  return Concat("[", n, ",", shape_.cin, ",", shape_.h, ",", shape_.w, "] -> [", n, ",", shape_.cout, ",", shape_.h, ",",
                shape_.w, "] kernel ", shape_.along_w ? "1x7" : "7x1");
}

memory Winograd1dConv::WeightsIn(const memory::desc& desc) {
  for (const memory& m : reordered_) {
    if (m.get_desc() == desc) return m;
  }
  return DnnlCall("reorder(winograd 1-D weights)", [&] {
    const memory::desc plain({kPoints, shape_.cin, shape_.cout}, memory::data_type::f32, memory::format_tag::abc);
    memory source(plain, engine_, transformed_.data());
    memory prepared(desc, engine_);
    dnnl::stream stream(engine_);
    dnnl::reorder(source, prepared).execute(stream, source, prepared);
    stream.wait();
    reordered_.push_back(prepared);
    return prepared;
  });
}

int64_t Winograd1dConv::Prepare(int32_t n) {
  auto found = matmuls_.find(n);
  if (found != matmuls_.end()) return found->second.workspace_bytes;
  Matmul mm;
  const int64_t tiles = GeometryOf(shape_, n).tiles;
  const auto f32 = memory::data_type::f32;
  const memory::desc src({kPoints, tiles, shape_.cin}, f32, memory::format_tag::abc);
  const memory::desc weights({kPoints, shape_.cin, shape_.cout}, f32, memory::format_tag::any);
  const memory::desc dst({kPoints, tiles, shape_.cout}, f32, memory::format_tag::abc);
  auto pd = DnnlCall("matmul::primitive_desc(winograd 1-D points)",
                     [&] { return dnnl::matmul::primitive_desc(dnnl::matmul::desc(src, weights, dst), engine_); });
  mm.primitive = DnnlCall("matmul(winograd 1-D points)", [&] { return dnnl::matmul(pd); });
  mm.weights = WeightsIn(pd.weights_desc());
  mm.src = DnnlCall("memory(winograd 1-D src)", [&] { return memory(src, engine_, DNNL_MEMORY_NONE); });
  mm.dst = DnnlCall("memory(winograd 1-D dst)", [&] { return memory(dst, engine_, DNNL_MEMORY_NONE); });
  mm.dst_offset = RoundUp(static_cast<int64_t>(src.get_size()), kAlignment);
  mm.workspace_bytes = mm.dst_offset + RoundUp(static_cast<int64_t>(dst.get_size()), kAlignment);
  const int64_t bytes = mm.workspace_bytes;
  matmuls_.emplace(n, std::move(mm));
  return bytes;
}

void Winograd1dConv::Run(int32_t n, const BlockedSlice& in, const BlockedSlice& out, uint8_t* workspace,
                         dnnl::stream& stream) {
  auto found = matmuls_.find(n);
  INCEPTION_CHECK(found != matmuls_.end(), kCodeInvalidArgument, "Winograd 1-D conv ", Describe(n),
                  ": batch ", n, " was not prepared");
  Matmul& mm = found->second;
  const Geometry g = GeometryOf(shape_, n);

  float* u = reinterpret_cast<float*>(workspace);
  float* m = reinterpret_cast<float*>(workspace + mm.dst_offset);
  const int64_t u_point_stride = g.tiles * shape_.cin;
  const int64_t m_point_stride = g.tiles * shape_.cout;
  const int32_t cin = shape_.cin, cout = shape_.cout;

#pragma omp parallel for collapse(2) schedule(static)
  for (int32_t image = 0; image < n; ++image) {
    for (int32_t line = 0; line < g.lines; ++line) {
      const int64_t tile0 = (int64_t{image} * g.lines + line) * g.tiles_per_line;
      InputTransformLine(g, in.first + image * in.image_stride + line * g.line_stride, u + tile0 * cin, u_point_stride, cin);
    }
  }
  DnnlCall("matmul(winograd 1-D points).execute", [&] {
    mm.src.set_data_handle(u);
    mm.dst.set_data_handle(m);
    mm.primitive.execute(stream, {{DNNL_ARG_SRC, mm.src}, {DNNL_ARG_WEIGHTS, mm.weights}, {DNNL_ARG_DST, mm.dst}});
    stream.wait();
    return 0;
  });
  const float* bias = bias_.data();
  const bool relu = shape_.relu;
#pragma omp parallel for collapse(2) schedule(static)
  for (int32_t image = 0; image < n; ++image) {
    for (int32_t line = 0; line < g.lines; ++line) {
      const int64_t tile0 = (int64_t{image} * g.lines + line) * g.tiles_per_line;
      OutputTransformLine(g, m + tile0 * cout, m_point_stride, cout, bias, relu,
                          out.first + image * out.image_stride + line * g.line_stride);
    }
  }
}

int64_t Winograd1dConv::weight_bytes() const {
  int64_t bytes = static_cast<int64_t>((transformed_.size() + bias_.size()) * sizeof(float));
  for (const memory& m : reordered_) bytes += static_cast<int64_t>(m.get_desc().get_size());
  return bytes;
}

}  // namespace inception::cpu
