/**
 * getModelInfo(name): what a caller needs to use a model without a session: the preprocessing
 * imagesToTensor takes, the input size, the output kind, the class labels and the known
 * checkpoints.
 */
import { KNOWN_CHECKPOINTS, pretrainedTag, type KnownCheckpoint } from '../weights/known-checkpoints';
import { imagenetLabels } from './labels';
import { getModel } from './registry';
import type { ModelName, Preprocessing } from './types';

export interface ModelInfo {
  readonly name: ModelName;
  /** Resize, crop and normalisation of the released checkpoints: pass it to imagesToTensor. */
  readonly preprocessing: Preprocessing;
  /** The default input [height, width] (a session's inputSize when none is given). */
  readonly inputSize: readonly [number, number];
  /** The smallest height and width a session accepts. */
  readonly minInputSize: number;
  /** 'logits' (K ImageNet classes) or 'embedding' (an L2-normalised vector of K values). */
  readonly output: 'logits' | 'embedding';
  /** K: 1000 classes or 512 embedding values. */
  readonly outputSize: number;
  /** The class names, index by index (ImageNet-1k), or null for an embedding model. */
  readonly labels: readonly string[] | null;
  /** The known checkpoints of this model (the table of KNOWN_CHECKPOINTS). */
  readonly checkpoints: readonly KnownCheckpoint[];
  /** The tag that weights: 'pretrained' means. */
  readonly pretrained: string;
}

/** Everything about a model that needs no backend; throws UnknownModelError for an unknown name. */
export function getModelInfo(name: ModelName): ModelInfo {
  const model = getModel(name);
  const side = model.preprocessing.inputSize;
  return Object.freeze({
    name: model.name,
    preprocessing: model.preprocessing,
    inputSize: Object.freeze([side, side] as const),
    minInputSize: model.minSize,
    output: model.output,
    outputSize: model.outputSize,
    labels: model.labels === 'imagenet-1k' ? imagenetLabels() : null,
    checkpoints: Object.freeze(KNOWN_CHECKPOINTS.filter((c) => c.model === model.name)),
    pretrained: pretrainedTag(model.name),
  });
}
