/**
 * A naive, obviously-correct float64 executor of every IR op, NCHW. The ground truth for
 * small graphs: no blocking, no fusion tricks, loops written straight from the definitions
 * in src/graph/ir.ts. Too slow for the real networks at full size; meant for tests.
 */
import type { Graph, Node, Pair, WeightStore } from '../../src/graph/ir';
import { convOutputSize, convPlanes } from './conv-planes';

/** A dense float64 tensor, row-major in `shape` ([N,C,H,W] or [N,F]). */
export interface RefTensor {
  readonly shape: readonly number[];
  readonly data: Float64Array;
}

export function refTensor(shape: readonly number[], data?: ArrayLike<number>): RefTensor {
  const size = shape.reduce((a, b) => a * b, 1);
  const out = new Float64Array(size);
  if (data !== undefined) {
    if (data.length !== size) throw new Error(`refTensor: ${data.length} values for shape [${shape.join(',')}]`);
    for (let i = 0; i < size; i++) out[i] = data[i]!;
  }
  return { shape: [...shape], data: out };
}

const relu = (v: number): number => (v > 0 ? v : 0);

function dims4(t: RefTensor): [number, number, number, number] {
  const s = t.shape;
  if (s.length === 4) return [s[0]!, s[1]!, s[2]!, s[3]!];
  if (s.length === 2) return [s[0]!, s[1]!, 1, 1];
  throw new Error(`reference: expected a 2-d or 4-d tensor, got [${s.join(',')}]`);
}

/** y = act([residual + residualScale *](conv(x, w) + b)); w [O,I,kh,kw], cross-correlation. */
export function refConv2d(
  x: RefTensor,
  weight: ArrayLike<number>,
  bias: ArrayLike<number> | null,
  outChannels: number,
  kernel: Pair,
  stride: Pair,
  pad: Pair,
  relu_: boolean,
  residual: { tensor: RefTensor; scale: number } | null = null,
): RefTensor {
  const [n, c, h, w] = dims4(x);
  const geometry = { batch: n, inChannels: c, height: h, width: w, outChannels, kernel, stride, pad };
  const [oh, ow] = convOutputSize(geometry);
  const y = refTensor([n, outChannels, oh, ow]);
  const sums = convPlanes(x.data, geometry, weight, 0, bias, 0);
  for (let at = 0; at < sums.length; at++) {
    const acc = residual === null ? sums[at]! : residual.tensor.data[at]! + residual.scale * sums[at]!;
    y.data[at] = relu_ ? relu(acc) : acc;
  }
  return y;
}

/** Inference batch norm on [N,C,H,W] or [N,F]. */
export function refBatchNorm(
  x: RefTensor,
  gamma: ArrayLike<number>,
  beta: ArrayLike<number>,
  mean: ArrayLike<number>,
  variance: ArrayLike<number>,
  eps: number,
  relu_: boolean,
): RefTensor {
  const [n, c, h, w] = dims4(x);
  const y = refTensor(x.shape);
  for (let b = 0; b < n; b++)
    for (let ch = 0; ch < c; ch++)
      for (let i = 0; i < h * w; i++) {
        const at = (b * c + ch) * h * w + i;
        const v = (gamma[ch]! * (x.data[at]! - mean[ch]!)) / Math.sqrt(variance[ch]! + eps) + beta[ch]!;
        y.data[at] = relu_ ? relu(v) : v;
      }
  return y;
}

export function refPool2d(
  x: RefTensor,
  kind: 'max' | 'avg',
  kernel: Pair,
  stride: Pair,
  pad: Pair,
  countIncludePad: boolean,
): RefTensor {
  const [n, c, h, w] = dims4(x);
  const oh = Math.floor((h + 2 * pad[0] - kernel[0]) / stride[0]) + 1;
  const ow = Math.floor((w + 2 * pad[1] - kernel[1]) / stride[1]) + 1;
  const y = refTensor([n, c, oh, ow]);
  for (let b = 0; b < n; b++)
    for (let ch = 0; ch < c; ch++)
      for (let yy = 0; yy < oh; yy++)
        for (let xx = 0; xx < ow; xx++) {
          let max = -Infinity;
          let sum = 0;
          let count = 0;
          for (let ky = 0; ky < kernel[0]; ky++) {
            const iy = yy * stride[0] - pad[0] + ky;
            if (iy < 0 || iy >= h) continue;
            for (let kx = 0; kx < kernel[1]; kx++) {
              const ix = xx * stride[1] - pad[1] + kx;
              if (ix < 0 || ix >= w) continue;
              const v = x.data[((b * c + ch) * h + iy) * w + ix]!;
              max = Math.max(max, v);
              sum += v;
              count++;
            }
          }
          const divisor = countIncludePad ? kernel[0] * kernel[1] : count;
          y.data[((b * c + ch) * oh + yy) * ow + xx] = kind === 'max' ? max : sum / divisor;
        }
  return y;
}

export function refGlobalAvgPool(x: RefTensor): RefTensor {
  const [n, c, h, w] = dims4(x);
  const y = refTensor([n, c]);
  for (let i = 0; i < n * c; i++) {
    let sum = 0;
    for (let j = 0; j < h * w; j++) sum += x.data[i * h * w + j]!;
    y.data[i] = sum / (h * w);
  }
  return y;
}

export function refConcat(pieces: readonly RefTensor[]): RefTensor {
  const [n, , h, w] = dims4(pieces[0]!);
  const c = pieces.reduce((s, p) => s + dims4(p)[1], 0);
  const shape = pieces[0]!.shape.length === 2 ? [n, c] : [n, c, h, w];
  const y = refTensor(shape);
  for (let b = 0; b < n; b++) {
    let base = 0;
    for (const p of pieces) {
      const pc = dims4(p)[1];
      for (let i = 0; i < pc * h * w; i++) y.data[(b * c + base) * h * w + i] = p.data[b * pc * h * w + i]!;
      base += pc;
    }
  }
  return y;
}

/** Channels [start, start + channels) of an [N,C,H,W] tensor. */
export function refChannelSlice(x: RefTensor, start: number, channels: number): RefTensor {
  const [n, c, h, w] = dims4(x);
  if (start < 0 || start + channels > c) throw new Error(`reference: slice [${start}, ${start + channels}) of ${c} channels`);
  const y = refTensor([n, channels, h, w]);
  for (let b = 0; b < n; b++)
    for (let i = 0; i < channels * h * w; i++) y.data[b * channels * h * w + i] = x.data[(b * c + start) * h * w + i]!;
  return y;
}

export function refResidualAdd(a: RefTensor, b: RefTensor, scale: number, relu_: boolean): RefTensor {
  const y = refTensor(a.shape);
  for (let i = 0; i < y.data.length; i++) {
    const v = a.data[i]! + scale * b.data[i]!;
    y.data[i] = relu_ ? relu(v) : v;
  }
  return y;
}

export function refRelu(x: RefTensor): RefTensor {
  const y = refTensor(x.shape);
  for (let i = 0; i < y.data.length; i++) y.data[i] = relu(x.data[i]!);
  return y;
}

/** [N,in] -> [N,out], weight [out,in]. */
export function refLinear(
  x: RefTensor,
  weight: ArrayLike<number>,
  bias: ArrayLike<number> | null,
  outFeatures: number,
  relu_: boolean,
): RefTensor {
  const [n, inF] = dims4(x);
  const y = refTensor([n, outFeatures]);
  for (let b = 0; b < n; b++)
    for (let o = 0; o < outFeatures; o++) {
      let acc = bias === null ? 0 : bias[o]!;
      for (let i = 0; i < inF; i++) acc += weight[o * inF + i]! * x.data[b * inF + i]!;
      y.data[b * outFeatures + o] = relu_ ? relu(acc) : acc;
    }
  return y;
}

/** Per row: x / max(||x||_2, eps). */
export function refL2Norm(x: RefTensor, eps: number): RefTensor {
  const [n, f] = dims4(x);
  const y = refTensor(x.shape);
  for (let b = 0; b < n; b++) {
    let ss = 0;
    for (let i = 0; i < f; i++) ss += x.data[b * f + i]! ** 2;
    const d = Math.max(Math.sqrt(ss), eps);
    for (let i = 0; i < f; i++) y.data[b * f + i] = x.data[b * f + i]! / d;
  }
  return y;
}

export function refSoftmax(x: RefTensor): RefTensor {
  const [n, f] = dims4(x);
  const y = refTensor(x.shape);
  for (let b = 0; b < n; b++) {
    let max = -Infinity;
    for (let i = 0; i < f; i++) max = Math.max(max, x.data[b * f + i]!);
    let sum = 0;
    for (let i = 0; i < f; i++) sum += Math.exp(x.data[b * f + i]! - max);
    for (let i = 0; i < f; i++) y.data[b * f + i] = Math.exp(x.data[b * f + i]! - max) / sum;
  }
  return y;
}

function param(weights: WeightStore, name: string, node: Node): Float32Array {
  const value = weights.get(name);
  if (value === undefined) throw new Error(`reference: parameter '${name}' of node '${node.name}' is missing`);
  return value;
}

function runNode(node: Node, inputs: readonly RefTensor[], weights: WeightStore, outShape: readonly number[]): RefTensor {
  const x = inputs[0]!;
  switch (node.op) {
    case 'conv2d': {
      const bias = node.bias === null ? null : param(weights, node.bias, node);
      const residual = node.residualScale === null ? null : { tensor: inputs[1]!, scale: node.residualScale };
      const w = param(weights, node.weight, node);
      return refConv2d(x, w, bias, outShape[1]!, node.kernel, node.stride, node.pad, node.relu, residual);
    }
    case 'batchnorm':
      return refBatchNorm(
        x,
        param(weights, node.weight, node),
        param(weights, node.bias, node),
        param(weights, node.runningMean, node),
        param(weights, node.runningVar, node),
        node.eps,
        node.relu,
      );
    case 'relu':
      return refRelu(x);
    case 'maxpool2d':
    case 'avgpool2d':
      return refPool2d(x, node.op === 'maxpool2d' ? 'max' : 'avg', node.kernel, node.stride, node.pad, node.countIncludePad);
    case 'globalavgpool':
      return refGlobalAvgPool(x);
    case 'concat':
      return refConcat(inputs);
    case 'channel_slice':
      return refChannelSlice(x, node.start, node.channels);
    case 'residual_add':
      return refResidualAdd(x, inputs[1]!, node.scale, node.relu);
    case 'linear': {
      const bias = node.bias === null ? null : param(weights, node.bias, node);
      return refLinear(x, param(weights, node.weight, node), bias, outShape[1]!, node.relu);
    }
    case 'l2norm':
      return refL2Norm(x, node.eps);
    case 'softmax':
      return refSoftmax(x);
  }
}

/**
 * Runs the whole graph in float64 on `input` (plain NCHW, the graph input's shape) and
 * returns the graph output, row-major in its shape.
 */
export function referenceForward(graph: Graph, weights: WeightStore, input: Float32Array): Float64Array {
  const shapes = new Map(graph.tensors.map((t) => [t.id, t.shape]));
  const values = new Map<number, RefTensor>();
  values.set(graph.input, refTensor(shapes.get(graph.input)!, input));
  for (const node of graph.nodes) {
    const inputs = node.inputs.map((id) => {
      const v = values.get(id);
      if (v === undefined) throw new Error(`reference: node '${node.name}' reads tensor ${id} before it is produced`);
      return v;
    });
    const outShape = shapes.get(node.output)!;
    const y = runNode(node, inputs, weights, outShape);
    const expected = outShape.reduce((a, b) => a * b, 1);
    if (y.data.length !== expected) {
      throw new Error(`reference: node '${node.name}' produced ${y.data.length} values, shape [${outShape.join(',')}] wants ${expected}`);
    }
    values.set(node.output, { shape: outShape, data: y.data });
  }
  const out = values.get(graph.output);
  if (out === undefined) throw new Error('reference: the graph output is never produced');
  return out.data;
}
