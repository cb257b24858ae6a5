/** `embed`: face embeddings of image files (JSON lines, or one .npy with --output). */
import { writeNpy } from '../io/npy';
import { getModel } from '../models/registry';
import { DEFAULT_MAX_BATCH } from '../runtime/options';
import { parse, printedHelp, SESSION_OPTIONS, sessionOptions } from './args';
import { chunks, failedFilesLine, runImageFiles } from './images';
import { EXIT_FAILURE, EXIT_OK, UsageError, type CliIo } from './io';
import { withSession } from './session';

export async function embedCommand(argv: readonly string[], io: CliIo): Promise<number> {
  const parsed = parse('embed', argv, { ...SESSION_OPTIONS, output: { type: 'string', short: 'o' } }, true);
  if (printedHelp(parsed, 'embed', io)) return EXIT_OK;
  const options = sessionOptions(parsed, 'embed');
  const model = getModel(options.model);
  if (model.output !== 'embedding') {
    throw new UsageError(`${options.model} outputs ImageNet classes, not embeddings; use 'inception-cudnn predict' (embed needs --model inception_resnet_v1)`, 'embed');
  }
  const output = typeof parsed.values.output === 'string' ? parsed.values.output : undefined;
  const files = parsed.positionals;
  if (files.length === 0) throw new UsageError('no images given; pass one or more image files', 'embed');
  const maxBatch = Math.min(files.length, options.maxBatch ?? DEFAULT_MAX_BATCH);
  const width = model.outputSize;
  // With --output, row i is file i: a file that failed gets a row of NaN.
  const all = output === undefined ? null : new Float32Array(files.length * width);
  const failed: string[] = [];
  await withSession({ ...options, maxBatch }, io, async (session) => {
    let index = 0;
    for (const group of chunks(files, maxBatch)) {
      for (const outcome of await runImageFiles(session, group)) {
        if ('error' in outcome) {
          failed.push(outcome.file);
          if (all === null) io.stdout(`${JSON.stringify({ file: outcome.file, error: outcome.error.message })}\n`);
          else {
            io.stderr(`error: ${outcome.error.message}\n`);
            all.fill(Number.NaN, index * width, (index + 1) * width);
          }
        } else if (all === null) {
          io.stdout(`${JSON.stringify({ file: outcome.file, embedding: Array.from(outcome.row) })}\n`);
        } else {
          all.set(outcome.row, index * width);
        }
        index += 1;
      }
    }
  });
  if (output !== undefined && all !== null) {
    await writeNpy(output, all, [files.length, width]);
    io.stderr(`wrote ${output}: float32 [${files.length},${width}]${failed.length > 0 ? `; the rows of the ${failed.length} failed file(s) are NaN` : ''}\n`);
  }
  if (failed.length === 0) return EXIT_OK;
  io.stderr(failedFilesLine(failed, files.length));
  return EXIT_FAILURE;
}
