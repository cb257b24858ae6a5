import { describe, expect, it } from 'vitest';
import { PlanError } from '../../src/errors';
import { GraphBuilder } from '../../src/graph/builder';
import type { Graph, Node } from '../../src/graph/ir';
import { validateGraph } from '../../src/graph/validate';

/** x -> cbr 'a' (conv, bn) -> maxpool 'p' -> concat 'cat'([p, p]); tensors 0..4. */
function sample(): Graph {
  const b = new GraphBuilder([1, 3, 8, 8]);
  const a = b.cbr('a', b.input, 4, 3, 1, 1);
  const p = b.maxpool('p', a, 3, 2);
  return b.build(b.concat('cat', [p, p]));
}

function withNode(g: Graph, index: number, patch: Partial<Node>): Graph {
  const nodes = g.nodes.map((n, i) => (i === index ? ({ ...n, ...patch } as Node) : n));
  return { ...g, nodes };
}

const planError = (pattern: RegExp) => expect.objectContaining({ code: 'E_PLAN', message: expect.stringMatching(pattern) });

describe('validateGraph', () => {
  it('accepts a well-formed graph', () => {
    expect(() => validateGraph(sample())).not.toThrow();
  });

  it('rejects nodes out of topological order, naming the node', () => {
    const g = sample();
    const swapped = { ...g, nodes: [g.nodes[1]!, g.nodes[0]!, ...g.nodes.slice(2)] };
    expect(() => validateGraph(swapped)).toThrowError(PlanError);
    expect(() => validateGraph(swapped)).toThrowError("node 0 'a.bn' (batchnorm): input tensor 1 is not produced by an earlier node (nodes must be in topological order)");
  });

  it('rejects tensor ids out of range', () => {
    const g = sample();
    expect(() => validateGraph(withNode(g, 2, { inputs: [7] }))).toThrowError(planError(/node 2 'p' \(maxpool2d\): input tensor 7 does not exist/));
    expect(() => validateGraph(withNode(g, 2, { output: 9 }))).toThrowError(planError(/'p' \(maxpool2d\): output tensor 9 does not exist/));
    expect(() => validateGraph({ ...g, output: 5 })).toThrowError(planError(/graph output 5 is not a tensor id/));
    expect(() => validateGraph({ ...g, input: -1 })).toThrowError(planError(/graph input -1 is not a tensor id/));
  });

  it('rejects a tensor produced twice, the input overwritten, or a tensor never produced', () => {
    const g = sample();
    const twice = withNode(withNode(g, 3, { output: 3 }), 2, { output: 3 });
    expect(() => validateGraph(twice)).toThrowError(planError(/'cat' \(concat\): output tensor 3 is already produced by 'p'|input tensor 3/));
    expect(() => validateGraph(withNode(g, 0, { output: 0 }))).toThrowError(planError(/'a.conv' \(conv2d\): writes the graph input tensor 0/));
    const extra = { ...g, tensors: [...g.tensors, { id: 5, shape: [1] }] };
    expect(() => validateGraph(extra)).toThrowError(planError(/tensor 5 is produced by no node/));
  });

  it('rejects an output shape that the op does not give', () => {
    const g = sample();
    const tensors = g.tensors.map((t) => (t.id === 3 ? { id: 3, shape: [1, 4, 4, 4] } : t));
    expect(() => validateGraph({ ...g, tensors })).toThrowError(
      "node 2 'p' (maxpool2d): output tensor 3 has shape [1,4,4,4], but the op gives [1,4,3,3]",
    );
  });

  it('rejects op/param inconsistencies', () => {
    const g = sample();
    expect(() => validateGraph(withNode(g, 0, { weight: 'nope' } as Partial<Node>))).toThrowError(planError(/parameter 'nope' is not listed in graph.params/));
    const wrongShape = { ...g, params: g.params.map((p) => (p.name === 'a.bn.bias' ? { ...p, shape: [5] } : p)) };
    expect(() => validateGraph(wrongShape)).toThrowError(planError(/'a.bn' \(batchnorm\): bias 'a.bn.bias' has shape \[5\], expected \[4\]/));
    const dup = { ...g, params: [...g.params, g.params[0]!] };
    expect(() => validateGraph(dup)).toThrowError(planError(/parameter 'a.conv.weight' is listed twice/));
    expect(() => validateGraph(withNode(g, 0, { kernel: [1, 1] } as Partial<Node>))).toThrowError(planError(/weight 'a.conv.weight' has shape \[4,3,3,3\], expected \[O,3,1,1\]/));
    expect(() => validateGraph(withNode(g, 1, { eps: 0 } as Partial<Node>))).toThrowError(planError(/eps 0 must be > 0/));
  });

  it('rejects duplicate node names and malformed tensors', () => {
    const g = sample();
    expect(() => validateGraph(withNode(g, 2, { name: 'a.conv' }))).toThrowError(planError(/node 2 'a.conv' \(maxpool2d\): node name is used by an earlier node/));
    const badId = { ...g, tensors: g.tensors.map((t) => (t.id === 2 ? { ...t, id: 7 } : t)) };
    expect(() => validateGraph(badId)).toThrowError(planError(/tensor at index 2 has id 7/));
    const badShape = { ...g, tensors: g.tensors.map((t) => (t.id === 2 ? { ...t, shape: [1, 4, 0, 8] } : t)) };
    expect(() => validateGraph(badShape)).toThrowError(planError(/tensor 2 has shape \[1,4,0,8\]/));
  });

  it('checks conv residual inputs', () => {
    const b = new GraphBuilder([1, 4, 3, 3]);
    const y = b.conv2d('c', b.input, { weight: 'c.w', bias: null, outChannels: 4, kernel: 1, residual: { tensor: b.input, scale: 1 } });
    const g = b.build(y);
    expect(() => validateGraph(withNode(g, 0, { inputs: [0] }))).toThrowError(planError(/op conv2d takes 2 input\(s\), got 1/));
    expect(() => validateGraph(withNode(g, 0, { residualScale: null } as Partial<Node>))).toThrowError(planError(/op conv2d takes 1 input\(s\), got 2/));
  });
});
