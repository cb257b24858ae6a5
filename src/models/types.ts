import type { Graph } from '../graph/ir';

export type ModelName = 'inception_v4' | 'inception_resnet_v2' | 'inception_resnet_v1';

/** The fixture recipe's kinds (../shared/fixtures/README.md), also used to validate checkpoints. */
export type EntryKind =
  | 'conv_weight'
  | 'residual_conv_weight'
  | 'conv_bias'
  | 'final_linear_weight'
  | 'linear_bias'
  | 'bn_weight'
  | 'bn_bias'
  | 'bn_running_mean'
  | 'bn_running_var'
  | 'bn_num_batches_tracked';

/** One state_dict entry of the released checkpoint, in state_dict order. */
export interface CheckpointEntry {
  readonly name: string;
  readonly shape: readonly number[];
  readonly kind: EntryKind;
  /** int64 bookkeeping scalars (num_batches_tracked): accepted and ignored. */
  readonly dtype: 'F32' | 'I64';
}

export interface Preprocessing {
  /** Default square input size of the released checkpoint. */
  readonly inputSize: number;
  readonly interpolation: 'bicubic' | 'bilinear';
  /** Resize the short side to inputSize / cropPct, then centre-crop inputSize. 1.0 = no crop margin. */
  readonly cropPct: number;
  /** Per-channel RGB; applied to values scaled to [0,1]: (v - mean) / std. */
  readonly mean: readonly [number, number, number];
  readonly std: readonly [number, number, number];
}

export interface BuildOptions {
  readonly batch: number;
  readonly height: number;
  readonly width: number;
  /**
   * inception_resnet_v1 only: when set, the graph ends with the checkpoint's `logits` classifier
   * (Linear 512 -> classes on the batch-normed embedding) instead of the L2-normalised embedding.
   */
  readonly logitsClasses?: number;
}

export interface ModelDefinition {
  readonly name: ModelName;
  /** 'logits' [N,1000] or 'embedding' [N,512]. */
  readonly output: 'logits' | 'embedding';
  readonly outputSize: number;
  /** Smallest accepted H and W. */
  readonly minSize: number;
  readonly preprocessing: Preprocessing;
  /** Label set for classification outputs ('imagenet-1k'), or null for embeddings. */
  readonly labels: 'imagenet-1k' | null;
  /** Every required state_dict entry, in order (exactly the reference model's state_dict). */
  readonly checkpoint: readonly CheckpointEntry[];
  /** Entries a released checkpoint may also carry that we accept (facenet `logits.*`). Shapes: -1 = any. */
  readonly optionalEntries: readonly CheckpointEntry[];
  build(options: BuildOptions): Graph;
}
