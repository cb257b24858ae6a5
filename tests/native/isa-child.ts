/**
 * Child process of cpu-isa-avx2.test.ts (run with vite-node under DNNL_MAX_CPU_ISA): compiles each
 * network at a small input with convolution 'auto' and 'direct', runs batch 2 on the fixture
 * input recipe, and prints one JSON line with the ISA, channel block, Winograd step counts,
 * weight bytes and the outputs. Not a test file itself (the parent checks what it prints).
 */
import { getModel } from '../../src/models/registry';
import type { ModelName } from '../../src/models/types';
import { loadCpuBackend, loadCpuModule, type CpuProgram } from '../../src/native/cpu-backend';
import { optimize } from '../../src/optimize';
import { lowerToPlan } from '../../src/plan/lower';
import type { ConvolutionAlgorithm } from '../../src/runtime/backend';
import { generateInput, syntheticWeights } from '../../src/weights/synthetic';

export const ISA_CASES: readonly { model: ModelName; size: number }[] = [
  { model: 'inception_v4', size: 107 },
  { model: 'inception_resnet_v2', size: 107 },
  { model: 'inception_resnet_v1', size: 96 },
];

export interface IsaRun {
  model: ModelName;
  convolution: ConvolutionAlgorithm;
  winogradSteps: number;
  weightBytes: number;
  output: number[];
}

/** Runs every case under the current process's oneDNN ISA, with the given convolution algorithms. */
export async function runIsaCases(
  convolutions: readonly ConvolutionAlgorithm[] = ['auto', 'direct'],
): Promise<{ isa: string; channelBlock: number; runs: IsaRun[] }> {
  const backend = loadCpuBackend();
  const info = loadCpuModule().info();
  const runs: IsaRun[] = [];
  for (const { model, size } of ISA_CASES) {
    const def = getModel(model);
    const optimised = optimize(def.build({ batch: 2, height: size, width: size }), syntheticWeights(def, 'plain'));
    const { plan } = lowerToPlan(optimised.graph, optimised.weights, backend.layoutPolicy('fp32'));
    for (const convolution of convolutions) {
      const program = (await backend.compile(plan, { precision: 'fp32', threads: 2, convolution })) as CpuProgram;
      try {
        const output = await program.run(generateInput(2, size, size), 2);
        runs.push({
          model,
          convolution,
          winogradSteps: program.implementations().filter((s) => s.impl.includes('wino')).length,
          weightBytes: program.weightBytes,
          output: Array.from(output),
        });
      } finally {
        program.dispose();
      }
    }
  }
  return { isa: info.isa, channelBlock: info.channelBlock, runs };
}

if (process.env.INCEPTION_ISA_CHILD === '1') {
  runIsaCases().then(
    (result) => process.stdout.write(`${JSON.stringify(result)}\n`),
    (error: unknown) => {
      process.stderr.write(`${error instanceof Error ? error.stack : String(error)}\n`);
      process.exit(1);
    },
  );
}
