/**
 * Inception-v4 as timm `inception_v4` defines it (checkpoint `inception_v4.tf_in1k`): every
 * block lives in the Sequential `features` (0-21), then global average pool and `last_linear`
 * (1536 -> 1000, bias). Every conv is a CBR. Reference: shared/design/architectures.md §1.
 */
import type { GraphBuilder } from '../graph/builder';
import { INCEPTION_MIN_SIZE, startGraph } from './build-options';
import { checkpointEntries } from './checkpoint';
import { reductionA } from './reduction-a';
import type { BuildOptions, ModelDefinition, Preprocessing } from './types';

/** timm pretrained cfg of inception_v4.tf_in1k: 299, bicubic, crop_pct 0.875, Inception mean/std 0.5. */
export const INCEPTION_V4_PREPROCESSING: Preprocessing = {
  inputSize: 299,
  interpolation: 'bicubic',
  cropPct: 0.875,
  mean: [0.5, 0.5, 0.5],
  std: [0.5, 0.5, 0.5],
};

/** Stem convs features.0-2, then Mixed3a [pool, conv], Mixed4a, Mixed5a [conv, pool]. */
function stem(b: GraphBuilder, x: number): number {
  let y = b.cbr('features.0', x, 32, 3, 2);
  y = b.cbr('features.1', y, 32, 3);
  y = b.cbr('features.2', y, 64, 3, 1, 1);

  const mixed3aPool = b.maxpool('features.3.maxpool', y, 3, 2);
  const mixed3aConv = b.cbr('features.3.conv', y, 96, 3, 2);
  y = b.concat('features.3', [mixed3aPool, mixed3aConv]);

  let branch0 = b.cbr('features.4.branch0.0', y, 64, 1);
  branch0 = b.cbr('features.4.branch0.1', branch0, 96, 3);
  let branch1 = b.cbr('features.4.branch1.0', y, 64, 1);
  branch1 = b.cbr('features.4.branch1.1', branch1, 64, [1, 7], 1, [0, 3]);
  branch1 = b.cbr('features.4.branch1.2', branch1, 64, [7, 1], 1, [3, 0]);
  branch1 = b.cbr('features.4.branch1.3', branch1, 96, 3);
  y = b.concat('features.4', [branch0, branch1]);

  const mixed5aConv = b.cbr('features.5.conv', y, 192, 3, 2);
  const mixed5aPool = b.maxpool('features.5.maxpool', y, 3, 2);
  return b.concat('features.5', [mixed5aConv, mixed5aPool]);
}

function inceptionA(b: GraphBuilder, p: string, x: number): number {
  const branch0 = b.cbr(`${p}.branch0`, x, 96, 1);
  let branch1 = b.cbr(`${p}.branch1.0`, x, 64, 1);
  branch1 = b.cbr(`${p}.branch1.1`, branch1, 96, 3, 1, 1);
  let branch2 = b.cbr(`${p}.branch2.0`, x, 64, 1);
  branch2 = b.cbr(`${p}.branch2.1`, branch2, 96, 3, 1, 1);
  branch2 = b.cbr(`${p}.branch2.2`, branch2, 96, 3, 1, 1);
  const pooled = b.avgpool(`${p}.branch3.0`, x, 3, 1, 1, false);
  const branch3 = b.cbr(`${p}.branch3.1`, pooled, 96, 1);
  return b.concat(p, [branch0, branch1, branch2, branch3]);
}

/** branch1: 1x7 then 7x1; branch2: 7x1, 1x7, 7x1, 1x7 (the code's order, which the weights follow). */
function inceptionB(b: GraphBuilder, p: string, x: number): number {
  const branch0 = b.cbr(`${p}.branch0`, x, 384, 1);
  let branch1 = b.cbr(`${p}.branch1.0`, x, 192, 1);
  branch1 = b.cbr(`${p}.branch1.1`, branch1, 224, [1, 7], 1, [0, 3]);
  branch1 = b.cbr(`${p}.branch1.2`, branch1, 256, [7, 1], 1, [3, 0]);
  let branch2 = b.cbr(`${p}.branch2.0`, x, 192, 1);
  branch2 = b.cbr(`${p}.branch2.1`, branch2, 192, [7, 1], 1, [3, 0]);
  branch2 = b.cbr(`${p}.branch2.2`, branch2, 224, [1, 7], 1, [0, 3]);
  branch2 = b.cbr(`${p}.branch2.3`, branch2, 224, [7, 1], 1, [3, 0]);
  branch2 = b.cbr(`${p}.branch2.4`, branch2, 256, [1, 7], 1, [0, 3]);
  const pooled = b.avgpool(`${p}.branch3.0`, x, 3, 1, 1, false);
  const branch3 = b.cbr(`${p}.branch3.1`, pooled, 128, 1);
  return b.concat(p, [branch0, branch1, branch2, branch3]);
}

function reductionB(b: GraphBuilder, p: string, x: number): number {
  let branch0 = b.cbr(`${p}.branch0.0`, x, 192, 1);
  branch0 = b.cbr(`${p}.branch0.1`, branch0, 192, 3, 2);
  let branch1 = b.cbr(`${p}.branch1.0`, x, 256, 1);
  branch1 = b.cbr(`${p}.branch1.1`, branch1, 256, [1, 7], 1, [0, 3]);
  branch1 = b.cbr(`${p}.branch1.2`, branch1, 320, [7, 1], 1, [3, 0]);
  branch1 = b.cbr(`${p}.branch1.3`, branch1, 320, 3, 2);
  const branch2 = b.maxpool(`${p}.branch2`, x, 3, 2);
  return b.concat(p, [branch0, branch1, branch2]);
}

/** Six concatenated pieces: br0, 1a (1x3), 1b (3x1), 2a (1x3), 2b (3x1), br3. */
function inceptionC(b: GraphBuilder, p: string, x: number): number {
  const branch0 = b.cbr(`${p}.branch0`, x, 256, 1);
  const branch1 = b.cbr(`${p}.branch1_0`, x, 384, 1);
  const branch1a = b.cbr(`${p}.branch1_1a`, branch1, 256, [1, 3], 1, [0, 1]);
  const branch1b = b.cbr(`${p}.branch1_1b`, branch1, 256, [3, 1], 1, [1, 0]);
  let branch2 = b.cbr(`${p}.branch2_0`, x, 384, 1);
  branch2 = b.cbr(`${p}.branch2_1`, branch2, 448, [3, 1], 1, [1, 0]);
  branch2 = b.cbr(`${p}.branch2_2`, branch2, 512, [1, 3], 1, [0, 1]);
  const branch2a = b.cbr(`${p}.branch2_3a`, branch2, 256, [1, 3], 1, [0, 1]);
  const branch2b = b.cbr(`${p}.branch2_3b`, branch2, 256, [3, 1], 1, [1, 0]);
  const pooled = b.avgpool(`${p}.branch3.0`, x, 3, 1, 1, false);
  const branch3 = b.cbr(`${p}.branch3.1`, pooled, 256, 1);
  return b.concat(p, [branch0, branch1a, branch1b, branch2a, branch2b, branch3]);
}

/** Appends the whole network to `b` (input b.input, [N,3,H,W]) and returns the logits tensor. */
export function appendInceptionV4(b: GraphBuilder): number {
  let y = stem(b, b.input);
  let index = 6;
  for (let i = 0; i < 4; i++) y = inceptionA(b, `features.${index++}`, y);
  y = reductionA(b, `features.${index++}`, y, { k: 192, l: 224, m: 256, n: 384 });
  for (let i = 0; i < 7; i++) y = inceptionB(b, `features.${index++}`, y);
  y = reductionB(b, `features.${index++}`, y);
  for (let i = 0; i < 3; i++) y = inceptionC(b, `features.${index++}`, y);
  const pooled = b.globalAvgPool('global_pool', y);
  return b.linear('last_linear', pooled, { weight: 'last_linear.weight', bias: 'last_linear.bias', outFeatures: 1000 });
}

function build(options: BuildOptions) {
  const b = startGraph('inception_v4', INCEPTION_MIN_SIZE, options);
  return b.build(appendInceptionV4(b));
}

export const inceptionV4: ModelDefinition = {
  name: 'inception_v4',
  output: 'logits',
  outputSize: 1000,
  minSize: INCEPTION_MIN_SIZE,
  preprocessing: INCEPTION_V4_PREPROCESSING,
  labels: 'imagenet-1k',
  checkpoint: checkpointEntries(build({ batch: 1, height: 299, width: 299 })),
  optionalEntries: [],
  build,
};
