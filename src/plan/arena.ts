/**
 * The activation-arena planner (pure): buffers with step lifetimes [first, last] (inclusive)
 * and byte sizes in, aligned byte offsets out, such that two buffers whose lifetimes overlap
 * never overlap in bytes.
 *
 * Placement is TFLite-style best fit: take buffers in some order; each goes into the smallest
 * gap (between buffers already placed whose lifetimes overlap its own) that holds it, or above
 * the highest of them when no gap does. The result depends on the order, so several orders are
 * tried and the smallest arena wins (ties: the earlier order, so results are deterministic).
 */
import { PlanError } from '../errors';

export interface BufferLifetime {
  /** First step that touches the buffer (0-based). */
  readonly first: number;
  /** Last step that touches the buffer (inclusive). */
  readonly last: number;
  readonly bytes: number;
}

export interface ArenaLayout {
  /** Byte offset of each buffer, in input order; each a multiple of the alignment. */
  readonly offsets: readonly number[];
  /** max(offset + bytes), rounded up to the alignment. */
  readonly arenaBytes: number;
}

export function alignUp(value: number, alignment: number): number {
  return Math.ceil(value / alignment) * alignment;
}

function overlaps(a: BufferLifetime, b: BufferLifetime): boolean {
  return a.first <= b.last && b.first <= a.last;
}

/**
 * Extra pairs of buffers that must not share bytes although their step lifetimes do not overlap
 * (buffers that steps on concurrent streams may use at the same time; see lower.ts). Indices in
 * input order; symmetric.
 */
export type Interference = (i: number, j: number) => boolean;

const live = (buffers: readonly BufferLifetime[], interferes: Interference | undefined, i: number, j: number): boolean =>
  overlaps(buffers[i]!, buffers[j]!) || (interferes?.(i, j) ?? false);

function checkInputs(buffers: readonly BufferLifetime[], alignment: number): void {
  if (!Number.isInteger(alignment) || alignment < 1) throw new PlanError(`arena alignment must be a positive integer, got ${alignment}`);
  buffers.forEach((b, i) => {
    if (!Number.isInteger(b.bytes) || b.bytes < 0 || !Number.isInteger(b.first) || !Number.isInteger(b.last) || b.first > b.last || b.first < 0) {
      throw new PlanError(`arena buffer ${i} is malformed: first=${b.first} last=${b.last} bytes=${b.bytes}`);
    }
  });
}

/** Best-fit placement of the buffers taken in `order` (indices into `buffers`). */
export function placeBestFit(buffers: readonly BufferLifetime[], order: readonly number[], alignment: number, interferes?: Interference): ArenaLayout {
  checkInputs(buffers, alignment);
  const offsets = new Array<number>(buffers.length).fill(-1);
  const placed: number[] = [];
  let top = 0;
  for (const i of order) {
    const buffer = buffers[i]!;
    const neighbours = placed.filter((j) => live(buffers, interferes, i, j)).sort((a, b) => offsets[a]! - offsets[b]!);
    let best = -1;
    let bestGap = Infinity;
    let cursor = 0;
    for (const j of neighbours) {
      const start = alignUp(cursor, alignment);
      const gap = offsets[j]! - start;
      if (gap >= buffer.bytes && gap < bestGap) {
        best = start;
        bestGap = gap;
      }
      cursor = Math.max(cursor, offsets[j]! + buffers[j]!.bytes);
    }
    offsets[i] = best >= 0 ? best : alignUp(cursor, alignment);
    top = Math.max(top, offsets[i]! + buffer.bytes);
    placed.push(i);
  }
  if (placed.length !== buffers.length) throw new PlanError(`arena order covers ${placed.length} of ${buffers.length} buffers`);
  return { offsets, arenaBytes: alignUp(top, alignment) };
}

type Key = (b: BufferLifetime, i: number) => readonly number[];

/** The orders tried, each a lexicographic key (smaller first). */
const orders: readonly Key[] = [
  (b, i) => [-b.bytes, b.first, i], // TFLite: largest first, then by first use
  (b, i) => [-(b.bytes * (b.last - b.first + 1)), -b.bytes, i], // largest area (bytes x steps)
  (b, i) => [-(b.last - b.first), -b.bytes, i], // longest lived first
  (b, i) => [b.first, -b.bytes, i], // in execution order
  (b, i) => [-b.bytes, -b.last, i],
];

function sortedBy(buffers: readonly BufferLifetime[], key: Key): number[] {
  const keys = buffers.map(key);
  return buffers
    .map((_, i) => i)
    .sort((a, b) => {
      const ka = keys[a]!;
      const kb = keys[b]!;
      for (let k = 0; k < ka.length; k++) if (ka[k] !== kb[k]) return ka[k]! - kb[k]!;
      return 0;
    });
}

/** The smallest arena found over the candidate orders. */
export function planArena(buffers: readonly BufferLifetime[], alignment: number, interferes?: Interference): ArenaLayout {
  let best: ArenaLayout | null = null;
  for (const key of orders) {
    const layout = placeBestFit(buffers, sortedBy(buffers, key), alignment, interferes);
    if (best === null || layout.arenaBytes < best.arenaBytes) best = layout;
  }
  return best ?? { offsets: [], arenaBytes: 0 };
}

/** max over steps of the bytes live at that step: no placement can do better. */
export function lowerBound(buffers: readonly BufferLifetime[]): number {
  const events = new Map<number, number>();
  for (const b of buffers) {
    events.set(b.first, (events.get(b.first) ?? 0) + b.bytes);
    events.set(b.last + 1, (events.get(b.last + 1) ?? 0) - b.bytes);
  }
  let live = 0;
  let max = 0;
  for (const step of [...events.keys()].sort((a, b) => a - b)) {
    live += events.get(step)!;
    max = Math.max(max, live);
  }
  return max;
}

/** Every buffer in its own aligned slot: what no planning would cost. */
export function naiveBytes(buffers: readonly BufferLifetime[], alignment: number): number {
  return buffers.reduce((sum, b) => sum + alignUp(b.bytes, alignment), 0);
}

/** Throws a PlanError naming the first two buffers that are live together and overlap in bytes. */
export function checkNoLiveOverlap(buffers: readonly BufferLifetime[], offsets: readonly number[], interferes?: Interference): void {
  for (let i = 0; i < buffers.length; i++)
    for (let j = i + 1; j < buffers.length; j++) {
      const a = buffers[i]!;
      const b = buffers[j]!;
      if (a.bytes === 0 || b.bytes === 0 || !live(buffers, interferes, i, j)) continue;
      if (offsets[i]! < offsets[j]! + b.bytes && offsets[j]! < offsets[i]! + a.bytes) {
        throw new PlanError(`buffers ${i} [${offsets[i]}, +${a.bytes}) and ${j} [${offsets[j]}, +${b.bytes}) are live together (steps ${a.first}-${a.last} and ${b.first}-${b.last}${overlaps(a, b) ? '' : ', on concurrent streams'}) but overlap in the arena`);
      }
    }
}
