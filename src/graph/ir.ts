/**
 * The graph IR: tensors with concrete NCHW shapes (batch included) and nodes in
 * topological order. A model is built once per (batch, height, width); rebuilding
 * is cheap. Parameters are referenced by their checkpoint name; values live in a
 * separate WeightStore so passes stay pure functions of (graph, weights).
 */

/** A tensor value flowing between nodes. `shape` is [N,C,H,W] for feature maps, [N,F] for vectors. */
export interface TensorSpec {
  readonly id: number;
  readonly shape: readonly number[];
}

/** A named parameter (a state_dict entry) the graph needs. */
export interface ParamSpec {
  readonly name: string;
  readonly shape: readonly number[];
}

export type Pair = readonly [number, number];

interface NodeBase {
  /** Unique, human-readable; for models the module path, e.g. `features.6.branch1.0`. */
  readonly name: string;
  readonly inputs: readonly number[];
  readonly output: number;
}

/**
 * y = act( [residual + residualScale *] (conv(x, weight) + bias) ).
 * inputs = [x] or [x, residual] when `residualScale !== null`.
 * Weight [O,I,kh,kw] (OIHW), cross-correlation, dilation 1, groups 1.
 */
export interface Conv2dNode extends NodeBase {
  readonly op: 'conv2d';
  readonly weight: string;
  readonly bias: string | null;
  readonly kernel: Pair;
  readonly stride: Pair;
  readonly pad: Pair;
  readonly relu: boolean;
  /** null: no residual side input. Otherwise inputs[1] is added as described above. */
  readonly residualScale: number | null;
}

/** Inference batch norm (2d on [N,C,H,W] or 1d on [N,F]): y = act(gamma (x - mean)/sqrt(var + eps) + beta). */
export interface BatchNormNode extends NodeBase {
  readonly op: 'batchnorm';
  readonly weight: string;
  readonly bias: string;
  readonly runningMean: string;
  readonly runningVar: string;
  readonly eps: number;
  readonly relu: boolean;
}

export interface ReluNode extends NodeBase {
  readonly op: 'relu';
}

export interface Pool2dNode extends NodeBase {
  readonly op: 'maxpool2d' | 'avgpool2d';
  readonly kernel: Pair;
  readonly stride: Pair;
  readonly pad: Pair;
  /** avgpool only: divide by the window size (true) or by the in-image elements (false). */
  readonly countIncludePad: boolean;
}

/** [N,C,H,W] -> [N,C]: mean over H and W. */
export interface GlobalAvgPoolNode extends NodeBase {
  readonly op: 'globalavgpool';
}

/** Concatenation along channels (dim 1), inputs in order. */
export interface ConcatNode extends NodeBase {
  readonly op: 'concat';
}

/**
 * Channels [start, start + channels) of inputs[0] ([N,C,H,W]). Made by the sibling-conv merge
 * (src/optimize/merge-sibling-convs.ts): each former branch reads its slice of the merged
 * conv's output. The planner lowers it to a view (no step), the mirror image of a concat view.
 */
export interface ChannelSliceNode extends NodeBase {
  readonly op: 'channel_slice';
  readonly start: number;
  readonly channels: number;
}

/** y = act(inputs[0] + scale * inputs[1]) — the unfused residual connection. */
export interface ResidualAddNode extends NodeBase {
  readonly op: 'residual_add';
  readonly scale: number;
  readonly relu: boolean;
}

/** [N,in] -> [N,out]; weight [out,in]. */
export interface LinearNode extends NodeBase {
  readonly op: 'linear';
  readonly weight: string;
  readonly bias: string | null;
  readonly relu: boolean;
}

/** y = x / max(||x||_2, eps) per row of [N,F]. */
export interface L2NormNode extends NodeBase {
  readonly op: 'l2norm';
  readonly eps: number;
}

/** Row-wise softmax over [N,F]. */
export interface SoftmaxNode extends NodeBase {
  readonly op: 'softmax';
}

export type Node =
  | Conv2dNode
  | BatchNormNode
  | ReluNode
  | Pool2dNode
  | GlobalAvgPoolNode
  | ConcatNode
  | ChannelSliceNode
  | ResidualAddNode
  | LinearNode
  | L2NormNode
  | SoftmaxNode;

export type OpKind = Node['op'];

export interface Graph {
  readonly tensors: readonly TensorSpec[];
  /** Topological order: every input of nodes[i] is the graph input or an output of nodes[j<i]. */
  readonly nodes: readonly Node[];
  readonly input: number;
  readonly output: number;
  /** Every parameter the nodes reference, by name, in checkpoint (state_dict) order. */
  readonly params: readonly ParamSpec[];
}

/** Parameter values by name, float32, row-major in the ParamSpec's shape. */
export type WeightStore = ReadonlyMap<string, Float32Array>;
