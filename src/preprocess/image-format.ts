/**
 * The image format of some bytes from their first bytes, before any decoder sees them: the
 * server's /classify (415) and decodeAndCrop (every session.classify / embed) both check it.
 * sharp reads whatever libvips can (SVG through librsvg and libxml2, TIFF, GIF, HEIF, PDF where
 * built in); reading the metadata first and checking the format afterwards let one probe reach
 * libxml2's entity expansion. Only JPEG, PNG and WebP get past this.
 */

export type ImageFormat = 'jpeg' | 'png' | 'webp';

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/** 'jpeg', 'png' or 'webp' from the file signature, or undefined for anything else. */
export function sniffImageFormat(bytes: Uint8Array): ImageFormat | undefined {
  if (bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return 'jpeg';
  if (bytes.length >= 8 && PNG_SIGNATURE.equals(bytes.subarray(0, 8))) return 'png';
  // RIFF <size> WEBP
  if (bytes.length >= 12 && ascii(bytes, 0, 4) === 'RIFF' && ascii(bytes, 8, 12) === 'WEBP') return 'webp';
  return undefined;
}

/** The first bytes as hex, for an error message that shows what was sent instead. */
export function leadingBytes(bytes: Uint8Array, count = 8): string {
  return Buffer.from(bytes.subarray(0, count)).toString('hex').replace(/(..)(?!$)/g, '$1 ');
}

function ascii(bytes: Uint8Array, start: number, end: number): string {
  return Buffer.from(bytes.subarray(start, end)).toString('latin1');
}
