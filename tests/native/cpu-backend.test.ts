/**
 * The CPU backend's contract around the numerics: loading and info, layout policy, option and
 * input validation (typed errors), malformed plans, dispose, the native concurrency guard, and
 * that a long run stays off the event loop.
 */
import { describe, expect, it } from 'vitest';
import { BackendUnavailableError, DisposedError, InvalidArgumentError, InvalidInputError, PlanError } from '../../src/errors';
import { candidatePaths, loadNativeModule } from '../../src/native/binding';
import { cpuBackendInfo, loadCpuModule } from '../../src/native/cpu-backend';
import type { Plan } from '../../src/plan/types';
import { channelBlock, compileCpu, cpuBackend, cpuSuiteName } from './cpu-harness';
import { PlanKit, randomValues } from './plan-kit';

function smallPlan(batch = 2): Plan {
  const kit = new PlanKit(batch, channelBlock());
  const input = kit.map(3, 8, 8);
  const y = kit.map(16, 8, 8);
  const gap = kit.map(16, 1, 1);
  kit.add({ op: 'conv2d', name: 'conv', input, output: y, residual: -1, weight: kit.weight(randomValues(16 * 27, 1)), bias: kit.weight(new Float32Array(16)), kernel: [3, 3], stride: [1, 1], pad: [1, 1], relu: true });
  kit.add({ op: 'globalavgpool', name: 'gap', input: y, output: gap });
  return kit.build(input, gap);
}

describe('native module loading', () => {
  it('refuses a missing module with possible solutions', () => {
    const saved = process.env.INCEPTION_CPU_PREBUILD;
    process.env.INCEPTION_CPU_PREBUILD = '/nonexistent/inception_cpu.node';
    try {
      expect(candidatePaths('inception_cpu')).toEqual(['/nonexistent/inception_cpu.node']);
      expect(() => loadNativeModule('inception_cpu', 'Install oneDNN')).toThrow(BackendUnavailableError);
      expect(() => loadNativeModule('inception_cpu', 'Install oneDNN')).toThrow(/not found at \/nonexistent\/inception_cpu.node\nPossible solutions:\n- An installed package ships prebuilds\/linux-x64\/inception_cpu.node: reinstall[^\n]*\n- In a clone of the repository: bash scripts\/setup.sh[^\n]*\n- Build it from the sources[^\n]*\n- Install oneDNN$/);
    } finally {
      if (saved === undefined) delete process.env.INCEPTION_CPU_PREBUILD;
      else process.env.INCEPTION_CPU_PREBUILD = saved;
    }
  });

  it('cpuBackendInfo never throws', () => {
    const info = cpuBackendInfo();
    expect(info.name).toBe('cpu');
    if (info.available) expect(info.versions.onednn).toMatch(/^2\.\d+\.\d+$/);
    else expect(info.reason).toMatch(/inception_cpu/);
  });
});

describe.skipIf(cpuBackend === null)(cpuSuiteName('oneDNN CPU backend: contract'), () => {
  it('reports oneDNN, the ISA and a blocked fp32 layout policy', () => {
    const info = loadCpuModule().info();
    console.log(`oneDNN ${info.onednn}, isa ${info.isa}, channelBlock ${info.channelBlock}, threads ${info.threads}`);
    expect(info.onednn).toMatch(/^2\.6\./);
    const policy = cpuBackend!.layoutPolicy('fp32');
    expect(policy).toEqual({ elementBytes: 4, channelBlock: info.channelBlock, alignment: 64, concatViews: true, mergeSiblingConvs: false });
    expect([8, 16]).toContain(policy.channelBlock);
    expect(() => cpuBackend!.layoutPolicy('fp16')).toThrow(InvalidArgumentError);
  });

  it('rejects non-fp32 precision and bad thread counts', async () => {
    await expect(cpuBackend!.compile(smallPlan(), { precision: 'tf32' })).rejects.toThrow(InvalidArgumentError);
    await expect(cpuBackend!.compile(smallPlan(), { precision: 'fp32', threads: 0 })).rejects.toThrow(/Expected an integer between 1 and 1024 for threads/);
  });

  it('rejects malformed plans with the field path', async () => {
    const plan = smallPlan();
    const badWeight = { ...plan, steps: [{ ...plan.steps[0]!, weight: { offset: 0, length: 5 } } as Plan['steps'][number], plan.steps[1]!] };
    await expect(compileCpu(badWeight)).rejects.toThrow(PlanError);
    await expect(compileCpu(badWeight)).rejects.toThrow(/steps\[0\] \('conv'\)\.weight: length 5 does not match the shapes \(expected 432\)/);
    const badTensor = { ...plan, steps: [{ ...plan.steps[0]!, output: 99 } as Plan['steps'][number]] };
    await expect(compileCpu(badTensor)).rejects.toThrow(/steps\[0\] \('conv'\)\.output: expected an integer in \[0, 2\], got 99/);
    const badOp = { ...plan, steps: [{ ...plan.steps[1]!, op: 'gelu' } as unknown as Plan['steps'][number]] };
    await expect(compileCpu(badOp)).rejects.toThrow(/unknown op 'gelu'/);
    const small = { ...plan, buffers: plan.buffers.map((b, i) => (i === 1 ? { ...b, bytes: 64 } : b)) };
    await expect(compileCpu(small)).rejects.toThrow(/buffer 1 \[2,16,8,8\] needs 8192 bytes in layout nChw\d+c but the plan reserves 64/);
  });

  it('validates run inputs and reports sizes', async () => {
    const program = await compileCpu(smallPlan());
    expect(program.arenaBytes).toBeGreaterThanOrEqual(smallPlan().arenaBytes);
    expect(program.weightBytes).toBeGreaterThanOrEqual((16 * 27 + 16) * 4);
    expect(program.workspaceBytes).toBeGreaterThanOrEqual(0);
    await expect(program.run(new Float32Array(3 * 64), 3)).rejects.toThrow(InvalidInputError);
    await expect(program.run(new Float32Array(10), 1)).rejects.toThrow(/Expected a Float32Array of length 192 for 1 images but received length 10/);
    const out = await program.run(new Float32Array(2 * 3 * 64).fill(0.5), 2);
    expect(out.length).toBe(32);
    // profile() takes the run's batch checks and its own repeats limit (the native module's 1000).
    await expect(program.profile(new Float32Array(10), 1, 1)).rejects.toThrow(/Expected a Float32Array of length 192 for 1 images/);
    await expect(program.profile(new Float32Array(3 * 64), 1, 0)).rejects.toThrow(InvalidArgumentError);
    await expect(program.profile(new Float32Array(3 * 64), 1, 1001)).rejects.toThrow(/Expected an integer between 1 and 1000 for repeats/);
    expect((await program.profile(new Float32Array(3 * 64), 1, 1)).length).toBeGreaterThan(0);
    program.dispose();
    await expect(program.run(new Float32Array(3 * 64), 1)).rejects.toThrow(DisposedError);
  });

  it('guards against concurrent runs natively (the TS wrapper queues them)', async () => {
    const native = await loadCpuModule().compile(smallPlan(), { threads: 1 });
    const input = new Float32Array(3 * 64);
    const first = native.run(input, 1);
    await expect(native.run(input, 1)).rejects.toMatchObject({ code: 'E_INVALID_ARGUMENT', message: expect.stringMatching(/in progress/) });
    await first;
    const program = await compileCpu(smallPlan());
    const outs = await Promise.all([program.run(input, 1), program.run(input, 1), program.run(input, 1)]);
    expect(outs.map((o) => o.length)).toEqual([16, 16, 16]);
    native.dispose();
  });

  it('a long run does not block the event loop', async () => {
    // Four 3x3 convs of 64 channels on 4 x 99x99: ~2.3 GMAC, hundreds of ms on a couple of cores.
    const kit = new PlanKit(4, channelBlock());
    const input = kit.map(3, 99, 99);
    let x = kit.map(64, 99, 99);
    kit.add({ op: 'conv2d', name: 'c0', input, output: x, residual: -1, weight: kit.weight(randomValues(64 * 27, 2)), bias: kit.weight(new Float32Array(64)), kernel: [3, 3], stride: [1, 1], pad: [1, 1], relu: true });
    for (let i = 1; i <= 4; i++) {
      const y = kit.map(64, 99, 99);
      kit.add({ op: 'conv2d', name: `c${i}`, input: x, output: y, residual: -1, weight: kit.weight(randomValues(64 * 576, 2 + i).map((v) => v / 24)), bias: kit.weight(new Float32Array(64)), kernel: [3, 3], stride: [1, 1], pad: [1, 1], relu: true });
      x = y;
    }
    const program = await compileCpu(kit.build(input, x));
    // A blocked loop shows up as one long gap between timer ticks, as long as the run itself.
    // Measure the longest gap instead of a tick count, so a fast (or slow) machine cannot flake it.
    let ticks = 0;
    let last = performance.now();
    let maxGap = 0;
    const timer = setInterval(() => {
      const now = performance.now();
      maxGap = Math.max(maxGap, now - last);
      last = now;
      ticks++;
    }, 2);
    const started = performance.now();
    await program.run(randomValues(4 * 3 * 99 * 99, 9), 4);
    const elapsed = performance.now() - started;
    clearInterval(timer);
    console.log(`long run: ${elapsed.toFixed(0)} ms, ${ticks} interval ticks, longest gap ${maxGap.toFixed(1)} ms`);
    // Meaningful only if the run is long compared with timer jitter (tens of ms at least).
    expect(elapsed).toBeGreaterThan(20);
    expect(ticks).toBeGreaterThanOrEqual(3);
    expect(maxGap).toBeLessThan(elapsed * 0.75);
    program.dispose();
  });
});
