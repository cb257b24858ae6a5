/** Reading image files for predict / embed, in chunks so memory stays bounded. */
import { readFile } from 'node:fs/promises';
import { InvalidArgumentError } from '../errors';

export async function readImageFiles(files: readonly string[]): Promise<Buffer[]> {
  return Promise.all(
    files.map(async (file) => {
      try {
        return await readFile(file);
      } catch (cause) {
        throw new InvalidArgumentError(`cannot read image file ${file}: ${(cause as Error).message}`, { cause });
      }
    }),
  );
}

export function chunks<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/** Image errors name the file instead of the index inside a chunk. */
export function nameFileInError(error: unknown, files: readonly string[]): unknown {
  if (!(error instanceof Error)) return error;
  const match = /^cannot decode (?:image (\d+) of \d+|the image): /.exec(error.message);
  if (match === null) return error;
  const file = files[match[1] === undefined ? 0 : Number(match[1])];
  if (file !== undefined) error.message = `cannot decode ${file}: ${error.message.slice(match[0].length)}`;
  return error;
}
