/**
 * Precision 'bf16' on the CPU backend. On a CPU with native bf16 (AVX512-BF16 or AMX): the
 * program runs oneDNN's bf16 kernels everywhere except the steps kept in fp32 (the first
 * convolution, the global pool, the classifier, the L2 norm), no reference kernels, and its
 * output is fp32's within the bf16 bound below. On any CPU: a child process limited to
 * avx512_core (DNNL_MAX_CPU_ISA=AVX512_CORE: AVX-512 without BF16, where oneDNN would emulate
 * bf16) must refuse bf16 with a DeviceError naming the ISA, at every entry, and still run fp32.
 *
 * Tolerance, bf16 vs fp32 on plain weights at a small input: 1.5e-2 relative L2. bf16 keeps 8
 * significant bits (unit roundoff 2^-8 = 3.9e-3); rounding every conv's weights, input and output
 * adds a relative error of about 4e-3 per layer, and the plain weights carry it through the
 * network at about 1x to 1.5x (the fixtures' noise amplification 1.06-1.48), so the outputs land
 * at 6e-3 (v4, IRv2) and 9e-3 (IR-v1) at these small inputs (printed); 1.5e-2 leaves 1.6x to 2.5x
 * margin and still fails a wrong layout or a missing conversion, which moves the outputs by O(1).
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { getModel } from '../../src/models/registry';
import type { ModelName } from '../../src/models/types';
import { loadCpuModule, type CpuProgram } from '../../src/native/cpu-backend';
import { optimize } from '../../src/optimize';
import { lowerToPlan } from '../../src/plan/lower';
import { readNpySync, writeNpy } from '../../src/io/npy';
import { createSession } from '../../src/runtime/session';
import { generateInput, syntheticWeights } from '../../src/weights/synthetic';
import { cli } from '../helpers/cli';
import type { RefusalChildResult } from './bf16-refusal-child';
import { cpuBackend, cpuSuiteName } from './cpu-harness';
import { relativeL2 } from './plan-kit';

const BF16_VS_FP32 = 1.5e-2;
const root = join(__dirname, '..', '..');
const viteNode = join(root, 'node_modules', '.bin', 'vite-node');
const bf16Native = cpuBackend !== null && loadCpuModule().info().bf16Native;
const nativeSkip = cpuBackend === null ? 'the CPU backend is not built' : !bf16Native ? `this CPU has no native bf16 (${loadCpuModule().info().isa})` : '';
if (nativeSkip) console.warn(`[skip] tests/native/cpu-bf16 (native bf16 runs): ${nativeSkip}`);

// inception_v4 (its average-pool branches, its reductions) and IR-v1 (scaled residual convs, the
// L2 norm): inception_resnet_v2's steps are kinds these two already have (v4's stem, residual
// blocks), and its bf16 accuracy is checked against the fixtures by tests/e2e/fixtures.test.ts.
const CASES: readonly { model: ModelName; size: number }[] = [
  { model: 'inception_v4', size: 107 },
  { model: 'inception_resnet_v1', size: 96 },
];

describe.skipIf(nativeSkip !== '')(`CPU precision 'bf16' on native bf16${nativeSkip ? ` (skipped: ${nativeSkip})` : ''}`, () => {
  for (const { model, size } of CASES) {
    it(`${model} ${size}x${size} batch 2: bf16 kernels except the fp32 steps, within ${BF16_VS_FP32} of fp32`, async () => {
      const def = getModel(model);
      const optimised = optimize(def.build({ batch: 2, height: size, width: size }), syntheticWeights(def, 'plain'));
      const outputs: Float32Array[] = [];
      for (const precision of ['fp32', 'bf16'] as const) {
        const { plan } = lowerToPlan(optimised.graph, optimised.weights, cpuBackend!.layoutPolicy(precision));
        const program = (await cpuBackend!.compile(plan, { precision, threads: 2 })) as CpuProgram;
        try {
          outputs.push(await program.run(generateInput(2, size, size), 2));
          if (precision === 'bf16') {
            const impls = program.implementations();
            const convs = plan.steps.map((s, i) => ({ s, impl: impls[i]!.impl })).filter(({ s }) => s.op === 'conv2d');
            // The first conv (reads the network input) stays fp32; every other conv runs oneDNN's bf16 kernels.
            expect(convs[0]!.impl).not.toMatch(/bf16:|bf16_1x1:/);
            for (const { s, impl } of convs.slice(1)) expect(impl, s.name).toMatch(/^(jit|brg)\w*_bf16(_1x1)?:|^brg.*bf16/);
            const linear = impls[plan.steps.findIndex((s) => s.op === 'linear')]!.impl;
            expect(linear).not.toMatch(/bf16:|bf16_1x1:/);
            for (const { impl } of impls) {
              expect(impl).not.toMatch(/^ref|ref:|wino|F\(4,7\)|weight stream/i);
            }
          }
        } finally {
          program.dispose();
        }
      }
      const error = relativeL2(Array.from(outputs[1]!), Array.from(outputs[0]!));
      console.log(`${model} ${size}x${size}: bf16 vs fp32 relL2 ${error.toExponential(2)}`);
      expect(error).toBeGreaterThan(0); // bf16 really ran: fp32 would agree to ~1e-7
      expect(error).toBeLessThan(BF16_VS_FP32);
    }, 300_000);
  }

  it('the CLI takes --precision bf16: run writes the bf16 session API output bit for bit, and session.info says bf16', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'inception-bf16-cli-'));
    try {
      const x = generateInput(2, 160, 160);
      await writeNpy(join(dir, 'x.npy'), x, [2, 3, 160, 160]);
      const r = await cli('run', '--model', 'inception_resnet_v1', '--weights', 'synthetic:plain', '--precision', 'bf16', '--max-batch', '2', '--input', join(dir, 'x.npy'), '--output', join(dir, 'y.npy'));
      expect(r.code, r.stderr).toBe(0);
      const session = await createSession({ model: 'inception_resnet_v1', weights: { synthetic: 'plain' }, precision: 'bf16', maxBatch: 2 });
      try {
        expect(session.info.precision).toBe('bf16');
        const api = await session.run(x, [2, 3, 160, 160]);
        expect(Array.from(readNpySync(join(dir, 'y.npy')).data)).toEqual(Array.from(api));
      } finally {
        await session.dispose();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);

  it('INCEPTION_CPU_BF16_FP32 is checked, and "none" puts the first conv in bf16', async () => {
    const def = getModel('inception_resnet_v1');
    const optimised = optimize(def.build({ batch: 1, height: 96, width: 96 }), syntheticWeights(def, 'plain'));
    const { plan } = lowerToPlan(optimised.graph, optimised.weights, cpuBackend!.layoutPolicy('bf16'));
    const saved = process.env.INCEPTION_CPU_BF16_FP32;
    try {
      process.env.INCEPTION_CPU_BF16_FP32 = 'first,stem';
      await expect(cpuBackend!.compile(plan, { precision: 'bf16', threads: 2 })).rejects.toThrow(/INCEPTION_CPU_BF16_FP32='first,stem': expected 'none' or a comma list of 'first' and 'classifier', got 'stem'/);
      process.env.INCEPTION_CPU_BF16_FP32 = 'none';
      const program = (await cpuBackend!.compile(plan, { precision: 'bf16', threads: 2 })) as CpuProgram;
      try {
        await program.run(generateInput(1, 96, 96), 1);
        expect(program.implementations()[0]!.impl).toMatch(/bf16/);
      } finally {
        program.dispose();
      }
    } finally {
      if (saved === undefined) delete process.env.INCEPTION_CPU_BF16_FP32;
      else process.env.INCEPTION_CPU_BF16_FP32 = saved;
    }
  }, 120_000);
});

describe.skipIf(cpuBackend === null)(cpuSuiteName("CPU precision 'bf16' refused without native bf16 (child process, DNNL_MAX_CPU_ISA=AVX512_CORE)"), () => {
  it('the session API, the layout policy and the native compile refuse bf16 naming the ISA; fp32 still runs', async () => {
    expect(existsSync(viteNode), `${viteNode} (a dev dependency of vitest) is missing`).toBe(true);
    const { stdout } = await promisify(execFile)(viteNode, [join(__dirname, 'bf16-refusal-child.ts')], {
      cwd: root,
      env: { ...process.env, DNNL_MAX_CPU_ISA: 'AVX512_CORE', INCEPTION_BF16_CHILD: '1' },
      maxBuffer: 16 << 20,
    });
    const child = JSON.parse(stdout.trim().split('\n').pop()!) as RefusalChildResult;
    console.log(`child: isa ${child.isa}; session refusal: ${JSON.stringify(child.session)}`);
    // On a CPU whose best ISA is below avx512_core the limit changes nothing, and bf16 is refused all the same.
    expect(child.bf16Native).toBe(false);
    for (const refusal of [child.session, child.layoutPolicy, child.nativeCompile]) {
      expect(refusal).not.toBe('accepted');
      if (refusal === 'accepted') continue;
      expect(refusal.code).toBe('E_DEVICE');
      expect(refusal.message).toContain(`oneDNN runs this CPU as '${child.isa}'`);
      expect(refusal.message).toMatch(/AVX512-BF16.*AMX/);
      expect(refusal.message).toContain("use precision 'fp32'");
    }
    expect(child.session === 'accepted' ? '' : child.session.className).toBe('DeviceError');
    expect(child.fp32OutputLength).toBe(512);
  }, 180_000);
});
