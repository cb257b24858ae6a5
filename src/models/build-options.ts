/**
 * Checks a model's BuildOptions and starts its GraphBuilder on the [N,3,H,W] input.
 */
import { GraphBuilder } from '../graph/builder';
import { InvalidArgumentError, InvalidInputError, invalidParam } from '../errors';
import type { BuildOptions, ModelName } from './types';

/**
 * Smallest input height/width of all three networks: from 74 the map entering Reduction-B is
 * 2x2 and its 3x3 stride-2 convs give 0x0 (architectures.md §8, checked with the reference modules).
 */
export const INCEPTION_MIN_SIZE = 75;

function isPositiveInteger(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 1;
}

/**
 * Validates batch, height and width (positive integers, H and W at least `minSize`) and, unless
 * `acceptsLogitsClasses`, the absence of `logitsClasses`; returns a builder for [batch,3,H,W].
 */
export function startGraph(model: ModelName, minSize: number, options: BuildOptions, acceptsLogitsClasses = false): GraphBuilder {
  const { batch, height, width, logitsClasses } = options;
  if (!isPositiveInteger(batch)) throw invalidParam('batch', 'positive integer', batch);
  if (!isPositiveInteger(height)) throw invalidParam('height', 'positive integer', height);
  if (!isPositiveInteger(width)) throw invalidParam('width', 'positive integer', width);
  if (height < minSize || width < minSize) {
    throw new InvalidInputError(
      `Input ${height}x${width} is too small for ${model}: height and width must both be at least ${minSize} ` +
        `(smaller maps shrink to nothing inside the network); resize the image to at least ${minSize}x${minSize}`,
    );
  }
  if (logitsClasses !== undefined) {
    if (!acceptsLogitsClasses) {
      throw new InvalidArgumentError(`logitsClasses applies to inception_resnet_v1 only; remove it for ${model}`);
    }
    if (!isPositiveInteger(logitsClasses)) throw invalidParam('logitsClasses', 'positive integer', logitsClasses);
  }
  return new GraphBuilder([batch, 3, height, width]);
}
