/**
 * The blocks shared by Inception-ResNet-v2 (timm) and Inception-ResNet-v1 (facenet-pytorch),
 * which differ only in channel counts: Block35 (A), Block17 (B), Block8 (C) and Mixed_7a
 * (Reduction-B). Reduction-A is in reduction-a.ts.
 *
 * A residual block is y = act(x + scale * (W_up * concat(branches) + b_up)), built unfused as
 * concat `${prefix}.cat` -> 1x1 up-projection `${prefix}.conv2d` -> residual_add `${prefix}`.
 */
import type { GraphBuilder } from '../graph/builder';

export const BLOCK35_SCALE = 0.17;
export const BLOCK17_SCALE = 0.1;
export const BLOCK8_SCALE = 0.2;
/** The final block8 of both nets: scale 1.0 and no ReLU. */
export const FINAL_BLOCK8_SCALE = 1.0;

export interface Block35Channels {
  readonly branch0: number;
  readonly branch1: readonly [number, number];
  readonly branch2: readonly [number, number, number];
}

/** Two-branch residual block: 1x1 ‖ 1x1 -> factorised pair (Block17: 1x7, 7x1; Block8: 1x3, 3x1). */
export interface TwoBranchChannels {
  readonly branch0: number;
  readonly branch1: readonly [number, number, number];
}

export interface Residual {
  readonly scale: number;
  readonly relu: boolean;
}

export interface Mixed7aChannels {
  readonly branch0: readonly [number, number];
  readonly branch1: readonly [number, number];
  readonly branch2: readonly [number, number, number];
}

function residualJoin(b: GraphBuilder, prefix: string, x: number, branches: readonly number[], residual: Residual): number {
  const cat = b.concat(`${prefix}.cat`, branches);
  const up = b.upConv(`${prefix}.conv2d`, cat, b.shapeOf(x)[1]!);
  return b.residualAdd(prefix, x, up, residual.scale, residual.relu);
}

/** Inception-ResNet-A: 1x1 ‖ 1x1 -> 3x3 ‖ 1x1 -> 3x3 -> 3x3. */
export function block35(b: GraphBuilder, prefix: string, x: number, c: Block35Channels, residual: Residual): number {
  const branch0 = b.cbr(`${prefix}.branch0`, x, c.branch0, 1);
  let branch1 = b.cbr(`${prefix}.branch1.0`, x, c.branch1[0], 1);
  branch1 = b.cbr(`${prefix}.branch1.1`, branch1, c.branch1[1], 3, 1, 1);
  let branch2 = b.cbr(`${prefix}.branch2.0`, x, c.branch2[0], 1);
  branch2 = b.cbr(`${prefix}.branch2.1`, branch2, c.branch2[1], 3, 1, 1);
  branch2 = b.cbr(`${prefix}.branch2.2`, branch2, c.branch2[2], 3, 1, 1);
  return residualJoin(b, prefix, x, [branch0, branch1, branch2], residual);
}

/** 1x1 ‖ 1x1 -> 1xk (pad 0,k/2) -> kx1 (pad k/2,0); k = 7 for Block17, 3 for Block8. */
function factorisedBlock(b: GraphBuilder, prefix: string, x: number, c: TwoBranchChannels, k: number, residual: Residual): number {
  const half = (k - 1) / 2;
  const branch0 = b.cbr(`${prefix}.branch0`, x, c.branch0, 1);
  let branch1 = b.cbr(`${prefix}.branch1.0`, x, c.branch1[0], 1);
  branch1 = b.cbr(`${prefix}.branch1.1`, branch1, c.branch1[1], [1, k], 1, [0, half]);
  branch1 = b.cbr(`${prefix}.branch1.2`, branch1, c.branch1[2], [k, 1], 1, [half, 0]);
  return residualJoin(b, prefix, x, [branch0, branch1], residual);
}

/** Inception-ResNet-B: 1x1 ‖ 1x1 -> 1x7 -> 7x1. */
export function block17(b: GraphBuilder, prefix: string, x: number, c: TwoBranchChannels, residual: Residual): number {
  return factorisedBlock(b, prefix, x, c, 7, residual);
}

/** Inception-ResNet-C: 1x1 ‖ 1x1 -> 1x3 -> 3x1. */
export function block8(b: GraphBuilder, prefix: string, x: number, c: TwoBranchChannels, residual: Residual): number {
  return factorisedBlock(b, prefix, x, c, 3, residual);
}

/** Reduction-B of the Inception-ResNets: three stride-2 conv branches, max-pool last. */
export function mixed7a(b: GraphBuilder, prefix: string, x: number, c: Mixed7aChannels): number {
  let branch0 = b.cbr(`${prefix}.branch0.0`, x, c.branch0[0], 1);
  branch0 = b.cbr(`${prefix}.branch0.1`, branch0, c.branch0[1], 3, 2);
  let branch1 = b.cbr(`${prefix}.branch1.0`, x, c.branch1[0], 1);
  branch1 = b.cbr(`${prefix}.branch1.1`, branch1, c.branch1[1], 3, 2);
  let branch2 = b.cbr(`${prefix}.branch2.0`, x, c.branch2[0], 1);
  branch2 = b.cbr(`${prefix}.branch2.1`, branch2, c.branch2[1], 3, 1, 1);
  branch2 = b.cbr(`${prefix}.branch2.2`, branch2, c.branch2[2], 3, 2);
  const branch3 = b.maxpool(`${prefix}.branch3`, x, 3, 2);
  return b.concat(prefix, [branch0, branch1, branch2, branch3]);
}

/** `count` residual blocks named `${prefix}.0` … `${prefix}.${count - 1}`. */
export function repeatBlocks(
  prefix: string,
  count: number,
  x: number,
  block: (blockPrefix: string, input: number) => number,
): number {
  let y = x;
  for (let i = 0; i < count; i++) y = block(`${prefix}.${i}`, y);
  return y;
}
