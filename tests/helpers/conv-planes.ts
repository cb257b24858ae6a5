/**
 * The direct convolution shared by the test references (reference.ts and the plan interpreter):
 * y[b,o] = bias[o] + sum over (i, ky, kx) of w[o,i,ky,kx] * x[b,i,...], cross-correlation, NCHW.
 *
 * Each output element's sum is taken in the same order as the textbook seven-loop form
 * (bias, then input channel, kernel row, kernel column), into a float64 accumulator, so the results
 * are bitwise those of that form. The loops are reordered so the innermost one runs along an
 * output row with one weight held fixed: on a 75x75 Inception-v4 that is ~4x faster in V8, and
 * these references run on every network in the plan tests.
 */
export interface ConvGeometry {
  batch: number;
  inChannels: number;
  height: number;
  width: number;
  outChannels: number;
  kernel: readonly [number, number];
  stride: readonly [number, number];
  pad: readonly [number, number];
}

/** Output height and width of a convolution or pooling window. */
export function convOutputSize(g: ConvGeometry): [number, number] {
  return [
    Math.floor((g.height + 2 * g.pad[0] - g.kernel[0]) / g.stride[0]) + 1,
    Math.floor((g.width + 2 * g.pad[1] - g.kernel[1]) / g.stride[1]) + 1,
  ];
}

/** The first and one-past-last output index whose input index o*stride - pad + k lies in [0, size). */
function validRange(k: number, stride: number, pad: number, size: number, outSize: number): [number, number] {
  const first = Math.max(0, Math.ceil((pad - k) / stride));
  const end = Math.min(outSize, Math.floor((size - 1 + pad - k) / stride) + 1);
  return [first, Math.max(first, end)];
}

/**
 * The pre-activation convolution [batch, outChannels, oh, ow] in float64. `weight` holds
 * [outChannels, inChannels, kh, kw] from `weightOffset`; `bias` holds outChannels values from
 * `biasOffset`, or is null for none.
 */
export function convPlanes(
  x: ArrayLike<number>,
  g: ConvGeometry,
  weight: ArrayLike<number>,
  weightOffset: number,
  bias: ArrayLike<number> | null,
  biasOffset: number,
): Float64Array {
  const { batch, inChannels: c, height: h, width: w, outChannels } = g;
  const [kh, kw] = g.kernel;
  const [sy, sx] = g.stride;
  const [py, px] = g.pad;
  const [oh, ow] = convOutputSize(g);
  const y = new Float64Array(batch * outChannels * oh * ow);
  const rows: [number, number][] = [];
  const cols: [number, number][] = [];
  for (let ky = 0; ky < kh; ky++) rows.push(validRange(ky, sy, py, h, oh));
  for (let kx = 0; kx < kw; kx++) cols.push(validRange(kx, sx, px, w, ow));
  for (let b = 0; b < batch; b++)
    for (let o = 0; o < outChannels; o++) {
      const plane = (b * outChannels + o) * oh * ow;
      y.fill(bias === null ? 0 : bias[biasOffset + o]!, plane, plane + oh * ow);
      for (let i = 0; i < c; i++) {
        const xPlane = (b * c + i) * h * w;
        const wBase = weightOffset + (o * c + i) * kh * kw;
        for (let ky = 0; ky < kh; ky++) {
          const [yFirst, yEnd] = rows[ky]!;
          for (let kx = 0; kx < kw; kx++) {
            const [xFirst, xEnd] = cols[kx]!;
            const wv = weight[wBase + ky * kw + kx]!;
            for (let yy = yFirst; yy < yEnd; yy++) {
              const xRow = xPlane + (yy * sy - py + ky) * w - px + kx;
              const yRow = plane + yy * ow;
              for (let xx = xFirst; xx < xEnd; xx++) y[yRow + xx] += wv * x[xRow + xx * sx]!;
            }
          }
        }
      }
    }
  return y;
}
