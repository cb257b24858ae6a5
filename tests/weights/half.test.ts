import { describe, expect, it } from 'vitest';
import { bfloat16BitsToFloat32, float16BitsToFloat32 } from '../../src/weights/half';

/** Independent float64 decoding of binary16 from its definition. */
function decodeF16(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const e = (h >>> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0x1f) return m === 0 ? sign * Infinity : NaN;
  if (e === 0) return sign * m * 2 ** -24;
  return sign * (1 + m / 1024) * 2 ** (e - 15);
}

describe('16-bit float conversion', () => {
  it('matches the binary16 definition for all 65536 bit patterns (exact: every value fits float32)', () => {
    const bits = new Uint16Array(65536).map((_, i) => i);
    const out = float16BitsToFloat32(bits);
    const outBits = new Uint32Array(out.buffer);
    let mismatches = 0;
    for (let h = 0; h < 65536; h++) {
      const want = decodeF16(h);
      if (Number.isNaN(want)) {
        // NaN stays NaN, keeps sign and payload (shifted into the float32 mantissa).
        if (!Number.isNaN(out[h]) || outBits[h] !== ((((h & 0x8000) << 16) | 0x7f800000 | ((h & 0x3ff) << 13)) >>> 0)) mismatches++;
      } else if (!Object.is(out[h], want)) {
        mismatches++;
      }
    }
    expect(mismatches).toBe(0);
  });

  it('bfloat16 is the upper half of float32 for all 65536 patterns', () => {
    const bits = new Uint16Array(65536).map((_, i) => i);
    const outBits = new Uint32Array(bfloat16BitsToFloat32(bits).buffer);
    let mismatches = 0;
    for (let h = 0; h < 65536; h++) if (outBits[h] !== h * 65536) mismatches++;
    expect(mismatches).toBe(0);
  });
});
