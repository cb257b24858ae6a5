/**
 * The loader reads tensor by tensor: loading a 224 MB checkpoint holds the loaded weights (one
 * copy, which the session keeps) plus at most one tensor in flight — never the whole file twice.
 * Measured as the peak growth of ArrayBuffer memory sampled during the load; the bound allows
 * the weights plus 16 MiB (the largest IRv2 tensor is 6.6 MB) and would fail for a reader that
 * slurps the file (~2x).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { getModel } from '../../src/models/registry';
import { loadCheckpoint } from '../../src/weights/load';
import { writeSyntheticCheckpoint } from '../../src/weights/synthetic';

const work = mkdtempSync(path.join(tmpdir(), 'inception-mem-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('loadCheckpoint memory', () => {
  it('loads the 224 MB inception_resnet_v2 checkpoint holding at most one extra tensor', async () => {
    const model = getModel('inception_resnet_v2');
    const file = path.join(work, 'irv2.safetensors');
    await writeSyntheticCheckpoint(model.checkpoint, 'plain', file);
    const fileBytes = statSync(file).size;
    (globalThis as { gc?: () => void }).gc?.();
    const base = process.memoryUsage().arrayBuffers;
    let peak = base;
    const sampler = setInterval(() => {
      peak = Math.max(peak, process.memoryUsage().arrayBuffers);
    }, 1);
    const loaded = await loadCheckpoint(file, model);
    clearInterval(sampler);
    peak = Math.max(peak, process.memoryUsage().arrayBuffers);
    let weightBytes = 0;
    for (const v of loaded.weights.values()) weightBytes += v.byteLength;
    const growth = peak - base;
    console.log(`file ${(fileBytes / 2 ** 20).toFixed(1)} MiB, weights ${(weightBytes / 2 ** 20).toFixed(1)} MiB, peak ArrayBuffer growth ${(growth / 2 ** 20).toFixed(1)} MiB`);
    expect(weightBytes).toBeGreaterThan(0.99 * fileBytes - 1e6);
    expect(growth).toBeLessThanOrEqual(weightBytes + 16 * 2 ** 20);
  }, 60_000);
});
