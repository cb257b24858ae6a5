/**
 * The engines a CPU benchmark compares, behind one shape: ours (a Session on synthetic weights)
 * and onnxruntime-node running our ONNX export of the same weights (folded, and optionally the
 * unfolded checkpoint graph). onnxruntime-node is a dev dependency: loaded lazily, with a clear
 * error naming the fix when it is missing.
 */
import { BackendUnavailableError } from '../errors';
import type { ModelDefinition, ModelName } from '../models/types';
import { exportOnnx } from '../onnx/export';
import type { ConvolutionAlgorithm } from '../runtime/backend';
import { createSession } from '../runtime/session';
import { syntheticWeights } from '../weights/synthetic';

/** 'ours-bf16': ours under precision 'bf16', another computation (bf16 activations and weights, fp32 accumulation). */
export type EngineName = 'ours' | 'ours-bf16' | 'ort-folded' | 'ort-unfolded';

export interface BenchEngine {
  readonly name: EngineName;
  /** Runs [n,3,H,W]; resolves when the output is available on the JS side. */
  run(input: Float32Array, n: number): Promise<Float32Array>;
  dispose(): Promise<void>;
}

type Ort = typeof import('onnxruntime-node');

export function loadOnnxRuntime(): Ort {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return require('onnxruntime-node') as Ort;
  } catch (cause) {
    throw new BackendUnavailableError(
      `onnxruntime-node does not load here (${(cause as Error).message.split('\n')[0]}); it is a dev dependency: run 'npm ci' in a clone of the repository to install it`,
      { cause },
    );
  }
}

export async function oursEngine(
  model: ModelName,
  size: number,
  maxBatch: number,
  threads: number,
  convolution: ConvolutionAlgorithm = 'auto',
  precision: 'fp32' | 'bf16' = 'fp32',
): Promise<BenchEngine> {
  const session = await createSession({ model, weights: { synthetic: 'plain' }, device: 'cpu', inputSize: size, maxBatch, threads, convolution, precision });
  return {
    name: precision === 'bf16' ? 'ours-bf16' : 'ours',
    run: (input, n) => session.run(input, [n, 3, size, size]),
    dispose: () => session.dispose(),
  };
}

/** threads undefined: onnxruntime's own default (intraOpNumThreads unset). */
export async function ortEngine(ort: Ort, def: ModelDefinition, size: number, threads: number | undefined, fold: boolean): Promise<BenchEngine> {
  const bytes = exportOnnx(def, syntheticWeights(def, 'plain'), { fold, inputSize: size });
  const session = await ort.InferenceSession.create(bytes, {
    ...(threads === undefined ? {} : { intraOpNumThreads: threads }),
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
    executionMode: 'sequential',
  });
  return {
    name: fold ? 'ort-folded' : 'ort-unfolded',
    async run(input, n) {
      const result = await session.run({ input: new ort.Tensor('float32', input, [n, 3, size, size]) });
      return result[def.output]!.data as Float32Array;
    },
    dispose: () => session.release(),
  };
}
