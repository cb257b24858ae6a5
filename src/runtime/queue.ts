/**
 * Runs async tasks in call order, at most `depth` at a time (default 1: one after another). A
 * rejected task does not stop the tasks queued behind it: each task's outcome goes only to its own
 * caller. Depth 2 is for a backend that overlaps one run's transfers with another's compute
 * (Program.runsInFlight).
 */
export class SerialQueue {
  private tail: Promise<unknown> = Promise.resolve();
  private pendingCount = 0;
  private running = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(readonly depth = 1) {
    if (!Number.isInteger(depth) || depth < 1) throw new RangeError(`SerialQueue depth must be a positive integer, got ${String(depth)}`);
  }

  /** Tasks queued or running. */
  get pending(): number {
    return this.pendingCount;
  }

  /** Whether a task pushed now would start at once (fewer than `depth` running, none waiting). */
  get canStartNow(): boolean {
    return this.running < this.depth && this.waiting.length === 0;
  }

  push<T>(task: () => Promise<T>): Promise<T> {
    this.pendingCount++;
    const result = this.turn().then(async () => {
      try {
        return await task();
      } finally {
        this.release();
      }
    });
    const done = (): void => {
      this.pendingCount--;
    };
    const settled = result.then(done, done);
    this.tail = this.tail.then(() => settled);
    return result;
  }

  /** Resolves when every task queued so far has settled. */
  drained(): Promise<void> {
    return this.tail.then(() => undefined);
  }

  /** Resolves when this caller may start: at once while fewer than `depth` run, else in call order. */
  private turn(): Promise<void> {
    if (this.canStartNow) {
      this.running++;
      return Promise.resolve();
    }
    return new Promise<void>((resolve) => this.waiting.push(resolve));
  }

  /** A task ended: its turn passes to the next waiting caller, or the running count drops. */
  private release(): void {
    const next = this.waiting.shift();
    if (next === undefined) this.running--;
    else next();
  }
}
