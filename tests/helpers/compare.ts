/**
 * max |a - b| / max(floor, max |b|): an error relative to the output's magnitude. With the default
 * floor 1, outputs whose magnitude is below 1 compare absolutely; floor 0 makes it purely relative.
 */
export function maxRelativeError(actual: ArrayLike<number>, expected: ArrayLike<number>, floor = 1): number {
  if (actual.length !== expected.length) throw new Error(`compare: ${actual.length} values vs ${expected.length}`);
  let scale = floor;
  for (let i = 0; i < expected.length; i++) scale = Math.max(scale, Math.abs(expected[i]!));
  let worst = 0;
  for (let i = 0; i < expected.length; i++) {
    const e = Math.abs(actual[i]! - expected[i]!);
    worst = Number.isNaN(e) ? Infinity : Math.max(worst, e / scale);
  }
  return worst;
}
