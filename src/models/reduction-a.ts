/**
 * Reduction-A (paper Table 1, filters k, l, m, n), shared by all three networks:
 * v4 `features.10`, IRv2 and IR-v1 `mixed_6a`. Output = [branch0, branch1, max-pool].
 */
import type { GraphBuilder } from '../graph/builder';

export interface ReductionAFilters {
  /** 1x1 reduce of the deep branch. */
  readonly k: number;
  /** 3x3 pad 1 of the deep branch. */
  readonly l: number;
  /** 3x3 stride 2 closing the deep branch. */
  readonly m: number;
  /** The single 3x3 stride-2 branch. */
  readonly n: number;
}

export function reductionA(b: GraphBuilder, prefix: string, x: number, f: ReductionAFilters): number {
  const branch0 = b.cbr(`${prefix}.branch0`, x, f.n, 3, 2);
  let branch1 = b.cbr(`${prefix}.branch1.0`, x, f.k, 1);
  branch1 = b.cbr(`${prefix}.branch1.1`, branch1, f.l, 3, 1, 1);
  branch1 = b.cbr(`${prefix}.branch1.2`, branch1, f.m, 3, 2);
  const branch2 = b.maxpool(`${prefix}.branch2`, x, 3, 2);
  return b.concat(prefix, [branch0, branch1, branch2]);
}
