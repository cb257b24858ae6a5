/** onnxruntime-node for the tests: loaded if it can be (null otherwise), one run, rel-L2. */
import type * as Ort from 'onnxruntime-node';

export type OrtModule = typeof Ort;

export function loadOrt(): OrtModule | null {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return require('onnxruntime-node') as OrtModule;
  } catch {
    return null;
  }
}

export async function runOrt(ort: OrtModule, session: Ort.InferenceSession, input: Float32Array, dims: readonly number[], output: string): Promise<Float32Array> {
  const result = await session.run({ input: new ort.Tensor('float32', input, [...dims]) });
  const tensor = result[output];
  if (tensor === undefined) throw new Error(`onnxruntime returned no '${output}' output (got ${Object.keys(result).join(', ')})`);
  return tensor.data as Float32Array;
}

/** ||a - b||_2 / ||b||_2 (Infinity on NaN). */
export function relL2(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  if (actual.length !== expected.length) throw new Error(`relL2: ${actual.length} values vs ${expected.length}`);
  let num = 0;
  let den = 0;
  for (let i = 0; i < expected.length; i++) {
    num += (actual[i]! - expected[i]!) ** 2;
    den += expected[i]! ** 2;
  }
  const r = Math.sqrt(num / den);
  return Number.isNaN(r) ? Infinity : r;
}
