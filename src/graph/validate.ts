/**
 * validateGraph: checks the structural invariants of a Graph (src/graph/ir.ts) that every
 * pass and the planner rely on. A violation is a bug in this package, so it is a PlanError
 * that names the offending node or tensor.
 */
import { PlanError } from '../errors';
import type { Graph, Node } from './ir';
import { formatShape, inferShape, type Shape } from './shapes';

/** Parameter names a node references, in the order its fields list them. */
export function paramsOf(node: Node): string[] {
  switch (node.op) {
    case 'conv2d':
    case 'linear':
      return node.bias === null ? [node.weight] : [node.weight, node.bias];
    case 'batchnorm':
      return [node.weight, node.bias, node.runningMean, node.runningVar];
    default:
      return [];
  }
}

/**
 * Throws PlanError unless: tensor ids equal their index and shapes are positive integers;
 * params are unique and cover every name a node references; node names are unique; nodes are
 * in topological order (each input is the graph input or an earlier node's output); every
 * tensor but the input is produced exactly once and the input never; the output exists; and
 * each node's output shape is what its op computes from its inputs and params.
 */
export function validateGraph(g: Graph): void {
  checkTensors(g);
  const paramShapes = checkParams(g);
  if (!inRange(g, g.input)) throw new PlanError(`graph input ${g.input} is not a tensor id (0..${g.tensors.length - 1})`);
  if (!inRange(g, g.output)) throw new PlanError(`graph output ${g.output} is not a tensor id (0..${g.tensors.length - 1})`);

  const available = new Set<number>([g.input]);
  const producer = new Map<number, string>();
  const names = new Set<string>();
  for (const [index, node] of g.nodes.entries()) {
    const where = `node ${index} '${node.name}' (${node.op})`;
    if (names.has(node.name)) throw new PlanError(`${where}: node name is used by an earlier node`);
    names.add(node.name);
    for (const input of node.inputs) {
      if (!inRange(g, input)) throw new PlanError(`${where}: input tensor ${input} does not exist`);
      if (!available.has(input)) {
        throw new PlanError(`${where}: input tensor ${input} is not produced by an earlier node (nodes must be in topological order)`);
      }
    }
    if (!inRange(g, node.output)) throw new PlanError(`${where}: output tensor ${node.output} does not exist`);
    if (node.output === g.input) throw new PlanError(`${where}: writes the graph input tensor ${g.input}`);
    const earlier = producer.get(node.output);
    if (earlier !== undefined) throw new PlanError(`${where}: output tensor ${node.output} is already produced by '${earlier}'`);
    for (const param of paramsOf(node)) {
      if (!paramShapes.has(param)) throw new PlanError(`${where}: parameter '${param}' is not listed in graph.params`);
    }
    const result = inferShape(node, node.inputs.map((t) => g.tensors[t]!.shape), (name) => paramShapes.get(name));
    if (!result.ok) throw new PlanError(`${where}: ${result.problem}`);
    const declared = g.tensors[node.output]!.shape;
    if (!sameShape(declared, result.shape)) {
      throw new PlanError(`${where}: output tensor ${node.output} has shape ${formatShape(declared)}, but the op gives ${formatShape(result.shape)}`);
    }
    producer.set(node.output, node.name);
    available.add(node.output);
  }

  for (const tensor of g.tensors) {
    if (tensor.id !== g.input && !producer.has(tensor.id)) throw new PlanError(`tensor ${tensor.id} is produced by no node`);
  }
}

function inRange(g: Graph, id: number): boolean {
  return Number.isInteger(id) && id >= 0 && id < g.tensors.length;
}

function sameShape(a: Shape, b: Shape): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

function isShape(shape: Shape): boolean {
  return shape.length >= 1 && shape.every((d) => Number.isInteger(d) && d >= 1);
}

function checkTensors(g: Graph): void {
  for (const [index, tensor] of g.tensors.entries()) {
    if (tensor.id !== index) throw new PlanError(`tensor at index ${index} has id ${tensor.id}; ids must equal their index`);
    if (!isShape(tensor.shape)) throw new PlanError(`tensor ${index} has shape ${formatShape(tensor.shape)}; dimensions must be positive integers`);
  }
}

function checkParams(g: Graph): Map<string, Shape> {
  const shapes = new Map<string, Shape>();
  for (const param of g.params) {
    if (shapes.has(param.name)) throw new PlanError(`parameter '${param.name}' is listed twice in graph.params`);
    if (!isShape(param.shape)) throw new PlanError(`parameter '${param.name}' has shape ${formatShape(param.shape)}; dimensions must be positive integers`);
    shapes.set(param.name, param.shape);
  }
  return shapes;
}
