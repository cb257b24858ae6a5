/**
 * Multiply-accumulate count of a graph: convolutions and linear layers only (BN, ReLU, pools,
 * adds and concats are not counted), for the whole batch. This is the convention of the MAC
 * totals in the architecture reference (conv: C_out*H_out*W_out*C_in*kh*kw per image).
 */
import type { Graph } from './ir';

export function countMacs(g: Graph): number {
  let macs = 0;
  for (const node of g.nodes) {
    if (node.op === 'conv2d') {
      const [n, cOut, hOut, wOut] = g.tensors[node.output]!.shape as [number, number, number, number];
      const cIn = g.tensors[node.inputs[0]!]!.shape[1]!;
      macs += n * cOut * hOut * wOut * cIn * node.kernel[0] * node.kernel[1];
    } else if (node.op === 'linear') {
      const [n, out] = g.tensors[node.output]!.shape as [number, number];
      macs += n * out * g.tensors[node.inputs[0]!]!.shape[1]!;
    }
  }
  return macs;
}
