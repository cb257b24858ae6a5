import { afterAll, describe, expect, it } from 'vitest';
import { SafetensorsError, WeightsError } from '../../src/errors';
import type { CheckpointEntry } from '../../src/models/types';
import { getModel, MODEL_NAMES } from '../../src/models/registry';
import { loadCheckpoint } from '../../src/weights/load';
import { writeSyntheticCheckpoint } from '../../src/weights/synthetic';
import { fixturesDir, fixturesSkipReason, manifestEntries } from '../helpers/fixtures';
import { f32Bytes, fakeModel, safetensorsBytes, tempDir, type TensorSpecForFile } from './builders';

const tmp = tempDir();
afterAll(() => tmp.cleanup());

const f32 = (name: string, shape: number[], kind: CheckpointEntry['kind'] = 'bn_bias'): CheckpointEntry => ({ name, shape, kind, dtype: 'F32' });
const i64 = (name: string): CheckpointEntry => ({ name, shape: [], kind: 'bn_num_batches_tracked', dtype: 'I64' });

/** A tensor of `shape` holding 0, 1, 2, ... */
function tensor(shape: number[], dtype = 'F32'): TensorSpecForFile {
  const n = shape.reduce((a, b) => a * b, 1);
  if (dtype === 'I64') return { dtype, shape, bytes: new Uint8Array(8 * n) };
  if (dtype === 'F16') return { dtype, shape, bytes: new Uint8Array(new Uint16Array(n).fill(0x3c00).buffer) };
  return { dtype, shape, bytes: f32Bytes(Array.from({ length: n }, (_, i) => i)) };
}

let counter = 0;
function writeFile(tensors: Record<string, TensorSpecForFile>): string {
  return tmp.file(`ckpt-${counter++}.safetensors`, safetensorsBytes(tensors));
}

async function loadError(file: string, model = SMALL): Promise<WeightsError> {
  const error = await loadCheckpoint(file, model).then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(WeightsError);
  expect((error as WeightsError).code).toBe('E_WEIGHTS');
  return error as WeightsError;
}

const SMALL = fakeModel('inception_v4', [
  f32('conv.weight', [4, 3, 3, 3], 'conv_weight'),
  f32('bn.weight', [4], 'bn_weight'),
  f32('bn.bias', [4]),
  i64('bn.num_batches_tracked'),
]);

const GOOD: Record<string, TensorSpecForFile> = {
  'conv.weight': tensor([4, 3, 3, 3]),
  'bn.weight': tensor([4]),
  'bn.bias': tensor([4]),
  'bn.num_batches_tracked': tensor([], 'I64'),
};

describe('loadCheckpoint accepts', () => {
  it('a matching file: F32 entries in checkpoint order, num_batches_tracked checked but not loaded', async () => {
    const file = writeFile({ 'bn.bias': GOOD['bn.bias'], ...GOOD }); // file order differs from checkpoint order
    const loaded = await loadCheckpoint(file, SMALL);
    expect([...loaded.weights.keys()]).toEqual(['conv.weight', 'bn.weight', 'bn.bias']);
    expect([...(loaded.weights.get('bn.bias') as Float32Array)]).toEqual([0, 1, 2, 3]);
    expect(loaded.logitsClasses).toBeNull();
    expect(loaded.fileBytes).toBeGreaterThan(0);
  });

  it('a file without num_batches_tracked (never read, so not required)', async () => {
    const { ['bn.num_batches_tracked']: _dropped, ...rest } = GOOD;
    const loaded = await loadCheckpoint(writeFile(rest), SMALL);
    expect(loaded.weights.size).toBe(3);
  });

  it('F16 tensors for F32 entries, converted exactly', async () => {
    const loaded = await loadCheckpoint(writeFile({ ...GOOD, 'bn.weight': tensor([4], 'F16') }), SMALL);
    expect([...(loaded.weights.get('bn.weight') as Float32Array)]).toEqual([1, 1, 1, 1]);
  });

  it('the optional facenet logits: -1 matches any class count, which becomes logitsClasses', async () => {
    const model = fakeModel('inception_resnet_v1', SMALL.checkpoint, [f32('logits.weight', [-1, 4], 'final_linear_weight'), f32('logits.bias', [-1], 'linear_bias')]);
    const withLogits = await loadCheckpoint(writeFile({ ...GOOD, 'logits.weight': tensor([7, 4]), 'logits.bias': tensor([7]) }), model);
    expect(withLogits.logitsClasses).toBe(7);
    expect(withLogits.weights.get('logits.weight')?.length).toBe(28);
    const without = await loadCheckpoint(writeFile(GOOD), model);
    expect(without.logitsClasses).toBeNull();
    expect(without.weights.has('logits.weight')).toBe(false);
  });

  it('a file written by writeSyntheticCheckpoint round-trips with the generated values', async () => {
    const file = `${tmp.dir}/synthetic.safetensors`;
    await writeSyntheticCheckpoint(SMALL.checkpoint, 'plain', file);
    const loaded = await loadCheckpoint(file, SMALL);
    expect(loaded.weights.size).toBe(3);
    // bn_weight of the recipe lies in [0.8, 1.2).
    for (const v of loaded.weights.get('bn.weight') as Float32Array) expect(v >= 0.8 && v < 1.2).toBe(true);
  });
});

describe('loadCheckpoint rejects (one WeightsError listing everything)', () => {
  it('missing, unexpected and mismatched tensors together', async () => {
    const error = await loadError(
      writeFile({
        'conv.weight': tensor([4, 3, 1, 1]),
        'bn.weight': tensor([4]),
        'bn.num_batches_tracked': tensor([], 'I64'),
        'extra.a': tensor([1]),
        'extra.b': tensor([1]),
      }),
    );
    const m = error.message;
    expect(m).toContain('does not fit inception_v4');
    expect(m).toContain('1 missing, 2 unexpected, 1 mismatched');
    expect(m).toMatch(/missing \(1\):\n {2}bn\.bias/);
    expect(m).toMatch(/unexpected \(2\):\n {2}extra\.a\n {2}extra\.b/);
    expect(m).toContain('conv.weight: expected F32/F16/BF16 [4,3,3,3], found F32 [4,3,1,1]');
  });

  // One entry of every kind, as a real state_dict names them; the file lacks exactly one. A loader
  // that tolerated a missing entry of some kind would accept the file, and the session would fail
  // later with a one-name error instead of this full list.
  const EVERY_KIND: readonly CheckpointEntry[] = [
    f32('features.0.conv.weight', [4, 3, 3, 3], 'conv_weight'),
    f32('repeat.0.conv2d.weight', [4, 4, 1, 1], 'residual_conv_weight'),
    f32('repeat.0.conv2d.bias', [4], 'conv_bias'),
    f32('last_linear.weight', [2, 4], 'final_linear_weight'),
    f32('last_linear.bias', [2], 'linear_bias'),
    f32('features.0.bn.weight', [4], 'bn_weight'),
    f32('features.0.bn.bias', [4], 'bn_bias'),
    f32('features.0.bn.running_mean', [4], 'bn_running_mean'),
    f32('features.0.bn.running_var', [4], 'bn_running_var'),
    i64('features.0.bn.num_batches_tracked'),
  ];
  const EVERY_KIND_FILE: Record<string, TensorSpecForFile> = Object.fromEntries(
    EVERY_KIND.map((e) => [e.name, tensor([...e.shape], e.dtype === 'I64' ? 'I64' : 'F32')]),
  );
  it('the complete one-entry-per-kind file loads (the control for the cases below)', async () => {
    const loaded = await loadCheckpoint(writeFile(EVERY_KIND_FILE), fakeModel('inception_v4', EVERY_KIND));
    expect(loaded.weights.size).toBe(EVERY_KIND.length - 1);
    // ...and covers every kind our models' checkpoints use.
    const kinds = new Set(EVERY_KIND.map((e) => e.kind));
    for (const name of MODEL_NAMES) for (const entry of getModel(name).checkpoint) expect(kinds).toContain(entry.kind);
  });
  it.each(EVERY_KIND.filter((e) => e.kind !== 'bn_num_batches_tracked').map((e) => [e.kind, e.name]))(
    'a file missing only its %s (%s)',
    async (_kind, name) => {
      const { [name]: _dropped, ...rest } = EVERY_KIND_FILE;
      const error = await loadError(writeFile(rest), fakeModel('inception_v4', EVERY_KIND));
      expect(error.message).toContain(`does not fit inception_v4 (${EVERY_KIND.length} entries expected, ${EVERY_KIND.length - 1} in the file): 1 missing.`);
      expect(error.message).toMatch(new RegExp(`\\nmissing \\(1\\):\\n {2}${name.replace(/\./g, '\\.')}$`));
    },
  );

  it('a wrong dtype (I64 where F32 is expected, F32 where I64 is expected)', async () => {
    const error = await loadError(writeFile({ ...GOOD, 'bn.bias': tensor([4], 'I64'), 'bn.num_batches_tracked': tensor([]) }));
    expect(error.message).toContain('bn.bias: expected F32/F16/BF16 [4], found I64 [4]');
    expect(error.message).toContain('bn.num_batches_tracked: expected I64 [], found F32 []');
  });

  it('long lists are truncated to 20 names with a count', async () => {
    const extra: Record<string, TensorSpecForFile> = {};
    for (let i = 0; i < 25; i++) extra[`junk.${i}`] = tensor([1]);
    const error = await loadError(writeFile({ ...GOOD, ...extra }));
    expect(error.message).toContain('unexpected (25):');
    expect(error.message).toContain('junk.19');
    expect(error.message).not.toContain('junk.20\n');
    expect(error.message).toContain('... and 5 more');
  });

  it('a file of another of our models: says which model it looks like', async () => {
    const v4Like = writeFile({
      'features.0.conv.weight': tensor([1]),
      'features.21.branch0.conv.weight': tensor([1]),
      'last_linear.weight': tensor([1]),
    });
    const irv2 = fakeModel('inception_resnet_v2', SMALL.checkpoint);
    const error = await loadError(v4Like, irv2);
    expect(error.message).toContain("It looks like an inception_v4 checkpoint, not inception_resnet_v2 (it has features.0.conv.weight): load it with model 'inception_v4'");
  });

  it('names with a shared module. prefix: a hint, no renaming', async () => {
    const prefixed: Record<string, TensorSpecForFile> = {};
    for (const [name, t] of Object.entries(GOOD)) prefixed[`module.${name}`] = t;
    const error = await loadError(writeFile(prefixed));
    expect(error.message).toContain("Every tensor name starts with 'module.'");
    expect(error.message).toContain('without it 4 names would match');
    expect(error.message).toContain('missing (3)');
  });

  it('optional entries come together: logits.weight without logits.bias', async () => {
    const model = fakeModel('inception_resnet_v1', SMALL.checkpoint, [f32('logits.weight', [-1, 4]), f32('logits.bias', [-1])]);
    const error = await loadError(writeFile({ ...GOOD, 'logits.weight': tensor([7, 4]) }), model);
    expect(error.message).toContain('logits.bias (the file has logits.weight, which come together)');
  });

  it('optional entries whose -1 sizes disagree', async () => {
    const model = fakeModel('inception_resnet_v1', SMALL.checkpoint, [f32('logits.weight', [-1, 4]), f32('logits.bias', [-1])]);
    const error = await loadError(writeFile({ ...GOOD, 'logits.weight': tensor([7, 4]), 'logits.bias': tensor([6]) }), model);
    expect(error.message).toContain('logits.bias: expected F32/F16/BF16 [7], found F32 [6]');
  });

  it('non-finite weights', async () => {
    const bad = { dtype: 'F32', shape: [4], bytes: f32Bytes([1, NaN, Infinity, 2]) };
    const error = await loadError(writeFile({ ...GOOD, 'bn.weight': bad }));
    expect(error.message).toContain('non-finite (NaN or Inf) (1):\n  bn.weight (2 of 4 values)');
  });

  it('a truncated PyTorch zip checkpoint (.pt) goes to the .pt reader, which says what is wrong', async () => {
    const file = tmp.file('model.pt', new Uint8Array([0x50, 0x4b, 0x03, 0x04, 0, 0, 0, 0, 0, 0, 0, 0]));
    const error = await loadError(file);
    expect(error.message).toContain(`${file} is not a readable PyTorch zip checkpoint: no end-of-central-directory record`);
  });

  it('a truncated legacy pickle checkpoint (.pth)', async () => {
    const file = tmp.file('model.pth', new Uint8Array([0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20]));
    const error = await loadError(file);
    expect(error.message).toContain('the file is truncated: LONG1 needs 10 bytes but 6 are left');
  });

  it('a missing file', async () => {
    const error = await loadError(`${tmp.dir}/nope.safetensors`);
    expect(error.message).toMatch(/cannot read checkpoint .*nope\.safetensors/);
  });

  it('a corrupt safetensors file surfaces the SafetensorsError', async () => {
    const file = tmp.file('short.safetensors', new Uint8Array([1, 2, 3]));
    await expect(loadCheckpoint(file, SMALL)).rejects.toBeInstanceOf(SafetensorsError);
  });
});

describe.skipIf(fixturesDir() === null)(`loadCheckpoint on real manifests${fixturesSkipReason()}`, () => {
  it('an inception_resnet_v1 file loaded as inception_resnet_v2 is recognised (456 shared names, other shapes)', async () => {
    const file = `${tmp.dir}/irv1.safetensors`;
    await writeSyntheticCheckpoint(manifestEntries('inception_resnet_v1'), 'plain', file);
    const error = await loadError(file, fakeModel('inception_resnet_v2', manifestEntries('inception_resnet_v2')));
    expect(error.message).toContain("It looks like an inception_resnet_v1 checkpoint, not inception_resnet_v2 (it has conv2d_1a.conv.weight): load it with model 'inception_resnet_v1'");
    expect(error.message).toMatch(/missing \(\d+\):/);
    expect(error.message).toMatch(/mismatched \(\d+\):/);
    expect(error.message.split('\n').length).toBeLessThan(80); // lists are truncated
  });
});
