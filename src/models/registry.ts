/** The model registry: the three networks by their public names. */
import { UnknownModelError, describe } from '../errors';
import { inceptionResnetV1 } from './inception-resnet-v1';
import { inceptionResnetV2 } from './inception-resnet-v2';
import { inceptionV4 } from './inception-v4';
import type { ModelDefinition, ModelName } from './types';

const MODELS: Readonly<Record<ModelName, ModelDefinition>> = {
  inception_v4: inceptionV4,
  inception_resnet_v2: inceptionResnetV2,
  inception_resnet_v1: inceptionResnetV1,
};

export const MODEL_NAMES: readonly ModelName[] = Object.freeze(Object.keys(MODELS) as ModelName[]);

export function isModelName(name: unknown): name is ModelName {
  return typeof name === 'string' && Object.prototype.hasOwnProperty.call(MODELS, name);
}

export function getModel(name: string): ModelDefinition {
  if (!isModelName(name)) {
    const shown = typeof name === 'string' ? `'${name}'` : describe(name);
    throw new UnknownModelError(`Unknown model ${shown}; use one of: ${MODEL_NAMES.join(', ')}`);
  }
  return MODELS[name];
}
