/**
 * The flat execution plan handed to a native backend once per (session, batch bucket).
 * Everything is numbers: no graph, no names on the hot path. Mirrored by native/core/plan.h.
 *
 * Layout contract. Every feature map [N,C,H,W] lives in one arena *buffer* whose logical
 * shape is [N, Cbuf, H, W]; a tensor is a channel slice [channelOffset, channelOffset + C)
 * of that buffer (a "view"; channelOffset = 0 and C = Cbuf for a plain tensor). The physical
 * layout of a buffer is the backend's (see LayoutPolicy): the planner only needs its byte size.
 * Vectors [N,F] are buffers with H = W = 1.
 */

/** What the backend tells the planner about its physical layout. */
export interface LayoutPolicy {
  /** Bytes of one element in the arena (4 fp32, 2 fp16). */
  readonly elementBytes: number;
  /** Channels are padded up to a multiple of this in a buffer (oneDNN nChw8c: 8; plain: 1). */
  readonly channelBlock: number;
  /** Every buffer offset is a multiple of this many bytes. */
  readonly alignment: number;
  /** Whether a step may write straight into a channel slice of a concat buffer. */
  readonly concatViews: boolean;
  /**
   * Whether sessions on this backend merge the 1x1 convs reading one tensor into one conv
   * (src/optimize/merge-sibling-convs.ts) before planning; absent means false. Set per backend
   * where it was measured faster; INCEPTION_MERGE_SIBLING_CONVS overrides it (sibling-merge-switch.ts).
   */
  readonly mergeSiblingConvs?: boolean;
}

export interface PlanBuffer {
  /** Byte offset in the activation arena. */
  readonly offset: number;
  /** Byte size reserved (physical, per the LayoutPolicy). */
  readonly bytes: number;
  readonly n: number;
  readonly c: number;
  readonly h: number;
  readonly w: number;
}

export interface PlanTensor {
  /** Index into Plan.buffers. */
  readonly buffer: number;
  readonly channelOffset: number;
  readonly n: number;
  readonly c: number;
  readonly h: number;
  readonly w: number;
}

/** A slice of Plan.weights (in float32 elements, not bytes). */
export interface WeightRef {
  readonly offset: number;
  readonly length: number;
}

export const NO_TENSOR = -1;

/**
 * conv2d: output = act(residual + conv(input, weight) + bias), weights and bias already
 * folded (BN) and pre-scaled (residual scale), so the side input is added with scale 1.
 * When `residual` != NO_TENSOR the output tensor is the *same* tensor (same buffer and slice)
 * as the residual input: the backend accumulates in place (oneDNN sum post-op; cuDNN z = y).
 */
export interface ConvStep {
  readonly op: 'conv2d';
  readonly name: string;
  readonly input: number;
  readonly output: number;
  readonly residual: number;
  readonly weight: WeightRef; // [O,I,kh,kw]
  readonly bias: WeightRef; // [O], always present (zeros when the model has none)
  readonly kernel: readonly [number, number];
  readonly stride: readonly [number, number];
  readonly pad: readonly [number, number];
  readonly relu: boolean;
}

export interface PoolStep {
  readonly op: 'maxpool2d' | 'avgpool2d';
  readonly name: string;
  readonly input: number;
  readonly output: number;
  readonly kernel: readonly [number, number];
  readonly stride: readonly [number, number];
  readonly pad: readonly [number, number];
  readonly countIncludePad: boolean;
}

/** [N,C,H,W] -> [N,C,1,1]. */
export interface GlobalAvgPoolStep {
  readonly op: 'globalavgpool';
  readonly name: string;
  readonly input: number;
  readonly output: number;
}

/** [N,in,1,1] -> [N,out,1,1]: output = act(input · weightᵀ + bias). */
export interface LinearStep {
  readonly op: 'linear';
  readonly name: string;
  readonly input: number;
  readonly output: number;
  readonly weight: WeightRef; // [out,in]
  readonly bias: WeightRef; // [out]
  readonly relu: boolean;
}

/** Per-channel affine (an unfused inference batch norm): output = act(input * scale[c] + shift[c]). */
export interface AffineStep {
  readonly op: 'affine';
  readonly name: string;
  readonly input: number;
  readonly output: number;
  readonly scale: WeightRef;
  readonly shift: WeightRef;
  readonly relu: boolean;
}

export interface ReluStep {
  readonly op: 'relu';
  readonly name: string;
  readonly input: number;
  readonly output: number;
}

/** output = act(inputs[0] + scale * inputs[1]). */
export interface ResidualAddStep {
  readonly op: 'residual_add';
  readonly name: string;
  readonly inputs: readonly [number, number];
  readonly output: number;
  readonly scale: number;
  readonly relu: boolean;
}

/** Copy fallback for concat when views are not used: inputs copied into consecutive channel slices. */
export interface ConcatStep {
  readonly op: 'concat';
  readonly name: string;
  readonly inputs: readonly number[];
  readonly output: number;
}

export interface L2NormStep {
  readonly op: 'l2norm';
  readonly name: string;
  readonly input: number;
  readonly output: number;
  readonly eps: number;
}

export interface SoftmaxStep {
  readonly op: 'softmax';
  readonly name: string;
  readonly input: number;
  readonly output: number;
}

export type PlanStep =
  | ConvStep
  | PoolStep
  | GlobalAvgPoolStep
  | LinearStep
  | AffineStep
  | ReluStep
  | ResidualAddStep
  | ConcatStep
  | L2NormStep
  | SoftmaxStep;

/** Where one step runs (src/plan/schedule.ts): its stream and the earlier steps on other streams it waits for. */
export interface StepSchedule {
  /** 0..streams-1; stream 0 is the one the run starts and ends on. */
  readonly stream: number;
  /** Indices of earlier steps (ascending) whose completion this step waits for (an event each). */
  readonly waits: readonly number[];
}

/** The stream schedule of a plan: one entry per step. Backends without streams run the steps in order. */
export interface PlanSchedule {
  /** 1..4. */
  readonly streams: number;
  readonly steps: readonly StepSchedule[];
}

export interface Plan {
  readonly batch: number;
  /** Total activation arena bytes (max over buffers of offset + bytes, aligned). */
  readonly arenaBytes: number;
  readonly buffers: readonly PlanBuffer[];
  readonly tensors: readonly PlanTensor[];
  readonly steps: readonly PlanStep[];
  /** The graph input [N,3,H,W]: the backend converts plain NCHW fp32 into it. */
  readonly input: number;
  /** The graph output [N,K] (as [N,K,1,1]): the backend converts it to plain fp32 [N,K]. */
  readonly output: number;
  /** All folded weights, back to back; each WeightRef offset is a multiple of 64 elements (256 bytes). */
  readonly weights: Float32Array;
  /** Branch streams for the CUDA backend; absent = one stream (the steps in order). */
  readonly schedule?: PlanSchedule;
}

/** What the planner reports (session.memory). */
export interface MemoryReport {
  readonly weightBytes: number;
  readonly arenaBytes: number;
  readonly naiveBytes: number;
  readonly lowerBoundBytes: number;
  readonly workspaceBytes: number;
}
