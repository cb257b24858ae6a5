/**
 * Compares a candidate output with a float64 reference the way the shared fixtures' checker
 * (check_outputs.py) does: relative L2 over the whole [N,K] array, max |Δ| / max |ref|, and
 * the top-1 rule (top-1 must match wherever the reference's top-1/top-2 gap exceeds
 * gapFactor × the allowed max abs error). Used by the fixture tests and the GPU check.
 */

export interface Tolerance {
  readonly rel_l2: number;
  readonly max_abs_over_max_ref: number;
  readonly top1_gap_factor: number;
}

export interface SampleReport {
  readonly refTop1: number;
  readonly candTop1: number;
  readonly top1Enforced: boolean;
  readonly top5Equal: boolean;
}

export interface CompareReport {
  readonly pass: boolean;
  readonly relL2: number;
  readonly maxAbsOverMaxRef: number;
  readonly samples: readonly SampleReport[];
  readonly why?: string;
}

/** Indices sorted by descending value; ties keep index order (numpy's stable argsort of -x). */
function descendingOrder(row: ArrayLike<number>): number[] {
  const idx = Array.from({ length: row.length }, (_, i) => i);
  return idx.sort((a, b) => row[b] - row[a] || a - b);
}

function argmax(row: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < row.length; i++) if (row[i] > row[best]) best = i;
  return best;
}

export function compareWithReference(
  candidate: ArrayLike<number>,
  reference: ArrayLike<number>,
  shape: readonly [number, number],
  tol: Tolerance,
): CompareReport {
  const [n, k] = shape;
  if (candidate.length !== n * k || reference.length !== n * k) {
    return { pass: false, relL2: NaN, maxAbsOverMaxRef: NaN, samples: [], why: `length ${candidate.length}, expected ${n * k}` };
  }
  let nonFinite = 0;
  let diffSq = 0;
  let refSq = 0;
  let maxDiff = 0;
  let maxRef = 0;
  for (let i = 0; i < n * k; i++) {
    const c = candidate[i];
    const r = reference[i];
    if (!Number.isFinite(c)) nonFinite++;
    const d = c - r;
    diffSq += d * d;
    refSq += r * r;
    maxDiff = Math.max(maxDiff, Math.abs(d));
    maxRef = Math.max(maxRef, Math.abs(r));
  }
  if (nonFinite > 0) {
    return { pass: false, relL2: NaN, maxAbsOverMaxRef: NaN, samples: [], why: `${nonFinite} non-finite values` };
  }
  const relL2 = Math.sqrt(diffSq) / Math.sqrt(refSq);
  const maxAbsOverMaxRef = maxDiff / maxRef;
  const samples: SampleReport[] = [];
  let top1Ok = true;
  for (let s = 0; s < n; s++) {
    const refRow = Array.prototype.slice.call(reference, s * k, (s + 1) * k) as number[];
    const candRow = Array.prototype.slice.call(candidate, s * k, (s + 1) * k) as number[];
    const order = descendingOrder(refRow);
    const gap = refRow[order[0]] - refRow[order[1]];
    const enforced = gap > tol.top1_gap_factor * tol.max_abs_over_max_ref * maxRef;
    const candTop1 = argmax(candRow);
    const same = candTop1 === order[0];
    top1Ok = top1Ok && (same || !enforced);
    const candOrder = descendingOrder(candRow);
    samples.push({
      refTop1: order[0],
      candTop1,
      top1Enforced: enforced,
      top5Equal: order.slice(0, 5).every((v, i) => v === candOrder[i]),
    });
  }
  const failures: string[] = [];
  if (relL2 > tol.rel_l2) failures.push(`rel_l2 ${relL2.toExponential(3)} > ${tol.rel_l2}`);
  if (maxAbsOverMaxRef > tol.max_abs_over_max_ref) failures.push(`max_abs_over_max_ref ${maxAbsOverMaxRef.toExponential(3)} > ${tol.max_abs_over_max_ref}`);
  if (!top1Ok) failures.push('top-1 differs where the reference gap requires it to match');
  return failures.length === 0
    ? { pass: true, relL2, maxAbsOverMaxRef, samples }
    : { pass: false, relL2, maxAbsOverMaxRef, samples, why: failures.join('; ') };
}
