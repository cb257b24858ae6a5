/**
 * A whole Inception-ResNet-v1 checkpoint as a .pt file (facenet-pytorch's format: the 714
 * state_dict entries plus its logits.* classifier) against the same tensors as .safetensors.
 * The tensors are the fixture recipe's ('plain', src/weights/synthetic.ts); the .pt is written
 * at run time by tests/helpers/torch-writer.ts, which reproduces torch.save byte for byte
 * (torch-writer.test.ts), because a real one (~95 MB) is too big to commit.
 * Tolerance zero everywhere: the same float32 values must load, and the same plan on the same
 * values must give the same bits, with head 'embedding' and with facenet's head 'logits'.
 */
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getModel } from '../../src/models/registry';
import type { CheckpointEntry } from '../../src/models/types';
import { cpuBackendInfo } from '../../src/native/cpu-backend';
import { createSession } from '../../src/runtime/session';
import { loadCheckpoint } from '../../src/weights/load';
import { generateInput, generateTensor, writeSyntheticCheckpoint } from '../../src/weights/synthetic';
import { writeTorchZip, type PtTensor } from '../helpers/torch-writer';
import { tempDir } from './builders';

const tmp = tempDir();
afterAll(() => tmp.cleanup());

const CLASSES = 10;
const model = getModel('inception_resnet_v1');
const entries: CheckpointEntry[] = [
  ...model.checkpoint,
  { name: 'logits.weight', shape: [CLASSES, 512], kind: 'final_linear_weight', dtype: 'F32' },
  { name: 'logits.bias', shape: [CLASSES], kind: 'linear_bias', dtype: 'F32' },
];
const ptFile = path.join(tmp.dir, '20180402-114759-vggface2.pt');
const safetensorsFile = path.join(tmp.dir, 'vggface2.safetensors');

async function writeBoth(): Promise<void> {
  const tensors: Array<[string, PtTensor]> = [];
  for (const e of entries) {
    const values = generateTensor(e.name, e.shape, e.kind, 'plain');
    tensors.push([e.name, { dtype: e.dtype, shape: e.shape, data: new Uint8Array(values.buffer, values.byteOffset, values.byteLength) }]);
    await new Promise((resolve) => setImmediate(resolve)); // keep the worker responsive
  }
  await writeTorchZip(ptFile, '20180402-114759-vggface2', tensors);
  await writeSyntheticCheckpoint(entries, 'plain', safetensorsFile);
}

const cpu = cpuBackendInfo();

describe('inception_resnet_v1 from a .pt file', () => {
  beforeAll(writeBoth, 180_000);

  it('loads exactly the tensors of the .safetensors file (every name, every bit)', async () => {
    const fromPt = await loadCheckpoint(ptFile, model);
    const fromSafetensors = await loadCheckpoint(safetensorsFile, model);
    expect(fromPt.logitsClasses).toBe(CLASSES);
    expect([...fromPt.weights.keys()]).toEqual([...fromSafetensors.weights.keys()]);
    for (const [name, values] of fromSafetensors.weights) {
      const other = fromPt.weights.get(name)!;
      expect(Buffer.from(other.buffer, other.byteOffset, other.byteLength).equals(Buffer.from(values.buffer, values.byteOffset, values.byteLength)), name).toBe(true);
    }
  }, 180_000);

  it.skipIf(!cpu.available)(`gives bitwise the outputs of the .safetensors file, head 'embedding' and head 'logits'${cpu.available ? '' : ` [SKIPPED: ${cpu.reason}]`}`, async () => {
    const size = 80;
    const input = generateInput(2, size, size);
    for (const head of ['embedding', 'logits'] as const) {
      const outputs: Float32Array[] = [];
      for (const weights of [ptFile, safetensorsFile]) {
        const session = await createSession({ model: 'inception_resnet_v1', weights, head, maxBatch: 2, inputSize: size, threads: 2 });
        try {
          expect(session.info.outputShape).toEqual([2, head === 'logits' ? CLASSES : 512]);
          outputs.push(await session.run(input, [2, 3, size, size]));
        } finally {
          await session.dispose();
        }
      }
      const [pt, st] = outputs as [Float32Array, Float32Array];
      expect(Buffer.from(pt.buffer).equals(Buffer.from(st.buffer)), `head ${head}`).toBe(true);
    }
  }, 180_000);
});
