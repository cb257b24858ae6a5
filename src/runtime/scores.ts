/** Turning logits rows into top-k class probabilities. */

export interface Classification {
  readonly index: number;
  readonly label: string;
  readonly probability: number;
}

/** Numerically stable softmax of one row, in float64. */
export function softmax(row: ArrayLike<number>): Float64Array {
  let max = -Infinity;
  for (let i = 0; i < row.length; i++) if (row[i] > max) max = row[i];
  const out = new Float64Array(row.length);
  let sum = 0;
  for (let i = 0; i < row.length; i++) {
    out[i] = Math.exp(row[i] - max);
    sum += out[i];
  }
  for (let i = 0; i < row.length; i++) out[i] /= sum;
  return out;
}

/** The k most probable classes, most probable first; ties keep the lower index first. */
export function topK(logits: ArrayLike<number>, k: number, label: (index: number) => string): Classification[] {
  const probabilities = softmax(logits);
  const order = Array.from(probabilities.keys()).sort((a, b) => probabilities[b] - probabilities[a] || a - b);
  return order.slice(0, k).map((index) => ({ index, label: label(index), probability: probabilities[index] }));
}
