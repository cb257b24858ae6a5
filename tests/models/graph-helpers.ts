/** Lookups on a built model graph by module path, for the model tests. */
import type { Graph, Node } from '../../src/graph/ir';

/** The node that produces module `path`'s output: the node named `path`, else the last node inside it. */
export function moduleOutputNode(g: Graph, path: string): Node {
  const exact = g.nodes.find((n) => n.name === path);
  if (exact !== undefined) return exact;
  const inside = g.nodes.filter((n) => n.name.startsWith(`${path}.`));
  const last = inside[inside.length - 1];
  if (last === undefined) throw new Error(`no node for module ${path}`);
  return last;
}

export function moduleOutputShape(g: Graph, path: string): readonly number[] {
  return g.tensors[moduleOutputNode(g, path).output]!.shape;
}

export function nodeNamed(g: Graph, name: string): Node {
  const node = g.nodes.find((n) => n.name === name);
  if (node === undefined) throw new Error(`no node named ${name}`);
  return node;
}

/** Names of the nodes producing `node`'s inputs, in input order. */
export function producers(g: Graph, node: Node): string[] {
  return node.inputs.map((t) => g.nodes.find((n) => n.output === t)?.name ?? '<graph input>');
}

/** [path, [C,H,W] or [F]] for each of `count` blocks `${prefix}${first}` … */
export function repeated(prefix: string, first: number, count: number, shape: readonly number[]): [string, readonly number[]][] {
  return Array.from({ length: count }, (_, i) => [`${prefix}${first + i}`, shape]);
}
