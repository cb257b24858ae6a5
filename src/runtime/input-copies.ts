/**
 * The private input copies of Session.run, reused from one run to the next.
 *
 * run() copies its caller's array (the caller may reuse it while the run waits in the queue). A
 * fresh Float32Array per run costs far more than the copy itself for large batches: at batch 256
 * (274 MB) `slice()` took 130-720 ms on the 2-core build machine (new pages faulted in, zeroed, and
 * the old ones left to the garbage collector), while `set()` into an array that is already mapped
 * took 22 ms. So a copy goes back here when its run has finished, and the next run writes into it.
 *
 * At most one idle copy is kept (the largest length asked for so far), so a session holds at most
 * one batch of input beyond what its queued runs use; dispose() drops it. Runs that overlap (queued
 * behind each other) each get their own copy, as before.
 */
export class InputCopies {
  private idle: Float32Array | undefined;
  private retained = true;

  /** A private copy of values[0, length): a reused buffer's prefix when one is idle and large enough. */
  take(values: Float32Array, length: number): Float32Array {
    let buffer = this.idle;
    this.idle = undefined;
    if (buffer === undefined || buffer.length < length) buffer = new Float32Array(length);
    const copy = buffer.length === length ? buffer : buffer.subarray(0, length);
    copy.set(values.subarray(0, length));
    return copy;
  }

  /** Hands back a copy from take() once nothing reads it any more; the larger of it and the idle one stays. */
  give(copy: Float32Array): void {
    if (!this.retained) return;
    const buffer = copy.byteOffset === 0 && copy.length * 4 === copy.buffer.byteLength ? copy : new Float32Array(copy.buffer);
    if (this.idle === undefined || this.idle.length < buffer.length) this.idle = buffer;
  }

  /** Drops the idle copy and keeps none from now on (the session is closing). */
  release(): void {
    this.retained = false;
    this.idle = undefined;
  }

  /** Length of the idle copy (0 when none): what the session holds between runs. */
  get idleLength(): number {
    return this.idle?.length ?? 0;
  }
}
