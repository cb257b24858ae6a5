import { describe, it, expect } from 'vitest';
import { SerialQueue } from '../../src/runtime/queue';
import { softmax, topK } from '../../src/runtime/scores';

describe('SerialQueue', () => {
  it('runs tasks one at a time in order; a rejection reaches only its caller', async () => {
    const queue = new SerialQueue();
    const log: string[] = [];
    const task = (name: string, ms: number, fail = false) => () =>
      new Promise<string>((resolve, reject) => {
        log.push(`start ${name}`);
        setTimeout(() => {
          log.push(`end ${name}`);
          if (fail) reject(new Error(name)); else resolve(name);
        }, ms);
      });
    const a = queue.push(task('a', 20));
    const b = queue.push(task('b', 1, true));
    const c = queue.push(task('c', 1));
    expect(queue.pending).toBe(3);
    await expect(a).resolves.toBe('a');
    await expect(b).rejects.toThrow('b');
    await expect(c).resolves.toBe('c');
    await queue.drained();
    expect(queue.pending).toBe(0);
    expect(log).toEqual(['start a', 'end a', 'start b', 'end b', 'start c', 'end c']);
  });

  it('with depth 2 runs at most two tasks at once, starts them in call order, and drains all', async () => {
    const queue = new SerialQueue(2);
    let running = 0;
    let most = 0;
    const started: string[] = [];
    const task = (name: string, ms: number, fail = false) => () =>
      new Promise<string>((resolve, reject) => {
        started.push(name);
        running++;
        most = Math.max(most, running);
        setTimeout(() => {
          running--;
          if (fail) reject(new Error(name));
          else resolve(name);
        }, ms);
      });
    expect(queue.canStartNow).toBe(true);
    const results = [queue.push(task('a', 30)), queue.push(task('b', 5, true)), queue.push(task('c', 5)), queue.push(task('d', 5))];
    expect(queue.canStartNow).toBe(false); // two running, two waiting
    expect(queue.pending).toBe(4);
    const outcomes = await Promise.allSettled(results);
    expect(outcomes.map((o) => o.status)).toEqual(['fulfilled', 'rejected', 'fulfilled', 'fulfilled']);
    await queue.drained();
    expect(most).toBe(2);
    expect(started).toEqual(['a', 'b', 'c', 'd']);
    expect(queue.pending).toBe(0);
    expect(queue.canStartNow).toBe(true);
  });

  it('drained() waits for a long first task even when later ones finish first', async () => {
    const queue = new SerialQueue(2);
    let longDone = false;
    void queue.push(() => new Promise<void>((resolve) => setTimeout(() => { longDone = true; resolve(); }, 30)));
    void queue.push(() => Promise.resolve());
    await queue.drained();
    expect(longDone).toBe(true);
  });

  it('rejects a depth that is not a positive integer', () => {
    expect(() => new SerialQueue(0)).toThrow(RangeError);
    expect(() => new SerialQueue(1.5)).toThrow(RangeError);
  });
});

describe('softmax / topK', () => {
  it('softmax is stable for large logits and sums to 1', () => {
    // float64 arithmetic: 1e-12 absolute is far above its rounding error for 3 terms.
    const p = softmax([1000, 1001, 1002]);
    expect(p[0] + p[1] + p[2]).toBeCloseTo(1, 12);
    const e = [Math.exp(-2), Math.exp(-1), 1];
    const s = e[0] + e[1] + e[2];
    e.forEach((v, i) => expect(p[i]).toBeCloseTo(v / s, 12));
  });

  it('topK orders by probability, ties by lower index', () => {
    const top = topK([0, 3, 1, 3], 3, (i) => `c${i}`);
    expect(top.map((t) => t.index)).toEqual([1, 3, 2]);
    expect(top.map((t) => t.label)).toEqual(['c1', 'c3', 'c2']);
    expect(top[0].probability).toBeCloseTo(Math.exp(3) / (1 + 2 * Math.exp(3) + Math.exp(1)), 12);
  });
});
