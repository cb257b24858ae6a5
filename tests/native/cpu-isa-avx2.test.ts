/**
 * The AVX2 path, which this AVX-512 machine never takes by itself: oneDNN limited to AVX2
 * (DNNL_MAX_CPU_ISA=AVX2, read when the library starts, so in a child process) gives 8-channel
 * blocks instead of 16 and has no fp32 Winograd kernels. All three networks (small inputs,
 * batch 2, plain weights), with 'auto' and with 'direct', must match this process's AVX-512
 * direct outputs, and 'auto' must then be direct convolution with no extra weight memory (the
 * OIHW copies are for Winograd only). This process runs 'direct' only: its Winograd path is
 * held to direct by the cpu-winograd tests, and each compile here costs seconds.
 *
 * Tolerance 1e-5 relative L2: both sides are fp32 direct convolution with different blockings and
 * kernels (8 vs 16 channels, AVX2 vs AVX-512 accumulation order); per-op differences are ~1e-6 (cpu-ops tests) and
 * the plain weights keep activations O(1), so the networks stay near 1e-6 (printed).
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { cpuBackend, cpuSuiteName } from './cpu-harness';
import { runIsaCases, type IsaRun } from './isa-child';
import { relativeL2 } from './plan-kit';

const TOL = 1e-5;
const root = join(__dirname, '..', '..');
const viteNode = join(root, 'node_modules', '.bin', 'vite-node');

describe.skipIf(cpuBackend === null)(cpuSuiteName('oneDNN CPU backend limited to AVX2 (child process)'), () => {
  it('all three networks match the AVX-512 outputs; auto has no Winograd steps and no extra weight bytes', async () => {
    expect(existsSync(viteNode), `${viteNode} (a dev dependency of vitest) is missing`).toBe(true);
    const { stdout } = await promisify(execFile)(viteNode, [join(__dirname, 'isa-child.ts')], {
      cwd: root,
      env: { ...process.env, DNNL_MAX_CPU_ISA: 'AVX2', INCEPTION_ISA_CHILD: '1' },
      maxBuffer: 64 << 20,
    });
    const child = JSON.parse(stdout.trim().split('\n').pop()!) as { isa: string; channelBlock: number; runs: IsaRun[] };
    expect([child.isa, child.channelBlock]).toEqual(['avx2', 8]);
    const here = await runIsaCases(['direct']);
    for (const run of child.runs) {
      const mine = here.runs.find((r) => r.model === run.model)!;
      const error = relativeL2(run.output, mine.output);
      console.log(`${run.model} ${run.convolution}: AVX2 vs ${here.isa} direct relL2 ${error.toExponential(2)}; AVX2 Winograd steps ${run.winogradSteps}`);
      expect(error).toBeLessThan(TOL);
      expect(run.winogradSteps).toBe(0);
      const direct = child.runs.find((r) => r.model === run.model && r.convolution === 'direct')!;
      expect(run.weightBytes).toBe(direct.weightBytes);
    }
  });
});
