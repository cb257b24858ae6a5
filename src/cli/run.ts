/** `run`: a preprocessed NCHW .npy batch through the network, raw outputs to .npy. */
import { InvalidInputError } from '../errors';
import { readNpy, writeNpy } from '../io/npy';
import { DEFAULT_MAX_BATCH } from '../runtime/options';
import { parse, printedHelp, requireString, SESSION_OPTIONS, sessionOptions } from './args';
import { EXIT_OK, type CliIo } from './io';
import { withSession } from './session';

export async function runCommand(argv: readonly string[], io: CliIo): Promise<number> {
  const parsed = parse('run', argv, { ...SESSION_OPTIONS, input: { type: 'string', short: 'i' }, output: { type: 'string', short: 'o' } }, false);
  if (printedHelp(parsed, 'run', io)) return EXIT_OK;
  const options = sessionOptions(parsed, 'run');
  const inputPath = requireString(parsed, 'input', 'run');
  const outputPath = requireString(parsed, 'output', 'run');

  const array = await readNpy(inputPath);
  const shape = array.shape;
  if (shape.length !== 4 || shape[1] !== 3 || shape[0] < 1) {
    throw new InvalidInputError(`${inputPath} has shape [${shape.join(',')}]; run expects a preprocessed batch [N,3,H,W] with N >= 1`);
  }
  const [n, , height, width] = shape;
  let data: Float32Array;
  if (array.data instanceof Float32Array) {
    data = array.data;
  } else {
    io.stderr(`notice: ${inputPath} is float64; converting to float32\n`);
    data = Float32Array.from(array.data);
  }
  const maxBatch = Math.min(n, options.maxBatch ?? DEFAULT_MAX_BATCH);
  const image = 3 * height * width;

  let outputs: Float32Array | undefined;
  let k = 0;
  await withSession({ ...options, maxBatch, inputSize: [height, width] }, io, async (session) => {
    k = session.info.outputShape[1];
    const all = new Float32Array(n * k);
    for (let start = 0; start < n; start += maxBatch) {
      const m = Math.min(maxBatch, n - start);
      const out = await session.run(data.subarray(start * image, (start + m) * image), [m, 3, height, width]);
      all.set(out, start * k);
    }
    outputs = all;
  });
  await writeNpy(outputPath, outputs as unknown as Float32Array, [n, k]);
  io.stderr(`wrote ${outputPath}: float32 [${n},${k}]\n`);
  return EXIT_OK;
}
