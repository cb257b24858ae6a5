/** Plan layout invariants shared by the planner tests; lifetimes are recomputed here, independently of lower.ts. */
import { expect } from 'vitest';
import type { LayoutPolicy, Plan } from '../../src/plan/types';

/** Recomputes buffer lifetimes from the steps (independently of lower.ts) and checks every layout invariant. */
export function checkLayout(plan: Plan, policy: LayoutPolicy): void {
  const first = plan.buffers.map(() => Infinity);
  const last = plan.buffers.map(() => -Infinity);
  const touch = (t: number, s: number): void => {
    const b = plan.tensors[t]!.buffer;
    first[b] = Math.min(first[b]!, s);
    last[b] = Math.max(last[b]!, s);
  };
  plan.steps.forEach((step, s) => {
    const ts: number[] = 'inputs' in step ? [...step.inputs] : [step.input];
    ts.push(step.output);
    if (step.op === 'conv2d' && step.residual >= 0) {
      expect(step.residual).toBe(step.output);
      ts.push(step.residual);
    }
    ts.forEach((t) => touch(t, s));
  });
  for (const t of [plan.input, plan.output]) {
    touch(t, 0);
    touch(t, Math.max(plan.steps.length - 1, 0));
  }
  plan.buffers.forEach((buf, i) => {
    expect(buf.offset % policy.alignment).toBe(0);
    expect(buf.offset + buf.bytes).toBeLessThanOrEqual(plan.arenaBytes);
    expect(buf.bytes).toBe(buf.n * Math.ceil(buf.c / policy.channelBlock) * policy.channelBlock * buf.h * buf.w * policy.elementBytes);
    for (let j = i + 1; j < plan.buffers.length; j++) {
      const other = plan.buffers[j]!;
      const live = Math.max(first[i]!, first[j]!) <= Math.min(last[i]!, last[j]!);
      const bytes = Math.max(buf.offset, other.offset) < Math.min(buf.offset + buf.bytes, other.offset + other.bytes);
      if (live && bytes) throw new Error(`buffers ${i} and ${j} are live together and overlap`);
    }
  });
  for (const t of plan.tensors) {
    const buf = plan.buffers[t.buffer]!;
    expect([t.n, t.h, t.w]).toEqual([buf.n, buf.h, buf.w]);
    expect(t.channelOffset % policy.channelBlock).toBe(0);
    expect(t.channelOffset + t.c).toBeLessThanOrEqual(buf.c);
  }
  for (const step of plan.steps)
    for (const ref of Object.values(step)) if (typeof ref === 'object' && ref !== null && 'length' in ref && 'offset' in ref) expect((ref as { offset: number }).offset % 64).toBe(0);
}
