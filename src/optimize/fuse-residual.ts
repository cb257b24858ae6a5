/**
 * Fuses `residual_add(x, h)` (y = act(x + s*h)) into the conv2d producing h, when h has no other
 * reader, is not the graph output, and the conv has no relu and no residual input yet. The conv
 * becomes y = act(x + conv'(input) + b') with w' = s*w and b' = s*b (rounded once to float32),
 * residualScale 1, inputs [input, x], and takes the residual_add's place in the node order
 * (both of its inputs are available there). The residual_add's relu moves into the conv.
 */
import type { Conv2dNode, Graph, Node, ResidualAddNode, WeightStore } from '../graph/ir';
import { type NewParam, producers, readCounts, rebuild, requireWeight } from './graph-edit';

function scaled(values: Float32Array, scale: number): Float32Array {
  const out = new Float32Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = values[i]! * scale;
  return out;
}

export function fuseResidual(graph: Graph, weights: WeightStore): { graph: Graph; weights: WeightStore } {
  const reads = readCounts(graph);
  const producerOf = producers(graph);
  /** residual_add name -> the conv fused into it */
  const fusions = new Map<string, Conv2dNode>();
  for (const node of graph.nodes) {
    if (node.op !== 'residual_add') continue;
    const [x, h] = node.inputs as [number, number];
    const conv = producerOf.get(h);
    if (conv?.op !== 'conv2d' || conv.relu || conv.residualScale !== null) continue;
    if (x === h || reads.get(h) !== 1) continue;
    fusions.set(node.name, conv);
  }
  if (fusions.size === 0) return { graph, weights };

  const moved = new Set([...fusions.values()].map((c) => c.name));
  const shapes = new Map(graph.params.map((p) => [p.name, p.shape]));
  const nodes: Node[] = [];
  const added: NewParam[] = [];
  for (const node of graph.nodes) {
    if (node.op === 'conv2d' && moved.has(node.name)) continue;
    const conv = node.op === 'residual_add' ? fusions.get(node.name) : undefined;
    if (conv === undefined) {
      nodes.push(node);
      continue;
    }
    const add = node as ResidualAddNode;
    let weight = conv.weight;
    let bias = conv.bias;
    if (add.scale !== 1) {
      weight = `${conv.name}.weight:scaled`;
      const w = scaled(requireWeight(weights, conv.weight, conv), add.scale);
      added.push({ spec: { name: weight, shape: shapes.get(conv.weight) ?? [w.length] }, value: w, replaces: conv.weight });
      if (conv.bias !== null) {
        bias = `${conv.name}.bias:scaled`;
        const b = scaled(requireWeight(weights, conv.bias, conv), add.scale);
        added.push({ spec: { name: bias, shape: [b.length] }, value: b, replaces: conv.bias });
      }
    }
    nodes.push({
      ...conv,
      inputs: [conv.inputs[0]!, add.inputs[0]!],
      output: add.output,
      weight,
      bias,
      relu: add.relu,
      residualScale: 1,
    });
  }
  return rebuild(graph, weights, nodes, added);
}
