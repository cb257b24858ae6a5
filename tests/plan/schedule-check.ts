/**
 * An independent checker of plan schedules (src/plan/schedule.ts), written without its helpers:
 * - footprints are exact byte intervals of a tensor in a physical layout (NCHW, or NHWC with the
 *   channels padded to a block), computed from the arena offsets, per image (and per pixel for NHWC);
 * - the order a schedule guarantees is stream order (steps of one stream in plan order) plus waits,
 *   closed transitively;
 * - a random execution order consistent with that order is simulated on a shadow memory of
 *   intervals, recording what each step reads and overwrites, to compare with plan order.
 */
import type { Plan, PlanSchedule, PlanStep } from '../../src/plan/types';

export type PhysicalLayout = { readonly kind: 'nchw' | 'nhwc'; readonly elementBytes: number; readonly channelBlock: number };

type Interval = readonly [number, number];
type PlanShape = Pick<Plan, 'buffers' | 'tensors' | 'steps'>;

/** Tensors a step reads and the one it writes (a residual conv reads its output too). */
export function readsAndWrite(step: PlanStep): { reads: number[]; write: number } {
  if (step.op === 'concat' || step.op === 'residual_add') return { reads: [...step.inputs], write: step.output };
  if (step.op === 'conv2d' && step.residual >= 0) return { reads: [step.input, step.residual], write: step.output };
  return { reads: [step.input], write: step.output };
}

/** Sorted, merged byte intervals of a tensor at the plan's batch. */
export function footprint(plan: PlanShape, tensor: number, layout: PhysicalLayout): Interval[] {
  const t = plan.tensors[tensor]!;
  const b = plan.buffers[t.buffer]!;
  const cp = Math.ceil(b.c / layout.channelBlock) * layout.channelBlock;
  const eb = layout.elementBytes;
  const raw: [number, number][] = [];
  if (layout.kind === 'nchw') {
    const plane = b.h * b.w;
    for (let n = 0; n < b.n; n++) {
      const start = b.offset + (n * cp + t.channelOffset) * plane * eb;
      raw.push([start, start + t.c * plane * eb]);
    }
  } else {
    const pixels = b.n * b.h * b.w;
    for (let p = 0; p < pixels; p++) {
      const start = b.offset + (p * cp + t.channelOffset) * eb;
      raw.push([start, start + t.c * eb]);
    }
  }
  const merged: [number, number][] = [];
  for (const iv of raw) {
    const last = merged[merged.length - 1];
    if (last !== undefined && last[1] === iv[0]) last[1] = iv[1];
    else merged.push([iv[0], iv[1]]);
  }
  return merged;
}

export function intersects(a: readonly Interval[], b: readonly Interval[]): boolean {
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    if (a[i]![0] < b[j]![1] && b[j]![0] < a[i]![1]) return true;
    if (a[i]![1] <= b[j]![1]) i++;
    else j++;
  }
  return false;
}

/** happensBefore[j][i]: the schedule orders step i before step j (stream order and waits, transitively). */
export function happensBefore(schedule: PlanSchedule): boolean[][] {
  const count = schedule.steps.length;
  const before: boolean[][] = [];
  const lastOnStream = new Map<number, number>();
  for (let j = 0; j < count; j++) {
    const row = new Array<boolean>(count).fill(false);
    const direct = [...schedule.steps[j]!.waits];
    const prev = lastOnStream.get(schedule.steps[j]!.stream);
    if (prev !== undefined) direct.push(prev);
    for (const p of direct) {
      row[p] = true;
      before[p]!.forEach((v, k) => {
        if (v) row[k] = true;
      });
    }
    before.push(row);
    lastOnStream.set(schedule.steps[j]!.stream, j);
  }
  return before;
}

/** Pairs (i < j) whose exact footprints conflict (RAW, WAR, WAW) but that the schedule leaves unordered. */
export function unorderedConflicts(plan: PlanShape, schedule: PlanSchedule, layout: PhysicalLayout): { i: number; j: number }[] {
  const cache = new Map<number, Interval[]>();
  const fp = (t: number): Interval[] => {
    let v = cache.get(t);
    if (v === undefined) {
      v = footprint(plan, t, layout);
      cache.set(t, v);
    }
    return v;
  };
  const accesses = plan.steps.map((s) => {
    const { reads, write } = readsAndWrite(s);
    return [...reads.map((t) => ({ t, write: false })), { t: write, write: true }];
  });
  const hb = happensBefore(schedule);
  const bad: { i: number; j: number }[] = [];
  for (let j = 0; j < plan.steps.length; j++)
    for (let i = 0; i < j; i++) {
      if (hb[j]![i]) continue;
      const conflict = accesses[i]!.some((x) => accesses[j]!.some((y) => (x.write || y.write) && intersects(fp(x.t), fp(y.t))));
      if (conflict) bad.push({ i, j });
    }
  return bad;
}

/** A random order of the steps consistent with stream order and waits (Kahn's algorithm, random pick). */
export function randomOrder(schedule: PlanSchedule, random: () => number): number[] {
  const count = schedule.steps.length;
  const succ: number[][] = Array.from({ length: count }, () => []);
  const indegree = new Array<number>(count).fill(0);
  const lastOnStream = new Map<number, number>();
  schedule.steps.forEach((s, j) => {
    const preds = new Set(s.waits);
    const prev = lastOnStream.get(s.stream);
    if (prev !== undefined) preds.add(prev);
    for (const p of preds) {
      succ[p]!.push(j);
      indegree[j]!++;
    }
    lastOnStream.set(s.stream, j);
  });
  const ready = indegree.flatMap((d, j) => (d === 0 ? [j] : []));
  const order: number[] = [];
  while (ready.length > 0) {
    const k = Math.floor(random() * ready.length);
    const j = ready[k]!;
    ready[k] = ready[ready.length - 1]!;
    ready.pop();
    order.push(j);
    for (const s of succ[j]!) if (--indegree[s]! === 0) ready.push(s);
  }
  return order;
}

/**
 * Executes the steps in `order` on a shadow memory of atoms (the arena cut at every footprint
 * boundary). Each step records, per atom it reads, which step wrote it last; per atom it writes,
 * which step wrote it before and how many reads that version had. Returns one signature per step.
 */
export function simulate(plan: PlanShape, order: readonly number[], layout: PhysicalLayout): string[] {
  const fps = plan.tensors.map((_, t) => footprint(plan, t, layout));
  const cuts = [...new Set(fps.flatMap((list) => list.flatMap(([a, b]) => [a, b])))].sort((a, b) => a - b);
  const atomOf = new Map(cuts.map((c, k) => [c, k]));
  const atoms = (t: number): number[] => fps[t]!.flatMap(([a, b]) => {
    const out: number[] = [];
    for (let k = atomOf.get(a)!; k < atomOf.get(b)!; k++) out.push(k);
    return out;
  });
  const atomsOf = plan.tensors.map((_, t) => atoms(t));
  const writer = new Int32Array(cuts.length).fill(-1);
  const readsOfVersion = new Int32Array(cuts.length);
  const signatures = new Array<string>(plan.steps.length);
  for (const j of order) {
    const { reads, write } = readsAndWrite(plan.steps[j]!);
    const parts: string[] = [];
    for (const t of reads) {
      const seen = atomsOf[t]!.map((a) => writer[a]!);
      parts.push(`r${t}:${seen.join(',')}`);
      for (const a of atomsOf[t]!) readsOfVersion[a]!++;
    }
    const over = atomsOf[write]!.map((a) => `${writer[a]}/${readsOfVersion[a]}`);
    parts.push(`w${write}:${over.join(',')}`);
    for (const a of atomsOf[write]!) {
      writer[a] = j;
      readsOfVersion[a] = 0;
    }
    signatures[j] = parts.join(' ');
  }
  return signatures;
}

/** The block a step belongs to: 'features.6', 'repeat.0', 'repeat_1.3', 'mixed_5b', 'conv2d_1a'. */
export function blockOf(name: string): string {
  const parts = name.split('.');
  return parts.length > 1 && /^\d+$/.test(parts[1]!) ? `${parts[0]}.${parts[1]}` : parts[0]!;
}

/** Largest set of steps of `members` no two of which are ordered by `before` (Dilworth: n - maximum matching). */
export function width(members: readonly number[], before: readonly (readonly boolean[])[]): number {
  const matchOf = new Map<number, number>();
  const tryMatch = (u: number, seen: Set<number>): boolean => {
    for (const v of members) {
      if (!before[v]![u] || seen.has(v)) continue;
      seen.add(v);
      const other = matchOf.get(v);
      if (other === undefined || tryMatch(other, seen)) {
        matchOf.set(v, u);
        return true;
      }
    }
    return false;
  };
  let matching = 0;
  for (const u of members) if (tryMatch(u, new Set())) matching++;
  return members.length - matching;
}
