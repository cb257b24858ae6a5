/**
 * Shape inference for every op of the IR, shared by the builder (at each add) and the
 * validator (on a finished graph). Pure: no exceptions, a result the caller turns into its
 * own typed error (the builder reports a too-small input as InvalidInputError, the validator
 * reports everything as PlanError).
 */
import type { Node, Pair } from './ir';

export type Shape = readonly number[];

export type ShapeResult =
  | { readonly ok: true; readonly shape: number[] }
  /** `tooSmall`: the op is well formed but the feature map shrank below 1 (input too small). */
  | { readonly ok: false; readonly tooSmall: boolean; readonly problem: string };

/** Looks up a parameter's shape by name; undefined when the graph does not declare it. */
export type ParamShapeLookup = (name: string) => Shape | undefined;

/** floor((size + 2 pad - kernel) / stride) + 1, the output size of an unpadded-floor conv or pool. */
export function windowOutputSize(size: number, kernel: number, stride: number, pad: number): number {
  return Math.floor((size + 2 * pad - kernel) / stride) + 1;
}

export function formatShape(shape: Shape): string {
  return `[${shape.join(',')}]`;
}

const ok = (shape: number[]): ShapeResult => ({ ok: true, shape });
const bad = (problem: string): ShapeResult => ({ ok: false, tooSmall: false, problem });

function sameShape(a: Shape, b: Shape): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

function isPositiveInt(v: number): boolean {
  return Number.isInteger(v) && v >= 1;
}

function checkWindow(kernel: Pair, stride: Pair, pad: Pair): string | null {
  if (!kernel.every(isPositiveInt)) return `kernel ${kernel.join('x')} must be positive integers`;
  if (!stride.every(isPositiveInt)) return `stride ${stride.join(',')} must be positive integers`;
  if (!pad.every((p) => Number.isInteger(p) && p >= 0)) return `pad ${pad.join(',')} must be non-negative integers`;
  return null;
}

/** Spatial output of a window op on a [N,C,H,W] input; `describe` names the op for messages. */
function windowed(input: Shape, channels: number, kernel: Pair, stride: Pair, pad: Pair, describe: string): ShapeResult {
  const windowProblem = checkWindow(kernel, stride, pad);
  if (windowProblem !== null) return bad(windowProblem);
  const [n, , h, w] = input as [number, number, number, number];
  const ho = windowOutputSize(h, kernel[0], stride[0], pad[0]);
  const wo = windowOutputSize(w, kernel[1], stride[1], pad[1]);
  if (ho < 1 || wo < 1) {
    return {
      ok: false,
      tooSmall: true,
      problem:
        `${describe} ${kernel[0]}x${kernel[1]} stride ${stride[0]},${stride[1]} pad ${pad[0]},${pad[1]} ` +
        `on a ${h}x${w} feature map gives ${ho}x${wo}`,
    };
  }
  return ok([n, channels, ho, wo]);
}

function paramShape(lookup: ParamShapeLookup, name: string, role: string): Shape | string {
  const shape = lookup(name);
  return shape === undefined ? `${role} '${name}' is not a declared parameter` : shape;
}

/** Checks that `name` is declared with exactly `expected`; returns a problem or null. */
function expectParam(lookup: ParamShapeLookup, name: string, role: string, expected: Shape): string | null {
  const shape = paramShape(lookup, name, role);
  if (typeof shape === 'string') return shape;
  return sameShape(shape, expected) ? null : `${role} '${name}' has shape ${formatShape(shape)}, expected ${formatShape(expected)}`;
}

function expectArity(node: Node, inputs: readonly Shape[], count: number): string | null {
  return inputs.length === count ? null : `op ${node.op} takes ${count} input(s), got ${inputs.length}`;
}

function expectRank(input: Shape, ranks: readonly number[], what: string): string | null {
  return ranks.includes(input.length) ? null : `${what} must have rank ${ranks.join(' or ')}, got ${formatShape(input)}`;
}

/** The output shape of `node` given its input shapes and the declared parameter shapes. */
export function inferShape(node: Node, inputs: readonly Shape[], params: ParamShapeLookup): ShapeResult {
  switch (node.op) {
    case 'conv2d':
      return inferConv(node, inputs, params);
    case 'batchnorm': {
      const problem = expectArity(node, inputs, 1) ?? expectRank(inputs[0]!, [2, 4], 'batchnorm input');
      if (problem !== null) return bad(problem);
      if (!(node.eps > 0)) return bad(`eps ${node.eps} must be > 0`);
      const channels = [inputs[0]![1]!];
      for (const [role, name] of [
        ['weight', node.weight],
        ['bias', node.bias],
        ['running_mean', node.runningMean],
        ['running_var', node.runningVar],
      ] as const) {
        const p = expectParam(params, name, role, channels);
        if (p !== null) return bad(p);
      }
      return ok([...inputs[0]!]);
    }
    case 'relu': {
      const problem = expectArity(node, inputs, 1);
      return problem !== null ? bad(problem) : ok([...inputs[0]!]);
    }
    case 'maxpool2d':
    case 'avgpool2d': {
      const problem = expectArity(node, inputs, 1) ?? expectRank(inputs[0]!, [4], `${node.op} input`);
      if (problem !== null) return bad(problem);
      if (node.pad[0] * 2 > node.kernel[0] || node.pad[1] * 2 > node.kernel[1]) {
        return bad(`pad ${node.pad.join(',')} exceeds half the kernel ${node.kernel.join('x')}`);
      }
      return windowed(inputs[0]!, inputs[0]![1]!, node.kernel, node.stride, node.pad, node.op);
    }
    case 'globalavgpool': {
      const problem = expectArity(node, inputs, 1) ?? expectRank(inputs[0]!, [4], 'globalavgpool input');
      return problem !== null ? bad(problem) : ok([inputs[0]![0]!, inputs[0]![1]!]);
    }
    case 'concat':
      return inferConcat(inputs);
    case 'channel_slice': {
      const problem = expectArity(node, inputs, 1) ?? expectRank(inputs[0]!, [4], 'channel_slice input');
      if (problem !== null) return bad(problem);
      const [n, c, h, w] = inputs[0] as [number, number, number, number];
      if (!Number.isInteger(node.start) || !Number.isInteger(node.channels) || node.start < 0 || node.channels < 1 || node.start + node.channels > c) {
        return bad(`channels [${node.start}, ${node.start + node.channels}) do not lie inside the input's ${c} channels`);
      }
      return ok([n, node.channels, h, w]);
    }
    case 'residual_add': {
      const problem = expectArity(node, inputs, 2);
      if (problem !== null) return bad(problem);
      if (!sameShape(inputs[0]!, inputs[1]!)) {
        return bad(`residual_add inputs differ: ${formatShape(inputs[0]!)} vs ${formatShape(inputs[1]!)}`);
      }
      return ok([...inputs[0]!]);
    }
    case 'linear':
      return inferLinear(node, inputs, params);
    case 'l2norm':
    case 'softmax': {
      const problem = expectArity(node, inputs, 1) ?? expectRank(inputs[0]!, [2], `${node.op} input`);
      if (problem !== null) return bad(problem);
      if (node.op === 'l2norm' && !(node.eps > 0)) return bad(`eps ${node.eps} must be > 0`);
      return ok([...inputs[0]!]);
    }
  }
}

function inferConv(node: Extract<Node, { op: 'conv2d' }>, inputs: readonly Shape[], params: ParamShapeLookup): ShapeResult {
  const arity = node.residualScale === null ? 1 : 2;
  const problem = expectArity(node, inputs, arity) ?? expectRank(inputs[0]!, [4], 'conv2d input');
  if (problem !== null) return bad(problem);
  const weight = paramShape(params, node.weight, 'weight');
  if (typeof weight === 'string') return bad(weight);
  const input = inputs[0]!;
  const expectedWeight = [weight[0]!, input[1]!, node.kernel[0], node.kernel[1]];
  if (weight.length !== 4 || !sameShape(weight, expectedWeight)) {
    return bad(`weight '${node.weight}' has shape ${formatShape(weight)}, expected [O,${input[1]},${node.kernel[0]},${node.kernel[1]}] for input ${formatShape(input)}`);
  }
  if (node.bias !== null) {
    const p = expectParam(params, node.bias, 'bias', [weight[0]!]);
    if (p !== null) return bad(p);
  }
  const result = windowed(input, weight[0]!, node.kernel, node.stride, node.pad, 'conv');
  if (!result.ok || node.residualScale === null) return result;
  if (!Number.isFinite(node.residualScale)) return bad(`residualScale ${node.residualScale} must be finite`);
  if (!sameShape(inputs[1]!, result.shape)) {
    return bad(`residual input ${formatShape(inputs[1]!)} differs from the conv output ${formatShape(result.shape)}`);
  }
  return result;
}

function inferConcat(inputs: readonly Shape[]): ShapeResult {
  if (inputs.length < 1) return bad('concat needs at least one input');
  const first = inputs[0]!;
  const rankProblem = expectRank(first, [2, 4], 'concat input');
  if (rankProblem !== null) return bad(rankProblem);
  let channels = 0;
  for (const [i, shape] of inputs.entries()) {
    const matches = shape.length === first.length && shape.every((d, axis) => axis === 1 || d === first[axis]);
    if (!matches) {
      return bad(`concat input ${i} ${formatShape(shape)} does not match input 0 ${formatShape(first)} outside dim 1`);
    }
    channels += shape[1]!;
  }
  const out = [...first];
  out[1] = channels;
  return ok(out);
}

function inferLinear(node: Extract<Node, { op: 'linear' }>, inputs: readonly Shape[], params: ParamShapeLookup): ShapeResult {
  const problem = expectArity(node, inputs, 1) ?? expectRank(inputs[0]!, [2], 'linear input');
  if (problem !== null) return bad(problem);
  const weight = paramShape(params, node.weight, 'weight');
  if (typeof weight === 'string') return bad(weight);
  const inFeatures = inputs[0]![1]!;
  if (weight.length !== 2 || weight[1] !== inFeatures) {
    return bad(`weight '${node.weight}' has shape ${formatShape(weight)}, expected [out,${inFeatures}]`);
  }
  if (node.bias !== null) {
    const p = expectParam(params, node.bias, 'bias', [weight[0]!]);
    if (p !== null) return bad(p);
  }
  return ok([inputs[0]![0]!, weight[0]!]);
}
