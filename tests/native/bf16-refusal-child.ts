/**
 * Child process of cpu-bf16.test.ts (run with vite-node under DNNL_MAX_CPU_ISA=AVX512_CORE, which
 * oneDNN reads when it starts): asks for precision 'bf16' through the session API, the backend's
 * layout policy and the native compile (past the TypeScript check), runs the same small network in
 * fp32 as a control, and prints one JSON line with what each answered. Not a test file itself.
 */
import { InceptionError } from '../../src/errors';
import { getModel } from '../../src/models/registry';
import { loadCpuBackend, loadCpuModule } from '../../src/native/cpu-backend';
import { optimize } from '../../src/optimize';
import { lowerToPlan } from '../../src/plan/lower';
import { createSession } from '../../src/runtime/session';
import { generateInput, syntheticWeights } from '../../src/weights/synthetic';

export interface Refusal {
  readonly className: string;
  readonly code: string;
  readonly message: string;
}

function refusal(error: unknown): Refusal {
  if (error instanceof InceptionError) return { className: error.constructor.name, code: error.code, message: error.message };
  const e = error as { name?: string; code?: unknown; message?: string };
  return { className: e.name ?? 'unknown', code: String(e.code), message: e.message ?? String(error) };
}

export interface RefusalChildResult {
  readonly isa: string;
  readonly bf16Native: boolean;
  readonly session: Refusal | 'accepted';
  readonly layoutPolicy: Refusal | 'accepted';
  readonly nativeCompile: Refusal | 'accepted';
  readonly fp32OutputLength: number;
}

async function main(): Promise<RefusalChildResult> {
  const info = loadCpuModule().info();
  const size = 96;
  let session: Refusal | 'accepted' = 'accepted';
  try {
    const s = await createSession({ model: 'inception_resnet_v1', weights: { synthetic: 'plain' }, device: 'cpu', precision: 'bf16', maxBatch: 1, inputSize: size });
    await s.dispose();
  } catch (error) {
    session = refusal(error);
  }
  const backend = loadCpuBackend();
  let layoutPolicy: Refusal | 'accepted' = 'accepted';
  try {
    backend.layoutPolicy('bf16');
  } catch (error) {
    layoutPolicy = refusal(error);
  }
  const def = getModel('inception_resnet_v1');
  const optimised = optimize(def.build({ batch: 1, height: size, width: size }), syntheticWeights(def, 'plain'));
  const { plan } = lowerToPlan(optimised.graph, optimised.weights, backend.layoutPolicy('fp32'));
  let nativeCompile: Refusal | 'accepted' = 'accepted';
  try {
    const program = await loadCpuModule().compile(plan, { precision: 'bf16', threads: 2 });
    program.dispose();
  } catch (error) {
    nativeCompile = refusal(error);
  }
  const fp32 = await createSession({ model: 'inception_resnet_v1', weights: { synthetic: 'plain' }, device: 'cpu', maxBatch: 1, inputSize: size });
  const output = await fp32.run(generateInput(1, size, size), [1, 3, size, size]);
  await fp32.dispose();
  return { isa: info.isa, bf16Native: info.bf16Native, session, layoutPolicy, nativeCompile, fp32OutputLength: output.length };
}

if (process.env.INCEPTION_BF16_CHILD === '1') {
  main().then(
    (result) => process.stdout.write(`${JSON.stringify(result)}\n`),
    (error: unknown) => {
      process.stderr.write(`${error instanceof Error ? error.stack : String(error)}\n`);
      process.exit(1);
    },
  );
}
