/**
 * The GPU-free parts of the cuDNN graph-API convolution (on by default) (native/cuda/graph_conv_layout.h),
 * compiled here with the host C++ compiler
 * into a small driver:
 * - the filter's dims/strides address exactly the K,R,S,C (fp16) / K,C,R,S (fp32) order in which
 *   program.cc writes the weights, for every element of a 5x3x3x2 filter;
 * - a channel slice of an NHWC concat buffer keeps the buffer's strides (the output is written in
 *   place, not packed); the bias is K contiguous values; virtual intermediates are packed;
 * - the variant pack's uids (x, w, bias, (z), y) are distinct and never include a virtual tensor,
 *   and each of the four relu/residual combinations has the right intermediate count;
 * - the declared pointer alignment; the numerical-note filter (fp32 never runs tensor cores).
 * (Its cache entries are tested with the cache file, tests/native/algo-cache-file.test.ts.)
 * Exact-value assertions only (integers and strings: no tolerance needed).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildHostDriver, hostCxx, type HostDriver } from '../helpers/host-driver';

const DRIVER = `
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <set>
#include "cuda/graph_conv_layout.h"
using namespace inception::cuda;
using namespace inception::cuda::graph;

static int64_t Offset(const TensorLayout& l, int64_t a, int64_t b, int64_t c, int64_t d) {
  return a * l.strides[0] + b * l.strides[1] + c * l.strides[2] + d * l.strides[3];
}
static void Print(const char* name, const TensorLayout& l) {
  std::printf("%s dims %lld,%lld,%lld,%lld strides %lld,%lld,%lld,%lld\\n", name, (long long)l.dims[0],
              (long long)l.dims[1], (long long)l.dims[2], (long long)l.dims[3], (long long)l.strides[0],
              (long long)l.strides[1], (long long)l.strides[2], (long long)l.strides[3]);
}

int main(int argc, char** argv) {
  if (argc > 1 && !std::strcmp(argv[1], "layouts")) {  // the only command
    // Filter K=5, C=3, R=3, S=2: program.cc's fp16 index ((k*R + r)*S + s)*C + c, fp32 ((k*C + c)*R + r)*S + s.
    const int K = 5, C = 3, R = 3, S = 2;
    int bad16 = 0, bad32 = 0;
    const TensorLayout f16 = FilterLayout(K, C, R, S, true), f32 = FilterLayout(K, C, R, S, false);
    for (int k = 0; k < K; ++k)
      for (int c = 0; c < C; ++c)
        for (int r = 0; r < R; ++r)
          for (int s = 0; s < S; ++s) {
            if (Offset(f16, k, c, r, s) != ((k * R + r) * S + s) * C + c) ++bad16;
            if (Offset(f32, k, c, r, s) != ((k * C + c) * R + r) * S + s) ++bad32;
          }
    std::printf("filter mismatches fp16 %d fp32 %d\\n", bad16, bad32);
    Print("filter16", f16);
    // Channels [16, 48) of a 2x80x7x7 NHWC concat buffer (layout.h MakeView strides).
    Print("slice", ViewLayout(2, 32, 7, 7, 80 * 7 * 7, 1, 7 * 80, 80));
    Print("packed16", PackedLayout(2, 32, 7, 7, true));
    Print("packed32", PackedLayout(2, 32, 7, 7, false));
    Print("bias16", BiasLayout(32, true));
    Print("bias32", BiasLayout(32, false));
    for (int residual = 0; residual < 2; ++residual)
      for (int relu = 0; relu < 2; ++relu) {
        const std::vector<int64_t> pack = VariantPackUids(residual), inner = IntermediateUids(residual, relu);
        std::set<int64_t> all(pack.begin(), pack.end());
        all.insert(inner.begin(), inner.end());
        int virtual_in_pack = 0;
        for (int64_t u : pack) virtual_in_pack += u >= 100;
        std::printf("residual %d relu %d pack", residual, relu);
        for (int64_t u : pack) std::printf(" %lld", (long long)u);
        std::printf(" inner %zu distinct %d virtual_in_pack %d\\n", inner.size(),
                    (int)(all.size() == pack.size() + inner.size()), virtual_in_pack);
      }
    std::printf("align %lld %lld %lld %lld %lld\\n", (long long)PointerAlignment(0x1000), (long long)PointerAlignment(0x1008),
                (long long)PointerAlignment(0x1002), (long long)PointerAlignment(0x1001), (long long)PointerAlignment(0));
    const char* precisions[3] = {"fp32", "tf32", "fp16"};
    const std::vector<std::vector<int>> note_sets = {{}, {0}, {1}, {2}, {4, 5}};
    for (const char* p : precisions) {
      std::printf("%s", p);
      for (const auto& notes : note_sets) std::printf(" %s", EngineRejection(p, notes, true).empty() ? "ok" : "no");
      std::printf(" unknown %s\\n", EngineRejection(p, {}, false).empty() ? "ok" : "no");
    }
    return 0;
  }
  return 2;
}
`;

describe.skipIf(hostCxx === undefined)(`graph-API conv layouts${hostCxx === undefined ? ' [SKIPPED: no C++ compiler]' : ''}`, () => {
  let driver: HostDriver;
  beforeAll(async () => {
    driver = await buildHostDriver('graph-conv-layout', DRIVER);
  });
  afterAll(() => driver?.dispose());

  it('describes every tensor with the strides the arena and the weights really have', () => {
    expect(driver.run(['layouts'])).toEqual([
      'filter mismatches fp16 0 fp32 0',
      'filter16 dims 5,3,3,2 strides 18,1,6,3',
      'slice dims 2,32,7,7 strides 3920,1,560,80',
      'packed16 dims 2,32,7,7 strides 1568,1,224,32',
      'packed32 dims 2,32,7,7 strides 1568,49,7,1',
      'bias16 dims 1,32,1,1 strides 32,1,32,32',
      'bias32 dims 1,32,1,1 strides 32,1,1,1',
      'residual 0 relu 0 pack 1 2 3 5 inner 1 distinct 1 virtual_in_pack 0',
      'residual 0 relu 1 pack 1 2 3 5 inner 2 distinct 1 virtual_in_pack 0',
      'residual 1 relu 0 pack 1 2 3 4 5 inner 2 distinct 1 virtual_in_pack 0',
      'residual 1 relu 1 pack 1 2 3 4 5 inner 3 distinct 1 virtual_in_pack 0',
      'align 16 8 2 1 16',
      // notes: none, tensor core, down-convert, reduced-precision reduction, nondeterministic+winograd; then unreadable notes
      'fp32 ok no no no ok unknown no',
      'tf32 ok ok no no ok unknown no',
      'fp16 ok ok no no ok unknown ok',
    ]);
  });
});
