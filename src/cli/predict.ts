/** `predict`: top-k classes of image files, one JSON line per image. */
import { optionalInteger, parse, printedHelp, SESSION_OPTIONS, sessionOptions } from './args';
import { chunks, nameFileInError, readImageFiles } from './images';
import { EXIT_OK, UsageError, type CliIo } from './io';
import { withSession } from './session';
import { DEFAULT_MAX_BATCH } from '../runtime/options';
import { InvalidArgumentError } from '../errors';
import { getModel, isModelName } from '../models/registry';

export async function predictCommand(argv: readonly string[], io: CliIo): Promise<number> {
  const parsed = parse('predict', argv, { ...SESSION_OPTIONS, 'top-k': { type: 'string', short: 'k' } }, true);
  if (printedHelp(parsed, 'predict', io)) return EXIT_OK;
  const options = sessionOptions(parsed, 'predict');
  if (isModelName(options.model) && getModel(options.model).output === 'embedding') {
    throw new InvalidArgumentError(`${options.model} outputs face embeddings, not classes; use 'inception-cudnn embed'`);
  }
  const topK = optionalInteger(parsed, 'top-k', 'predict') ?? 5;
  const files = parsed.positionals;
  if (files.length === 0) throw new UsageError('no images given; pass one or more image files', 'predict');
  const maxBatch = Math.min(files.length, options.maxBatch ?? DEFAULT_MAX_BATCH);
  await withSession({ ...options, maxBatch }, io, async (session) => {
    for (const group of chunks(files, maxBatch)) {
      const images = await readImageFiles(group);
      const results = await session.classify(images, { topK }).catch((e: unknown) => {
        throw nameFileInError(e, group);
      });
      results.forEach((top, i) => io.stdout(`${JSON.stringify({ file: group[i], top })}\n`));
    }
  });
  return EXIT_OK;
}
