import { describe, expect, it } from 'vitest';
import { countMacs } from '../../src/graph/macs';
import { validateGraph } from '../../src/graph/validate';
import { getModel, MODEL_NAMES } from '../../src/models/registry';
import type { ModelName } from '../../src/models/types';
import { moduleOutputShape, repeated } from './graph-helpers';

// Shapes and MACs are integers: compared exactly. Tables are architectures.md §1.1, §2.1, §3.1.

const N = 2;

const V4_AT_299: [string, readonly number[]][] = [
  ['features.0', [32, 149, 149]],
  ['features.1', [32, 147, 147]],
  ['features.2', [64, 147, 147]],
  ['features.3', [160, 73, 73]],
  ['features.4', [192, 71, 71]],
  ['features.5', [384, 35, 35]],
  ...repeated('features.', 6, 4, [384, 35, 35]),
  ['features.10', [1024, 17, 17]],
  ...repeated('features.', 11, 7, [1024, 17, 17]),
  ['features.18', [1536, 8, 8]],
  ...repeated('features.', 19, 3, [1536, 8, 8]),
  ['global_pool', [1536]],
  ['last_linear', [1000]],
];

const IRV2_AT_299: [string, readonly number[]][] = [
  ['conv2d_1a', [32, 149, 149]],
  ['conv2d_2a', [32, 147, 147]],
  ['conv2d_2b', [64, 147, 147]],
  ['maxpool_3a', [64, 73, 73]],
  ['conv2d_3b', [80, 73, 73]],
  ['conv2d_4a', [192, 71, 71]],
  ['maxpool_5a', [192, 35, 35]],
  ['mixed_5b', [320, 35, 35]],
  ...repeated('repeat.', 0, 10, [320, 35, 35]),
  ['mixed_6a', [1088, 17, 17]],
  ...repeated('repeat_1.', 0, 20, [1088, 17, 17]),
  ['mixed_7a', [2080, 8, 8]],
  ...repeated('repeat_2.', 0, 9, [2080, 8, 8]),
  ['block8', [2080, 8, 8]],
  ['conv2d_7b', [1536, 8, 8]],
  ['global_pool', [1536]],
  ['classif', [1000]],
];

function irv1Table(stem: readonly number[], s17: number, s8: number, s3: number): [string, readonly number[]][] {
  const [s1a, s2a, s3a, s4a] = stem as [number, number, number, number];
  return [
    ['conv2d_1a', [32, s1a, s1a]],
    ['conv2d_2a', [32, s2a, s2a]],
    ['conv2d_2b', [64, s2a, s2a]],
    ['maxpool_3a', [64, s3a, s3a]],
    ['conv2d_3b', [80, s3a, s3a]],
    ['conv2d_4a', [192, s4a, s4a]],
    ['conv2d_4b', [256, s17, s17]],
    ...repeated('repeat_1.', 0, 5, [256, s17, s17]),
    ['mixed_6a', [896, s8, s8]],
    ...repeated('repeat_2.', 0, 10, [896, s8, s8]),
    ['mixed_7a', [1792, s3, s3]],
    ...repeated('repeat_3.', 0, 5, [1792, s3, s3]),
    ['block8', [1792, s3, s3]],
    ['avgpool_1a', [1792]],
    ['last_linear', [512]],
    ['last_bn', [512]],
  ];
}

const IRV1_AT_160 = irv1Table([79, 77, 38, 36], 17, 8, 3);
// §3.1: at 299 the same net gives 149, 147, 73, 71 in the stem, then 35, 17, 8.
const IRV1_AT_299 = irv1Table([149, 147, 73, 71], 35, 17, 8);

describe.each([
  ['inception_v4', 299, V4_AT_299],
  ['inception_resnet_v2', 299, IRV2_AT_299],
  ['inception_resnet_v1', 160, IRV1_AT_160],
  ['inception_resnet_v1', 299, IRV1_AT_299],
] as const)('%s block output shapes at %i', (name, size, table) => {
  const graph = getModel(name).build({ batch: N, height: size, width: size });
  it.each(table)('%s', (path, shape) => {
    expect(moduleOutputShape(graph, path)).toEqual([N, ...shape]);
  });
});

describe.each(MODEL_NAMES)('%s graph', (name) => {
  const model = getModel(name);
  const size = model.preprocessing.inputSize;

  it('passes validateGraph and ends in [N, outputSize]', () => {
    const graph = model.build({ batch: N, height: size, width: size });
    validateGraph(graph);
    expect(graph.tensors[graph.output]!.shape).toEqual([N, model.outputSize]);
  });

  it('accepts 75x75, rejects 74 in either dimension with InvalidInputError', () => {
    const graph = model.build({ batch: 1, height: 75, width: 75 });
    validateGraph(graph);
    expect(graph.tensors[graph.output]!.shape).toEqual([1, model.outputSize]);
    for (const [height, width] of [[74, 74], [74, 299], [299, 74]]) {
      expect(() => model.build({ batch: 1, height: height!, width: width! })).toThrowError(
        expect.objectContaining({ code: 'E_INVALID_INPUT', message: expect.stringMatching(/at least 75/) }),
      );
    }
  });

  it('handles non-square inputs per dimension', () => {
    const graph = model.build({ batch: 1, height: 75, width: 311 });
    validateGraph(graph);
    expect(graph.tensors[graph.output]!.shape).toEqual([1, model.outputSize]);
  });

  it('rejects a batch or size that is not a positive integer', () => {
    for (const bad of [0, -1, 1.5, Number.NaN]) {
      expect(() => model.build({ batch: bad, height: size, width: size })).toThrowError(expect.objectContaining({ code: 'E_INVALID_ARGUMENT' }));
      expect(() => model.build({ batch: 1, height: bad, width: size })).toThrowError(/Expected positive integer for height/);
    }
  });
});

describe('final feature map at non-default sizes (fixtures README)', () => {
  it.each([
    ['inception_v4', 'features.21', 311, [1536, 8, 8]],
    ['inception_resnet_v2', 'conv2d_7b', 311, [1536, 8, 8]],
    ['inception_resnet_v1', 'block8', 181, [1792, 4, 4]],
  ] as const)('%s %s at %i', (name, path, size, shape) => {
    const graph = getModel(name).build({ batch: 1, height: size, width: size });
    expect(moduleOutputShape(graph, path)).toEqual([1, ...shape]);
  });
});

describe('MACs (conv + linear) equal architectures.md', () => {
  const cases: [ModelName, number, number][] = [
    ['inception_v4', 299, 12_253_974_624],
    ['inception_resnet_v2', 299, 13_155_794_016],
    ['inception_resnet_v1', 160, 1_417_662_304],
    ['inception_resnet_v1', 299, 6_307_723_360],
  ];
  it.each(cases)('%s at %i: %i per image, times the batch', (name, size, perImage) => {
    expect(countMacs(getModel(name).build({ batch: 1, height: size, width: size }))).toBe(perImage);
    expect(countMacs(getModel(name).build({ batch: 3, height: size, width: size }))).toBe(3 * perImage);
  });

  it('the facenet 8631-way logits add 4,419,072 per image', () => {
    const model = getModel('inception_resnet_v1');
    const graph = model.build({ batch: 1, height: 160, width: 160, logitsClasses: 8631 });
    expect(countMacs(graph)).toBe(1_417_662_304 + 4_419_072);
  });
});
