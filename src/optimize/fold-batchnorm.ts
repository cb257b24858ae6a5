/**
 * Folds an inference BatchNorm into the conv2d / linear that produces its input:
 *   s = gamma / sqrt(var + eps),  w'[o] = w[o] * s[o],  b'[o] = beta[o] + (b[o] - mean[o]) * s[o]
 * (b = 0 without a bias). Computed in float64 and rounded once to float32. The BN's relu flag
 * moves into the producer. Only when the producer's output has no other reader (and is not the
 * graph output), the producer has no relu of its own and (conv) no residual side input.
 */
import { PlanError } from '../errors';
import type { BatchNormNode, Conv2dNode, Graph, LinearNode, Node, WeightStore } from '../graph/ir';
import { type NewParam, producers, readCounts, rebuild, requireWeight } from './graph-edit';

type Foldable = Conv2dNode | LinearNode;

function canFoldInto(node: Node | undefined): node is Foldable {
  if (node === undefined) return false;
  if (node.op === 'conv2d') return !node.relu && node.residualScale === null;
  return node.op === 'linear' && !node.relu;
}

function foldedParams(producer: Foldable, bn: BatchNormNode, weights: WeightStore): { weight: Float32Array; bias: Float32Array } {
  const w = requireWeight(weights, producer.weight, producer);
  const b = producer.bias === null ? null : requireWeight(weights, producer.bias, producer);
  const gamma = requireWeight(weights, bn.weight, bn);
  const beta = requireWeight(weights, bn.bias, bn);
  const mean = requireWeight(weights, bn.runningMean, bn);
  const variance = requireWeight(weights, bn.runningVar, bn);
  const channels = gamma.length;
  if (w.length % channels !== 0 || (b !== null && b.length !== channels)) {
    throw new PlanError(`cannot fold batchnorm '${bn.name}' (${channels} channels) into '${producer.name}' (weight of ${w.length} values)`);
  }
  const inner = w.length / channels;
  const weight = new Float32Array(w.length);
  const bias = new Float32Array(channels);
  for (let o = 0; o < channels; o++) {
    const s = gamma[o]! / Math.sqrt(variance[o]! + bn.eps);
    for (let i = o * inner; i < (o + 1) * inner; i++) weight[i] = w[i]! * s;
    bias[o] = beta[o]! + ((b === null ? 0 : b[o]!) - mean[o]!) * s;
  }
  return { weight, bias };
}

export function foldBatchNorm(graph: Graph, weights: WeightStore): { graph: Graph; weights: WeightStore } {
  const reads = readCounts(graph);
  const producerOf = producers(graph);
  /** producer name -> the BN folded into it */
  const folds = new Map<string, BatchNormNode>();
  for (const node of graph.nodes) {
    if (node.op !== 'batchnorm') continue;
    const source = node.inputs[0]!;
    const producer = producerOf.get(source);
    if (canFoldInto(producer) && reads.get(source) === 1) folds.set(producer.name, node);
  }
  if (folds.size === 0) return { graph, weights };

  const folded = new Set([...folds.values()].map((bn) => bn.name));
  const nodes: Node[] = [];
  const added: NewParam[] = [];
  const shapes = new Map(graph.params.map((p) => [p.name, p.shape]));
  for (const node of graph.nodes) {
    if (node.op === 'batchnorm' && folded.has(node.name)) continue;
    const bn = folds.get(node.name);
    if (bn === undefined || (node.op !== 'conv2d' && node.op !== 'linear')) {
      nodes.push(node);
      continue;
    }
    const { weight, bias } = foldedParams(node, bn, weights);
    const weightName = `${node.name}.weight:folded`;
    const biasName = `${node.name}.bias:folded`;
    const weightShape = shapes.get(node.weight) ?? [weight.length];
    added.push({ spec: { name: weightName, shape: weightShape }, value: weight, replaces: node.weight });
    added.push({ spec: { name: biasName, shape: [bias.length] }, value: bias, replaces: node.bias ?? node.weight });
    nodes.push({ ...node, weight: weightName, bias: biasName, relu: bn.relu, output: bn.output });
  }
  return rebuild(graph, weights, nodes, added);
}
