/**
 * Inception-ResNet-v1 as facenet-pytorch `InceptionResnetV1` defines it (checkpoints `vggface2`,
 * `casia-webface`): conv stem, 5 x Block35, Mixed_6a, 10 x Block17, Mixed_7a, 5 x Block8 +
 * final block8 (scale 1.0, no ReLU), then avgpool_1a -> last_linear (1792 -> 512, no bias) ->
 * last_bn (BatchNorm1d, eps 1e-3) -> L2 normalisation (eps 1e-12): a 512-d unit embedding.
 * With `logitsClasses`, the graph ends instead with `logits` (Linear 512 -> classes, bias) on
 * the un-normalised last_bn output, as facenet's classify=True. Reference: architectures.md §3.
 */
import { INCEPTION_BN_EPS, type GraphBuilder } from '../graph/builder';
import { INCEPTION_MIN_SIZE, startGraph } from './build-options';
import { checkpointEntries } from './checkpoint';
import {
  BLOCK17_SCALE,
  BLOCK35_SCALE,
  BLOCK8_SCALE,
  FINAL_BLOCK8_SCALE,
  block17,
  block35,
  block8,
  mixed7a,
  repeatBlocks,
  type Block35Channels,
  type TwoBranchChannels,
} from './inception-resnet-blocks';
import { reductionA } from './reduction-a';
import type { BuildOptions, CheckpointEntry, ModelDefinition, Preprocessing } from './types';

/** F.normalize's default eps. */
export const EMBEDDING_L2_EPS = 1e-12;
export const EMBEDDING_SIZE = 512;

/**
 * facenet-pytorch input: an aligned 160x160 face crop (MTCNN output; no crop margin inside it),
 * resized bilinearly, then fixed_image_standardization (v - 127.5) / 128 on 0..255 values, which
 * is (v/255 - 127.5/255) / (128/255) in the [0,1] convention of Preprocessing.
 */
export const INCEPTION_RESNET_V1_PREPROCESSING: Preprocessing = {
  inputSize: 160,
  interpolation: 'bilinear',
  cropPct: 1.0,
  mean: [127.5 / 255, 127.5 / 255, 127.5 / 255],
  std: [128 / 255, 128 / 255, 128 / 255],
};

/** facenet's released files also hold the training classifier; any class count is accepted. */
export const INCEPTION_RESNET_V1_OPTIONAL_ENTRIES: readonly CheckpointEntry[] = [
  { name: 'logits.weight', shape: [-1, EMBEDDING_SIZE], kind: 'final_linear_weight', dtype: 'F32' },
  { name: 'logits.bias', shape: [-1], kind: 'linear_bias', dtype: 'F32' },
];

const BLOCK35: Block35Channels = { branch0: 32, branch1: [32, 32], branch2: [32, 32, 32] };
const BLOCK17: TwoBranchChannels = { branch0: 128, branch1: [128, 128, 128] };
const BLOCK8: TwoBranchChannels = { branch0: 192, branch1: [192, 192, 192] };

/**
 * Appends the whole network to `b` (input b.input, [N,3,H,W]) and returns the embedding
 * tensor [N,512], or the logits [N,logitsClasses] when `logitsClasses` is given.
 */
export function appendInceptionResnetV1(b: GraphBuilder, logitsClasses?: number): number {
  let y = b.cbr('conv2d_1a', b.input, 32, 3, 2);
  y = b.cbr('conv2d_2a', y, 32, 3);
  y = b.cbr('conv2d_2b', y, 64, 3, 1, 1);
  y = b.maxpool('maxpool_3a', y, 3, 2);
  y = b.cbr('conv2d_3b', y, 80, 1);
  y = b.cbr('conv2d_4a', y, 192, 3);
  y = b.cbr('conv2d_4b', y, 256, 3, 2);
  const relu = true;
  y = repeatBlocks('repeat_1', 5, y, (p, x) => block35(b, p, x, BLOCK35, { scale: BLOCK35_SCALE, relu }));
  y = reductionA(b, 'mixed_6a', y, { k: 192, l: 192, m: 256, n: 384 });
  y = repeatBlocks('repeat_2', 10, y, (p, x) => block17(b, p, x, BLOCK17, { scale: BLOCK17_SCALE, relu }));
  y = mixed7a(b, 'mixed_7a', y, { branch0: [256, 384], branch1: [256, 256], branch2: [256, 256, 256] });
  y = repeatBlocks('repeat_3', 5, y, (p, x) => block8(b, p, x, BLOCK8, { scale: BLOCK8_SCALE, relu }));
  y = block8(b, 'block8', y, BLOCK8, { scale: FINAL_BLOCK8_SCALE, relu: false });
  const pooled = b.globalAvgPool('avgpool_1a', y);
  const projected = b.linear('last_linear', pooled, { weight: 'last_linear.weight', bias: null, outFeatures: EMBEDDING_SIZE });
  const normed = b.batchnorm1d('last_bn', projected, INCEPTION_BN_EPS);
  if (logitsClasses !== undefined) {
    return b.linear('logits', normed, { weight: 'logits.weight', bias: 'logits.bias', outFeatures: logitsClasses });
  }
  return b.l2norm('normalize', normed, EMBEDDING_L2_EPS);
}

function build(options: BuildOptions) {
  const b = startGraph('inception_resnet_v1', INCEPTION_MIN_SIZE, options, true);
  return b.build(appendInceptionResnetV1(b, options.logitsClasses));
}

export const inceptionResnetV1: ModelDefinition = {
  name: 'inception_resnet_v1',
  output: 'embedding',
  outputSize: EMBEDDING_SIZE,
  minSize: INCEPTION_MIN_SIZE,
  preprocessing: INCEPTION_RESNET_V1_PREPROCESSING,
  labels: null,
  checkpoint: checkpointEntries(build({ batch: 1, height: 160, width: 160 })),
  optionalEntries: INCEPTION_RESNET_V1_OPTIONAL_ENTRIES,
  build,
};
