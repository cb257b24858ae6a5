/**
 * Small queries and rebuild helpers shared by the optimisation passes. Passes never mutate
 * their inputs: they build new node lists and new weight maps (sharing untouched arrays).
 */
import { PlanError, WeightsError } from '../errors';
import type { Graph, Node, ParamSpec, WeightStore } from '../graph/ir';

/** How many times each tensor is read; the graph output counts as one extra read. */
export function readCounts(graph: Graph): Map<number, number> {
  const counts = new Map<number, number>();
  const bump = (id: number): void => {
    counts.set(id, (counts.get(id) ?? 0) + 1);
  };
  for (const node of graph.nodes) node.inputs.forEach(bump);
  bump(graph.output);
  return counts;
}

/** The node producing each tensor (the graph input has none). */
export function producers(graph: Graph): Map<number, Node> {
  return new Map(graph.nodes.map((node) => [node.output, node]));
}

/** A parameter value, or a WeightsError naming the node that needs it. */
export function requireWeight(weights: WeightStore, name: string, node: Node): Float32Array {
  const value = weights.get(name);
  if (value === undefined) {
    throw new WeightsError(`parameter '${name}' needed by node '${node.name}' (${node.op}) is missing from the weights; load a checkpoint that contains it`);
  }
  return value;
}

/** Names of every parameter the nodes reference. */
export function referencedParams(nodes: readonly Node[]): Set<string> {
  const names = new Set<string>();
  for (const node of nodes) {
    switch (node.op) {
      case 'conv2d':
      case 'linear':
        names.add(node.weight);
        if (node.bias !== null) names.add(node.bias);
        break;
      case 'batchnorm':
        names.add(node.weight).add(node.bias).add(node.runningMean).add(node.runningVar);
        break;
      default:
        break;
    }
  }
  return names;
}

/** A new parameter produced by a pass, placed where `replaces` stood in the params list. */
export interface NewParam {
  readonly spec: ParamSpec;
  readonly value: Float32Array;
  readonly replaces: string;
}

/**
 * Drops tensors that are neither the graph input nor produced by a node (left behind when a pass
 * removes a node) and renumbers the rest so ids stay equal to their index, order kept.
 */
export function compactTensors(graph: Graph): Graph {
  const live = new Set<number>([graph.input, ...graph.nodes.map((n) => n.output)]);
  if (graph.tensors.every((t) => live.has(t.id))) return graph;
  const renumber = new Map<number, number>();
  const tensors = graph.tensors.filter((t) => live.has(t.id)).map((t, index) => {
    renumber.set(t.id, index);
    return { ...t, id: index };
  });
  const id = (old: number): number => {
    const v = renumber.get(old);
    if (v === undefined) throw new PlanError(`tensor ${old} is read but no node produces it`);
    return v;
  };
  const nodes = graph.nodes.map((n) => ({ ...n, inputs: n.inputs.map(id), output: id(n.output) }) as Node);
  return { ...graph, tensors, nodes, input: id(graph.input), output: id(graph.output) };
}

/**
 * Rebuilds (graph, weights) after a pass rewrote the nodes: params keep their order, new
 * params take the place of the one they replace, and params no longer referenced are dropped
 * from both the list and the weight map.
 */
export function rebuild(graph: Graph, weights: WeightStore, nodes: Node[], added: readonly NewParam[]): { graph: Graph; weights: WeightStore } {
  const used = referencedParams(nodes);
  const byAnchor = new Map<string, NewParam[]>();
  for (const p of added) byAnchor.set(p.replaces, [...(byAnchor.get(p.replaces) ?? []), p]);
  const params: ParamSpec[] = [];
  const store = new Map<string, Float32Array>();
  const emitted = new Set<string>();
  const emit = (spec: ParamSpec, value: Float32Array | undefined): void => {
    if (!used.has(spec.name) || emitted.has(spec.name)) return;
    emitted.add(spec.name);
    params.push(spec);
    if (value !== undefined) store.set(spec.name, value);
  };
  for (const p of graph.params) {
    for (const q of byAnchor.get(p.name) ?? []) emit(q.spec, q.value);
    emit(p, weights.get(p.name));
  }
  for (const q of added) emit(q.spec, q.value);
  return { graph: compactTensors({ ...graph, nodes, params }), weights: store };
}
