/** `embed`: face embeddings of image files (JSON lines, or one .npy with --output). */
import { writeNpy } from '../io/npy';
import { parse, printedHelp, SESSION_OPTIONS, sessionOptions } from './args';
import { chunks, nameFileInError, readImageFiles } from './images';
import { EXIT_OK, UsageError, type CliIo } from './io';
import { withSession } from './session';
import { DEFAULT_MAX_BATCH } from '../runtime/options';

export async function embedCommand(argv: readonly string[], io: CliIo): Promise<number> {
  const parsed = parse('embed', argv, { ...SESSION_OPTIONS, output: { type: 'string', short: 'o' } }, true);
  if (printedHelp(parsed, 'embed', io)) return EXIT_OK;
  const options = sessionOptions(parsed, 'embed');
  const output = typeof parsed.values.output === 'string' ? parsed.values.output : undefined;
  const files = parsed.positionals;
  if (files.length === 0) throw new UsageError('no images given; pass one or more image files', 'embed');
  const maxBatch = Math.min(files.length, options.maxBatch ?? DEFAULT_MAX_BATCH);
  const rows: Float32Array[] = [];
  await withSession({ ...options, maxBatch }, io, async (session) => {
    for (const group of chunks(files, maxBatch)) {
      const images = await readImageFiles(group);
      const embeddings = await session.embed(images).catch((e: unknown) => {
        throw nameFileInError(e, group);
      });
      embeddings.forEach((embedding, i) => {
        if (output === undefined) io.stdout(`${JSON.stringify({ file: group[i], embedding: Array.from(embedding) })}\n`);
        else rows.push(embedding);
      });
    }
  });
  if (output !== undefined) {
    const width = rows[0].length;
    const all = new Float32Array(rows.length * width);
    rows.forEach((row, i) => all.set(row, i * width));
    await writeNpy(output, all, [rows.length, width]);
    io.stderr(`wrote ${output}: float32 [${rows.length},${width}]\n`);
  }
  return EXIT_OK;
}
