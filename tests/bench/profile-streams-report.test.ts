/**
 * The GPU check's profile_streams stage (bench/gpu/stage-profile-streams.ts) off the GPU: its
 * difference measure, its results.md section on a recorded-style stage, and that without a usable
 * GPU it records why it skipped instead of failing obscurely. Exact values (hand-computed).
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { difference, reportProfileStreams, stageProfileStreams, type StreamsRow } from '../../bench/gpu/stage-profile-streams';
import { cudaBackendInfo } from '../../src/native/cuda-backend';

describe('profile_streams stage', () => {
  it('difference: bitwise, rel-L2 and max |a - b|', () => {
    expect(difference(new Float32Array([1, 2]), new Float32Array([1, 2]))).toEqual({ relL2: 0, maxAbs: 0, identical: true });
    const d = difference(new Float32Array([3, 4.5]), new Float32Array([3, 4]));
    expect(d.identical).toBe(false);
    expect(d.maxAbs).toBe(0.5);
    expect(d.relL2).toBeCloseTo(0.5 / 5, 12);
    expect(difference(new Float32Array([NaN]), new Float32Array([1])).relL2).toBe(Infinity);
    expect(difference(new Float32Array(2), new Float32Array(3)).identical).toBe(false);
  });

  it('results.md: one row per model/precision/n with equality, images/s per streams count and the best', () => {
    const timing = [100, 120, 130, 125].map((ips, k) => ({ streams: k + 1, runs: 10, medianMs: 8000 / ips, p99Ms: 1, imagesPerSecond: ips }));
    const row: StreamsRow = {
      model: 'inception_v4',
      precision: 'fp16',
      programs: [{ streams: 1, arenaBytes: 2 ** 20, workspaceBytes: 0, waits: 0, compileMs: 1 }],
      batches: [
        {
          n: 8,
          vsOneStream: [2, 3, 4].map((streams) => ({ streams, difference: { relL2: 0, maxAbs: 0, identical: true }, sameAlgorithms: true, captured: true })),
          timing,
          bestSpeedup: 1.3,
          bestStreams: 3,
          pass: true,
          problems: [],
        },
      ],
      profiles: [{ n: 8, streams: 1, totalMs: 2, totalMacs: 1e9, tflops: 1, byKind: [{ kind: 'conv2d:fused', ms: 1.5, steps: 3, macs: 1e9, tflops: 4 / 3 }], top: [], stem: undefined }],
      pass: true,
    };
    const md = reportProfileStreams({ rows: [row] }).join('\n');
    expect(md).toContain('1/1 cases pass');
    expect(md).toContain('| inception_v4 | fp16 | 8 | bitwise / bitwise / bitwise | 100.0 | 120.0 | 130.0 | 125.0 | s3 x1.300 |  |');
    expect(md).toContain('- inception_v4 fp16: s1 arena 1.0 MiB, workspace 0.0 MiB, 0 waits');
    expect(md).toContain('| conv2d:fused | 1.500 | 75.0 | 3 | 1.3 |');
    expect(reportProfileStreams({ skipped: 'no GPU' })).toContain('skipped: no GPU');
    expect(reportProfileStreams(null)).toEqual([]);
  });

  it.skipIf(cudaBackendInfo().available)('without a usable GPU: saves a skipped stage with the reason and sets a failing exit code', async () => {
    const work = mkdtempSync(join(tmpdir(), 'inception-stage-'));
    const saved = process.exitCode;
    try {
      await stageProfileStreams({ stage: 'profile_streams', work, fixtures: 'fixtures', out: work, flags: [] });
      const stage = JSON.parse(readFileSync(join(work, 'results', 'profile_streams.json'), 'utf8')) as { skipped?: string; rows: unknown[] };
      expect(stage.skipped).toMatch(/CUDA backend is unavailable/);
      expect(stage.rows).toEqual([]);
      expect(process.exitCode).toBe(1);
    } finally {
      process.exitCode = saved;
    }
  });
});
