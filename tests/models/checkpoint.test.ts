import { describe, expect, it } from 'vitest';
import { getModel, MODEL_NAMES } from '../../src/models/registry';
import type { CheckpointEntry, ModelName } from '../../src/models/types';
import { readManifest, SHARED_SKIP_REASON } from './shared-fixtures';

// Exact comparisons throughout: entry lists, shapes and counts are integers with no tolerance.

const DTYPE = { float32: 'F32', int64: 'I64' } as const;

const EXPECTED: Record<ModelName, { entries: number; floatValues: number; trainable: number }> = {
  // architectures.md §1.3 / §2.3 / §3.3 and the manifests' num_params.
  inception_v4: { entries: 896, floatValues: 42_742_984, trainable: 42_679_816 },
  inception_resnet_v2: { entries: 1306, floatValues: 55_904_008, trainable: 55_843_464 },
  inception_resnet_v1: { entries: 714, floatValues: 23_512_224, trainable: 23_482_624 },
};

const numel = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);
const isTrainable = (e: CheckpointEntry): boolean => !e.kind.startsWith('bn_running') && e.kind !== 'bn_num_batches_tracked';

describe.skipIf(Boolean(SHARED_SKIP_REASON)).each(MODEL_NAMES)(`%s checkpoint${SHARED_SKIP_REASON ? ' (skipped: ' + SHARED_SKIP_REASON + ')' : ''}`, (name) => {
  const model = getModel(name);
  const manifest = SHARED_SKIP_REASON ? ({ tensors: [], num_tensors: 0, num_params: 0, model: name } as ReturnType<typeof readManifest>) : readManifest(name);

  it('equals the reference state_dict manifest entry by entry (name, shape, kind, dtype, order)', () => {
    expect(manifest.tensors).toHaveLength(manifest.num_tensors);
    const expected = manifest.tensors.map((t) => ({ name: t.name, shape: t.shape, kind: t.kind, dtype: DTYPE[t.dtype] }));
    // Compare the name lists first so a mismatch reports the first differing key compactly.
    expect(model.checkpoint.map((e) => e.name)).toEqual(expected.map((e) => e.name));
    expect(model.checkpoint).toEqual(expected);
  });

  it('has the documented entry, value and trainable-parameter counts', () => {
    const want = EXPECTED[name];
    expect(model.checkpoint).toHaveLength(want.entries);
    const floats = model.checkpoint.filter((e) => e.dtype === 'F32');
    expect(floats.reduce((s, e) => s + numel(e.shape), 0)).toBe(want.floatValues);
    expect(floats.filter(isTrainable).reduce((s, e) => s + numel(e.shape), 0)).toBe(want.trainable);
  });

  it('builds graphs whose params are exactly the float checkpoint entries, same shapes and order', () => {
    const size = model.preprocessing.inputSize;
    const graph = model.build({ batch: 2, height: size, width: size });
    const floats = model.checkpoint.filter((e) => e.dtype === 'F32').map((e) => ({ name: e.name, shape: e.shape }));
    expect(graph.params).toEqual(floats);
  });

  it('gives every num_batches_tracked entry an int64 scalar right after its running_var', () => {
    model.checkpoint.forEach((e, i) => {
      if (e.kind !== 'bn_num_batches_tracked') return;
      expect(e).toMatchObject({ shape: [], dtype: 'I64' });
      const prefix = e.name.slice(0, -'num_batches_tracked'.length);
      expect(model.checkpoint[i - 1]!.name).toBe(`${prefix}running_var`);
    });
  });
});

describe('inception_resnet_v1 optional logits', () => {
  const model = getModel('inception_resnet_v1');

  it('declares logits.weight [-1,512] and logits.bias [-1] as optional entries', () => {
    expect(model.optionalEntries).toEqual([
      { name: 'logits.weight', shape: [-1, 512], kind: 'final_linear_weight', dtype: 'F32' },
      { name: 'logits.bias', shape: [-1], kind: 'linear_bias', dtype: 'F32' },
    ]);
  });

  it('appends logits params last, as in the 716-entry vggface2 state_dict', () => {
    const graph = model.build({ batch: 1, height: 160, width: 160, logitsClasses: 8631 });
    expect(graph.params).toHaveLength(model.checkpoint.filter((e) => e.dtype === 'F32').length + 2);
    expect(graph.params.slice(-2)).toEqual([
      { name: 'logits.weight', shape: [8631, 512] },
      { name: 'logits.bias', shape: [8631] },
    ]);
  });

  it('the timm models accept no optional entries', () => {
    expect(getModel('inception_v4').optionalEntries).toEqual([]);
    expect(getModel('inception_resnet_v2').optionalEntries).toEqual([]);
  });
});
