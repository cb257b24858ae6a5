/**
 * A whole Inception-ResNet-v1 checkpoint as a .pt file (facenet-pytorch's format: the 714
 * state_dict entries plus its logits.* classifier) against the same tensors as .safetensors.
 * The tensors are the fixture recipe's ('plain', src/weights/synthetic.ts); the .pt is written
 * at run time by tests/helpers/torch-writer.ts, which reproduces torch.save byte for byte
 * (torch-writer.test.ts), because a real one (~95 MB) is too big to commit.
 * Tolerance zero everywhere: the same float32 values must load, and the same plan on the same
 * values must give the same bits, with head 'embedding' and with facenet's head 'logits'.
 * Last, the .pt as the tag inception_resnet_v1.vggface2, served in GitHub's release layout by a
 * loopback mirror, through createSession's download (progress, sha256 recorded on first use).
 */
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getModel } from '../../src/models/registry';
import type { CheckpointEntry } from '../../src/models/types';
import { cpuBackendInfo } from '../../src/native/cpu-backend';
import { createSession } from '../../src/runtime/session';
import { loadCheckpoint } from '../../src/weights/load';
import { generateInput, generateTensor, writeSyntheticCheckpoint } from '../../src/weights/synthetic';
import { writeTorchZip, type PtTensor } from '../helpers/torch-writer';
import { startWeightsServer } from '../helpers/weights-server';
import type { DownloadProgress } from '../../src/weights/progress';
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

  it.skipIf(!cpu.available)('the tag inception_resnet_v1.vggface2 from a GitHub-layout mirror: downloaded, recorded, and bitwise the same logits', async () => {
    const server = await startWeightsServer();
    const saved = { ...process.env };
    try {
      const sha = server.serve('/timesler/facenet-pytorch/releases/download/v2.2.9/20180402-114759-vggface2.pt', readFileSync(ptFile), 'github');
      // createSession reads process.env; vitest runs this file in its own process.
      Object.assign(process.env, { INCEPTION_CACHE_DIR: path.join(tmp.dir, 'cache'), INCEPTION_WEIGHTS_MIRROR: server.url });
      for (const k of ['INCEPTION_OFFLINE', 'HF_HUB_OFFLINE', 'INCEPTION_WEIGHTS_TABLE']) delete process.env[k];
      const events: DownloadProgress[] = [];
      const size = 80;
      const input = generateInput(2, size, size);
      const outputs: Float32Array[] = [];
      for (const weights of ['inception_resnet_v1.vggface2', safetensorsFile]) {
        const session = await createSession({ model: 'inception_resnet_v1', weights, head: 'logits', maxBatch: 2, inputSize: size, threads: 2, onProgress: (p) => events.push(p) });
        try {
          if (weights !== safetensorsFile) {
            expect(session.weightsSource).toMatchObject({ kind: 'checkpoint', download: { tag: 'inception_resnet_v1.vggface2', sha256: sha, verifiedBy: ['first-download'], fromCache: false } });
          }
          outputs.push(await session.run(input, [2, 3, size, size]));
        } finally {
          await session.dispose();
        }
      }
      expect(Buffer.from(outputs[0]!.buffer).equals(Buffer.from(outputs[1]!.buffer))).toBe(true);
      expect(events.at(-1)).toMatchObject({ phase: 'done', label: 'inception_resnet_v1.vggface2' });
      expect(events.at(-1)!.message).toContain(`no published hash: sha256 ${sha} recorded for later checks`);
    } finally {
      process.env = saved;
      await server.close();
    }
  }, 180_000);
});
