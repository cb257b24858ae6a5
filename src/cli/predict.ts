/** `predict`: top-k classes of image files, one JSON line per file (an `error` line for a bad one). */
import { imagenetLabels } from '../models/labels';
import { getModel } from '../models/registry';
import { DEFAULT_MAX_BATCH } from '../runtime/options';
import { topK } from '../runtime/scores';
import { optionalInteger, parse, printedHelp, SESSION_OPTIONS, sessionOptions } from './args';
import { chunks, failedFilesLine, runImageFiles } from './images';
import { EXIT_FAILURE, EXIT_OK, UsageError, type CliIo } from './io';
import { withSession } from './session';

export async function predictCommand(argv: readonly string[], io: CliIo): Promise<number> {
  const parsed = parse('predict', argv, { ...SESSION_OPTIONS, 'top-k': { type: 'string', short: 'k' } }, true);
  if (printedHelp(parsed, 'predict', io)) return EXIT_OK;
  const options = sessionOptions(parsed, 'predict');
  const model = getModel(options.model);
  if (model.output === 'embedding') {
    throw new UsageError(`${options.model} outputs face embeddings, not classes; use 'inception-cudnn embed'`, 'predict');
  }
  const topKCount = optionalInteger(parsed, 'top-k', 'predict', model.outputSize) ?? 5;
  const files = parsed.positionals;
  if (files.length === 0) throw new UsageError('no images given; pass one or more image files', 'predict');
  const maxBatch = Math.min(files.length, options.maxBatch ?? DEFAULT_MAX_BATCH);
  const labels = imagenetLabels();
  const failed: string[] = [];
  await withSession({ ...options, maxBatch }, io, async (session) => {
    for (const group of chunks(files, maxBatch)) {
      for (const outcome of await runImageFiles(session, group)) {
        if ('error' in outcome) {
          failed.push(outcome.file);
          io.stdout(`${JSON.stringify({ file: outcome.file, error: outcome.error.message })}\n`);
        } else {
          io.stdout(`${JSON.stringify({ file: outcome.file, top: topK(outcome.row, topKCount, (index) => labels[index]) })}\n`);
        }
      }
    }
  });
  if (failed.length === 0) return EXIT_OK;
  io.stderr(failedFilesLine(failed, files.length));
  return EXIT_FAILURE;
}
