/**
 * sharp is loaded on first use, not at import: the tensor path (`session.run`) and the GPU check
 * run where no image decoder is installed, and should not need one.
 */
import type sharpModule from 'sharp';
import { ImageDecodeError } from '../errors';

export type Sharp = typeof sharpModule;

let cached: Sharp | undefined;

export function loadSharp(): Sharp {
  if (cached === undefined) {
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      cached = require('sharp') as Sharp;
    } catch (error) {
      throw new ImageDecodeError(
        `image decoding needs the 'sharp' package, which could not be loaded (${error instanceof Error ? error.message.split('\n')[0] : String(error)}); reinstall with 'npm install' so its platform binaries are present`,
        { cause: error },
      );
    }
  }
  return cached;
}

/** sharp's versions, or null when it is not installed. */
export function sharpVersions(): { sharp: string; vips: string } | null {
  try {
    const versions = loadSharp().versions;
    return { sharp: versions.sharp, vips: versions.vips };
  } catch {
    return null;
  }
}
