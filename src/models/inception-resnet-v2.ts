/**
 * Inception-ResNet-v2 as timm `inception_resnet_v2` defines it (checkpoints
 * `inception_resnet_v2.tf_in1k`, `.tf_ens_adv_in1k`): conv stem + Mixed_5b, 10 x Block35,
 * Mixed_6a, 20 x Block17, Mixed_7a, 9 x Block8 + final block8 (scale 1.0, no ReLU),
 * conv2d_7b, global pool, `classif` (1536 -> 1000). Reference: architectures.md §2.
 */
import type { GraphBuilder } from '../graph/builder';
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
import type { BuildOptions, ModelDefinition, Preprocessing } from './types';

/** timm pretrained cfg of both IRv2 tags: 299, bicubic, crop_pct 0.8975, Inception mean/std 0.5. */
export const INCEPTION_RESNET_V2_PREPROCESSING: Preprocessing = {
  inputSize: 299,
  interpolation: 'bicubic',
  cropPct: 0.8975,
  mean: [0.5, 0.5, 0.5],
  std: [0.5, 0.5, 0.5],
};

const BLOCK35: Block35Channels = { branch0: 32, branch1: [32, 32], branch2: [32, 48, 64] };
const BLOCK17: TwoBranchChannels = { branch0: 192, branch1: [128, 160, 192] };
const BLOCK8: TwoBranchChannels = { branch0: 192, branch1: [192, 224, 256] };

/** Inception-v3-style module: 96 ‖ 48 -> 5x5 64 ‖ 64 -> 96 -> 96 ‖ avg-pool -> 64. */
function mixed5b(b: GraphBuilder, p: string, x: number): number {
  const branch0 = b.cbr(`${p}.branch0`, x, 96, 1);
  let branch1 = b.cbr(`${p}.branch1.0`, x, 48, 1);
  branch1 = b.cbr(`${p}.branch1.1`, branch1, 64, 5, 1, 2);
  let branch2 = b.cbr(`${p}.branch2.0`, x, 64, 1);
  branch2 = b.cbr(`${p}.branch2.1`, branch2, 96, 3, 1, 1);
  branch2 = b.cbr(`${p}.branch2.2`, branch2, 96, 3, 1, 1);
  const pooled = b.avgpool(`${p}.branch3.0`, x, 3, 1, 1, false);
  const branch3 = b.cbr(`${p}.branch3.1`, pooled, 64, 1);
  return b.concat(p, [branch0, branch1, branch2, branch3]);
}

/** Appends the whole network to `b` (input b.input, [N,3,H,W]) and returns the logits tensor. */
export function appendInceptionResnetV2(b: GraphBuilder): number {
  let y = b.cbr('conv2d_1a', b.input, 32, 3, 2);
  y = b.cbr('conv2d_2a', y, 32, 3);
  y = b.cbr('conv2d_2b', y, 64, 3, 1, 1);
  y = b.maxpool('maxpool_3a', y, 3, 2);
  y = b.cbr('conv2d_3b', y, 80, 1);
  y = b.cbr('conv2d_4a', y, 192, 3);
  y = b.maxpool('maxpool_5a', y, 3, 2);
  y = mixed5b(b, 'mixed_5b', y);
  const relu = true;
  y = repeatBlocks('repeat', 10, y, (p, x) => block35(b, p, x, BLOCK35, { scale: BLOCK35_SCALE, relu }));
  y = reductionA(b, 'mixed_6a', y, { k: 256, l: 256, m: 384, n: 384 });
  y = repeatBlocks('repeat_1', 20, y, (p, x) => block17(b, p, x, BLOCK17, { scale: BLOCK17_SCALE, relu }));
  y = mixed7a(b, 'mixed_7a', y, { branch0: [256, 384], branch1: [256, 288], branch2: [256, 288, 320] });
  y = repeatBlocks('repeat_2', 9, y, (p, x) => block8(b, p, x, BLOCK8, { scale: BLOCK8_SCALE, relu }));
  y = block8(b, 'block8', y, BLOCK8, { scale: FINAL_BLOCK8_SCALE, relu: false });
  y = b.cbr('conv2d_7b', y, 1536, 1);
  const pooled = b.globalAvgPool('global_pool', y);
  return b.linear('classif', pooled, { weight: 'classif.weight', bias: 'classif.bias', outFeatures: 1000 });
}

function build(options: BuildOptions) {
  const b = startGraph('inception_resnet_v2', INCEPTION_MIN_SIZE, options);
  return b.build(appendInceptionResnetV2(b));
}

export const inceptionResnetV2: ModelDefinition = {
  name: 'inception_resnet_v2',
  output: 'logits',
  outputSize: 1000,
  minSize: INCEPTION_MIN_SIZE,
  preprocessing: INCEPTION_RESNET_V2_PREPROCESSING,
  labels: 'imagenet-1k',
  checkpoint: checkpointEntries(build({ batch: 1, height: 299, width: 299 })),
  optionalEntries: [],
  build,
};
