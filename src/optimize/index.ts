/**
 * The optimisation pipeline: BN folding, then ReLU fusion, then residual fusion, then (only when
 * asked, per backend) the sibling-conv merge, which needs the activations and residuals fused
 * first so that a conv's relu flag and residual input are final. Each pass is a
 * pure function of (graph, weights); the order matters (a folded BN's relu and a fused relu node
 * must be on the conv / residual_add before residual fusion looks at them).
 */
import type { Graph, WeightStore } from '../graph/ir';
import { foldBatchNorm } from './fold-batchnorm';
import { fuseRelu } from './fuse-relu';
import { fuseResidual } from './fuse-residual';
import { type SiblingMergeOptions, mergeSiblingConvs } from './merge-sibling-convs';

export { foldBatchNorm } from './fold-batchnorm';
export { fuseRelu } from './fuse-relu';
export { fuseResidual } from './fuse-residual';
export { mergeSiblingConvs, type SiblingMergeOptions } from './merge-sibling-convs';

export type Pass = (graph: Graph, weights: WeightStore) => { graph: Graph; weights: WeightStore };

export const passes: readonly Pass[] = [foldBatchNorm, fuseRelu, fuseResidual];

export interface OptimizeOptions {
  /** Merge 1x1 convs reading the same tensor (merge-sibling-convs.ts); off unless given. */
  readonly mergeSiblingConvs?: SiblingMergeOptions | undefined;
}

export function optimize(graph: Graph, weights: WeightStore, options: OptimizeOptions = {}): { graph: Graph; weights: WeightStore } {
  let state = { graph, weights };
  for (const pass of passes) state = pass(state.graph, state.weights);
  if (options.mergeSiblingConvs !== undefined) state = mergeSiblingConvs(state.graph, state.weights, options.mergeSiblingConvs);
  return state;
}
