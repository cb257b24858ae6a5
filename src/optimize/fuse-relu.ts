/**
 * Fuses a standalone relu node into the node producing its input (conv2d, linear, batchnorm or
 * residual_add, which all carry a relu flag) when the relu is that tensor's only reader and the
 * tensor is not the graph output. relu(relu(x)) = relu(x), so a producer already flagged is fine.
 */
import type { Graph, Node, WeightStore } from '../graph/ir';
import { compactTensors, producers, readCounts } from './graph-edit';

const withReluFlag = new Set<Node['op']>(['conv2d', 'linear', 'batchnorm', 'residual_add']);

export function fuseRelu(graph: Graph, weights: WeightStore): { graph: Graph; weights: WeightStore } {
  const reads = readCounts(graph);
  const producerOf = producers(graph);
  /** producer name -> the relu fused into it */
  const fusions = new Map<string, Node>();
  for (const node of graph.nodes) {
    if (node.op !== 'relu') continue;
    const source = node.inputs[0]!;
    const producer = producerOf.get(source);
    if (producer !== undefined && withReluFlag.has(producer.op) && reads.get(source) === 1) fusions.set(producer.name, node);
  }
  if (fusions.size === 0) return { graph, weights };
  const fused = new Set([...fusions.values()].map((r) => r.name));
  const nodes: Node[] = [];
  for (const node of graph.nodes) {
    if (node.op === 'relu' && fused.has(node.name)) continue;
    const relu = fusions.get(node.name);
    if (relu === undefined) nodes.push(node);
    else nodes.push({ ...node, relu: true, output: relu.output } as Node);
  }
  return { graph: compactTensors({ ...graph, nodes }), weights };
}
