/**
 * loadCheckpoint against the registry's real model definitions: a recipe checkpoint of each
 * network loads with every F32 entry, and facenet's optional `logits.*` entries set logitsClasses.
 * The checkpoint descriptions must equal the fixture manifests (name, shape, kind, dtype, order).
 */
import { rm } from 'node:fs/promises';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { getModel } from '../../src/models/registry';
import type { CheckpointEntry } from '../../src/models/types';
import { loadCheckpoint } from '../../src/weights/load';
import { writeSyntheticCheckpoint } from '../../src/weights/synthetic';
import { fixturesDir, fixturesSkipReason, manifestEntries, MODEL_NAMES } from '../helpers/fixtures';
import { tempDir } from './builders';

const tmp = tempDir();
afterAll(() => tmp.cleanup());

describe('loadCheckpoint with the registry models', () => {
  for (const name of MODEL_NAMES) {
    it(`${name}: a recipe checkpoint of its own description loads completely`, async () => {
      const model = getModel(name);
      const file = path.join(tmp.dir, `${name}.safetensors`);
      await writeSyntheticCheckpoint(model.checkpoint, 'plain', file);
      const loaded = await loadCheckpoint(file, model);
      expect(loaded.weights.size).toBe(model.checkpoint.filter((e) => e.dtype === 'F32').length);
      expect(loaded.logitsClasses).toBeNull();
      await rm(file);
    });
  }

  it('inception_resnet_v1 with facenet logits.* (10 classes): logitsClasses = 10', async () => {
    const model = getModel('inception_resnet_v1');
    const logits: CheckpointEntry[] = model.optionalEntries.map((e) => ({ ...e, shape: e.shape.map((d) => (d === -1 ? 10 : d)) }));
    expect(logits.map((e) => e.name)).toEqual(['logits.weight', 'logits.bias']);
    const file = path.join(tmp.dir, 'irv1-logits.safetensors');
    await writeSyntheticCheckpoint([...model.checkpoint, ...logits], 'plain', file);
    const loaded = await loadCheckpoint(file, model);
    expect(loaded.logitsClasses).toBe(10);
    expect(loaded.weights.get('logits.weight')?.length).toBe(5120);
    expect(loaded.weights.get('logits.bias')?.length).toBe(10);
    await rm(file);
  });
});

describe.skipIf(fixturesDir() === null)(`registry checkpoint descriptions${fixturesSkipReason()}`, () => {
  for (const name of MODEL_NAMES) {
    it(`${name} equals manifest_${name}.json`, () => {
      expect(getModel(name).checkpoint.map((e) => ({ ...e, shape: [...e.shape] }))).toEqual(manifestEntries(name));
    });
  }
});
