/**
 * The GPU per-layer profile (src/bench/cuda-profile.ts) and `profile --device cuda`: the report
 * arithmetic on hand-made native entries (exact values), the usage errors, and, on a machine
 * without a usable GPU (like CI), the typed backend-unavailable error. The real GPU run is the
 * device check's `profile-streams` stage.
 */
import { describe, expect, it } from 'vitest';
import { cli } from '../helpers/cli';
import { formatCudaProfile, profiledSteps, profileCuda, totalsByKind, type CudaProfileReport } from '../../src/bench/cuda-profile';
import type { CliIo } from '../../src/cli/io';
import { BackendUnavailableError } from '../../src/errors';
import { cudaBackendInfo, type CudaStepProfile } from '../../src/native/cuda-backend';
import type { Plan, PlanStep } from '../../src/plan/types';


const conv = (name: string): PlanStep => ({
  op: 'conv2d', name, input: 0, output: 1, residual: -1, weight: { offset: 0, length: 1 }, bias: { offset: 0, length: 1 },
  kernel: [1, 1], stride: [1, 1], pad: [0, 0], relu: true,
});
const plan = { steps: [conv('a'), conv('b'), { op: 'maxpool2d', name: 'p', input: 1, output: 0, kernel: [3, 3], stride: [2, 2], pad: [0, 0], countIncludePad: false }] } as unknown as Plan;
const entry = (step: string, index: number, ms: number, path: string, algo = -1): CudaStepProfile => ({ step, index, ms, path, algo, workspaceBytes: algo >= 0 ? 2 ** 20 : 0, stream: 0, description: '' });
const raw: CudaStepProfile[] = [
  entry('input-convert', -1, 0.01, 'kernel'),
  entry('a', 0, 0.5, 'fused', 1),
  entry('b', 1, 0.25, 'split+scratch-copy', 6),
  entry('p', 2, 0.04, 'cudnn'),
  entry('output-convert', -1, 0.01, 'kernel'),
];
const macs = new Map([['a', { macs: 1e9 }], ['b', { macs: 5e8 }], ['p', { macs: 0 }]]);

describe('GPU profile report', () => {
  it('rows: op from the plan step, MACs by name, TFLOP/s = 2 MACs / time', () => {
    const steps = profiledSteps(plan, raw, macs);
    expect(steps.map((s) => [s.step, s.op, s.path, s.algo])).toEqual([
      ['input-convert', 'convert', 'kernel', -1],
      ['a', 'conv2d', 'fused', 1],
      ['b', 'conv2d', 'split+scratch-copy', 6],
      ['p', 'maxpool2d', 'cudnn', -1],
      ['output-convert', 'convert', 'kernel', -1],
    ]);
    expect(steps[1]!.tflops).toBeCloseTo(4, 12); // 2e9 FLOP in 0.5 ms
    expect(steps[2]!.tflops).toBeCloseTo(4, 12);
    expect(steps[3]!.tflops).toBe(0);
    const kinds = totalsByKind(steps);
    expect(kinds.map((k) => [k.kind, k.steps])).toEqual([
      ['conv2d:fused', 1],
      ['conv2d:split+scratch-copy', 1],
      ['maxpool2d:cudnn', 1],
      ['convert:kernel', 2],
    ]);
    expect(kinds[3]!.ms).toBeCloseTo(0.02, 12);
  });

  it('the text report has the summary, the kinds and the slowest steps first', () => {
    const steps = profiledSteps(plan, raw, macs);
    const report: CudaProfileReport = {
      kind: 'cuda-profile', date: '', commit: '', device: 'cuda:0 (Test GPU)', versions: { cudnn: '9.0.0' }, model: 'inception_v4', inputSize: 299,
      batch: 8, precision: 'fp16', streams: 2, repeats: 5, steps, totalMs: 0.81, totalMacs: 1.5e9, tflops: 3.0 / 0.81, byKind: totalsByKind(steps), runMs: 0.7,
    };
    const text = formatCudaProfile(report, 2);
    expect(text).toContain('inception_v4 299x299 batch 8, fp16, 2 stream(s), median of 5 runs (cuda:0 (Test GPU); cudnn 9.0.0)');
    expect(text).toContain('whole network: 0.810 ms summed over steps for 1.50 GMACs = 3.70 TFLOP/s');
    expect(text).toMatch(/conv2d:fused\s+0\.500 ms\s+61\.7%/);
    expect(text).toMatch(/slowest 2 steps:[\s\S]*\n {2}a\s[\s\S]*\n {2}b\s/);
    expect(text).not.toMatch(/\n {2}p\s/);
  });
});

describe('profile --device cuda', () => {
  const available = cudaBackendInfo().available;

  it('usage errors exit 2', async () => {
    const cases: [string[], RegExp][] = [
      [['profile', '--device', 'cuda', '--model', 'inception_v4', '--streams', '5'], /--streams expects an integer from 1 to 4, got '5'/],
      [['profile', '--device', 'cuda', '--model', 'inception_v4', '--precision', 'fp8'], /--precision fp8: use fp32, tf32 or fp16/],
      [['profile', '--device', 'cuda', '--model', 'inception_v4', '--threads', '2'], /--threads applies to --device cpu only/],
      [['profile', '--device', 'cuda', '--model', 'inception_v4', '--convolution', 'direct'], /--convolution applies to --device cpu only/],
      [['profile', '--device', 'cuda:x', '--model', 'inception_v4'], /--device cuda:x: use cpu, cuda or cuda:N/],
      [['profile', '--model', 'inception_v4', '--precision', 'fp16'], /--precision fp16: the CPU profile runs fp32 \(default\) or bf16 \(tf32 and fp16 are cuda precisions\)/],
      [['profile', '--model', 'inception_v4', '--streams', '2'], /--streams applies to --device cuda only/],
    ];
    for (const [argv, message] of cases) {
      const r = await cli(...argv);
      expect(r.code, argv.join(' ')).toBe(2);
      expect(r.stderr).toMatch(message);
    }
  });

  it.skipIf(available)('without a usable GPU: BackendUnavailableError, and the command exits 1 saying what is missing', async () => {
    await expect(profileCuda({ model: 'inception_resnet_v1', batch: 1, repeats: 1, precision: 'fp32' })).rejects.toBeInstanceOf(BackendUnavailableError);
    const r = await cli('profile', '--device', 'cuda', '--model', 'inception_resnet_v1', '--verbose');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/CUDA/);
    expect(r.stderr).toContain('[E_BACKEND_UNAVAILABLE]');
  });
});
