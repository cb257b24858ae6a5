/**
 * The optimisation pipeline: BN folding, then ReLU fusion, then residual fusion. Each pass is a
 * pure function of (graph, weights); the order matters (a folded BN's relu and a fused relu node
 * must be on the conv / residual_add before residual fusion looks at them).
 */
import type { Graph, WeightStore } from '../graph/ir';
import { foldBatchNorm } from './fold-batchnorm';
import { fuseRelu } from './fuse-relu';
import { fuseResidual } from './fuse-residual';

export { foldBatchNorm } from './fold-batchnorm';
export { fuseRelu } from './fuse-relu';
export { fuseResidual } from './fuse-residual';

export type Pass = (graph: Graph, weights: WeightStore) => { graph: Graph; weights: WeightStore };

export const passes: readonly Pass[] = [foldBatchNorm, fuseRelu, fuseResidual];

export function optimize(graph: Graph, weights: WeightStore): { graph: Graph; weights: WeightStore } {
  let state = { graph, weights };
  for (const pass of passes) state = pass(state.graph, state.weights);
  return state;
}
