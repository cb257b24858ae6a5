/**
 * Exact 16-bit float -> float32 conversion by bit manipulation. Every float16 and bfloat16
 * value (subnormals, infinities, NaN payloads) is representable in float32, so nothing rounds.
 */

let float16Table: Uint32Array | null = null;

/** float32 bit pattern of one IEEE-754 binary16 bit pattern. */
export function float16BitsToFloat32Bits(h: number): number {
  const sign = (h & 0x8000) << 16;
  const exponent = (h >>> 10) & 0x1f;
  let mantissa = h & 0x3ff;
  if (exponent === 0x1f) return (sign | 0x7f800000 | (mantissa << 13)) >>> 0; // inf / NaN (payload kept)
  if (exponent !== 0) return (sign | ((exponent - 15 + 127) << 23) | (mantissa << 13)) >>> 0;
  if (mantissa === 0) return sign >>> 0; // +-0
  // Subnormal: value = mantissa * 2^-24; normalise so the leading 1 becomes implicit.
  let e = -14;
  while ((mantissa & 0x400) === 0) {
    mantissa <<= 1;
    e -= 1;
  }
  return (sign | ((e + 127) << 23) | ((mantissa & 0x3ff) << 13)) >>> 0;
}

function table(): Uint32Array {
  if (float16Table === null) {
    float16Table = new Uint32Array(65536);
    for (let h = 0; h < 65536; h++) float16Table[h] = float16BitsToFloat32Bits(h);
  }
  return float16Table;
}

export function float16BitsToFloat32(bits: Uint16Array): Float32Array {
  const lookup = table();
  const out = new Uint32Array(bits.length);
  for (let i = 0; i < bits.length; i++) out[i] = lookup[bits[i]];
  return new Float32Array(out.buffer);
}

/** bfloat16 is the upper half of a float32. */
export function bfloat16BitsToFloat32(bits: Uint16Array): Float32Array {
  const out = new Uint32Array(bits.length);
  for (let i = 0; i < bits.length; i++) out[i] = bits[i] << 16;
  return new Float32Array(out.buffer);
}
