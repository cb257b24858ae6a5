/**
 * Runs async tasks one at a time, in call order. A rejected task does not stop the tasks
 * queued behind it: each task's outcome goes only to its own caller.
 */
export class SerialQueue {
  private tail: Promise<unknown> = Promise.resolve();
  private pendingCount = 0;

  /** Tasks queued or running. */
  get pending(): number {
    return this.pendingCount;
  }

  push<T>(task: () => Promise<T>): Promise<T> {
    this.pendingCount++;
    const result = this.tail.then(task);
    const settled = (): void => {
      this.pendingCount--;
    };
    this.tail = result.then(settled, settled);
    return result;
  }

  /** Resolves when every task queued so far has settled. */
  drained(): Promise<void> {
    return this.tail.then(() => undefined);
  }
}
