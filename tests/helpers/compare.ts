/** max |a - b| / max(1, max |b|): an error relative to the output's magnitude (outputs near 0 compare absolutely). */
export function maxRelativeError(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  if (actual.length !== expected.length) throw new Error(`compare: ${actual.length} values vs ${expected.length}`);
  let scale = 1;
  for (let i = 0; i < expected.length; i++) scale = Math.max(scale, Math.abs(expected[i]!));
  let worst = 0;
  for (let i = 0; i < expected.length; i++) {
    const e = Math.abs(actual[i]! - expected[i]!);
    worst = Number.isNaN(e) ? Infinity : Math.max(worst, e / scale);
  }
  return worst;
}
