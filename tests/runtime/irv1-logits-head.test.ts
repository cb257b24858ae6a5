/**
 * inception_resnet_v1 with head 'logits': a facenet checkpoint that keeps its `logits.*`
 * classifier runs Linear(512 -> classes) on the batch-normed embedding instead of the L2 norm.
 * Checked against the float64 reference executor on the same graph and weights (80x80 keeps
 * the reference fast); tolerance rel-L2 1e-5: a float32 engine lands near 1e-7 here, a wrong
 * head (normalised input, missing bias) is off by order 1.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { getModel } from '../../src/models/registry';
import type { CheckpointEntry } from '../../src/models/types';
import { cpuBackendInfo } from '../../src/native/cpu-backend';
import { createSession } from '../../src/runtime/session';
import { loadCheckpoint } from '../../src/weights/load';
import { generateInput, writeSyntheticCheckpoint } from '../../src/weights/synthetic';
import { referenceForward } from '../helpers/reference';

const cpu = cpuBackendInfo();
const skipReason = cpu.available ? '' : `CPU backend unavailable: ${cpu.reason}`;
if (skipReason) console.warn(`[skip] tests/runtime/irv1-logits-head: ${skipReason}`);

const work = mkdtempSync(path.join(tmpdir(), 'inception-logits-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe.skipIf(Boolean(skipReason))(`inception_resnet_v1 head 'logits'${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
  it('runs the checkpoint classifier on the batch-normed embedding', async () => {
    const model = getModel('inception_resnet_v1');
    const classes = 10;
    const entries: CheckpointEntry[] = [
      ...model.checkpoint,
      { name: 'logits.weight', shape: [classes, 512], kind: 'final_linear_weight', dtype: 'F32' },
      { name: 'logits.bias', shape: [classes], kind: 'linear_bias', dtype: 'F32' },
    ];
    const file = path.join(work, 'facenet-with-logits.safetensors');
    await writeSyntheticCheckpoint(entries, 'plain', file);

    const size = 80;
    const session = await createSession({ model: 'inception_resnet_v1', weights: file, head: 'logits', maxBatch: 2, inputSize: size });
    try {
      expect(session.info.outputShape).toEqual([2, classes]);
      const input = generateInput(2, size, size);
      const out = await session.run(input, [2, 3, size, size]);
      expect(out.length).toBe(2 * classes);

      const { weights } = await loadCheckpoint(file, model);
      const graph = model.build({ batch: 2, height: size, width: size, logitsClasses: classes });
      const ref = referenceForward(graph, weights, input);
      let diff = 0;
      let norm = 0;
      for (let i = 0; i < ref.length; i++) {
        diff += (out[i]! - ref[i]!) ** 2;
        norm += ref[i]! ** 2;
      }
      const relL2 = Math.sqrt(diff / norm);
      console.log(`IR-v1 logits head: rel-L2 vs float64 reference ${relL2.toExponential(2)}`);
      expect(relL2).toBeLessThan(1e-5);
      // Not an embedding: the rows are not unit vectors.
      const rowNorm = Math.hypot(...Array.from(out.subarray(0, classes)));
      expect(Math.abs(rowNorm - 1)).toBeGreaterThan(1e-3);
    } finally {
      await session.dispose();
    }
  }, 120_000);
});
