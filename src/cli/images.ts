/**
 * Image files for predict / embed: each file is read and preprocessed on its own, so one missing
 * or undecodable file fails alone; the good ones of a chunk run as one batch.
 */
import { readFile } from 'node:fs/promises';
import { InvalidArgumentError } from '../errors';
import { getModel } from '../models/registry';
import { imageToTensor } from '../preprocess/image';
import type { Session } from '../runtime/session';

/** One file's output row, or why it has none. */
export type FileOutcome = { readonly file: string; readonly row: Float32Array } | { readonly file: string; readonly error: Error };

export async function readImageFile(file: string): Promise<Buffer> {
  try {
    return await readFile(file);
  } catch (cause) {
    throw new InvalidArgumentError(`cannot read image file ${file}: ${(cause as Error).message}`, { cause });
  }
}

export function chunks<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/** Image errors name the file instead of the image's index. */
export function nameFileInError(error: unknown, file: string): Error {
  if (!(error instanceof Error)) return new Error(`${file}: ${String(error)}`);
  const match = /^cannot decode (?:image \d+ of \d+|the image): /.exec(error.message);
  if (match !== null) error.message = `cannot decode ${file}: ${error.message.slice(match[0].length)}`;
  return error;
}

/** The session's output row for each of `files` (at most session.info.maxBatch), in order. */
export async function runImageFiles(session: Session, files: readonly string[]): Promise<FileOutcome[]> {
  const [, , height, width] = session.info.inputShape;
  const preprocessing = getModel(session.info.model).preprocessing;
  const plane = 3 * height * width;
  const tensors = await Promise.all(
    files.map(async (file): Promise<Float32Array | Error> => {
      try {
        return await imageToTensor(await readImageFile(file), { height, width, preprocessing });
      } catch (error) {
        return nameFileInError(error, file);
      }
    }),
  );
  const good = tensors.filter((t): t is Float32Array => t instanceof Float32Array);
  let output: Float32Array = new Float32Array(0);
  if (good.length > 0) {
    const batch = new Float32Array(good.length * plane);
    good.forEach((t, i) => batch.set(t, i * plane));
    output = await session.run(batch, [good.length, 3, height, width]);
  }
  const k = session.info.outputShape[1];
  let next = 0;
  return files.map((file, i) => {
    const tensor = tensors[i];
    if (tensor instanceof Error) return { file, error: tensor };
    const row = output.slice(next * k, (next + 1) * k);
    next += 1;
    return { file, row };
  });
}

/** The stderr line after a run in which some files failed; the exit code is then 1. */
export function failedFilesLine(failed: readonly string[], total: number): string {
  const shown = failed.length > 5 ? `${failed.slice(0, 5).join(', ')}, ...` : failed.join(', ');
  return `error: ${failed.length} of ${total} image file(s) failed (${shown}); their lines carry the error, the others' results are complete\n`;
}
