/**
 * Dynamic batching in front of one or more sessions (instances). Requests of one or more images
 * wait in one bounded FIFO queue; an idle instance takes the longest prefix of the queue that
 * fits in maxBatch images as soon as it is full, forms a preferred batch size, or its oldest
 * request has waited maxQueueDelayMicroseconds. Each instance runs one batch at a time; each
 * request is settled exactly once with its own rows (or its own error).
 */
import { performance } from 'node:perf_hooks';
import { DisposedError, InvalidArgumentError, InvalidInputError, PlanError, QueueFullError, RequestAbortedError, RequestTimeoutError, describe, invalidParam } from '../errors';
import { checkFiniteValues } from '../runtime/input';
import { runOwnedInput, type Session } from '../runtime/session';
import { checkSessions, resolveBatcherOptions, type BatcherOptions, type RequestOutcome, type ResolvedBatcherOptions } from './options';

export interface InferOptions {
  /** Aborting removes a queued request; a running one is rejected and its rows discarded. */
  readonly signal?: AbortSignal;
  /** Overrides the batcher's default timeout (ms, queue plus compute). */
  readonly timeoutMs?: number;
  /**
   * Hands `input` to the batcher instead of having it copied: the batcher reads it (once, into its
   * batch) until the promise settles, so the caller must not change it before then. Saves a copy
   * of every request (the server passes views on the request bodies it read). Default false.
   */
  readonly transfer?: boolean;
}

export interface BatcherStats {
  readonly instances: number;
  readonly maxBatch: number;
  /** Requests waiting for a batch. */
  readonly queuedRequests: number;
  readonly queuedImages: number;
  readonly runningBatches: number;
  /** Requests accepted into the queue since creation. */
  readonly accepted: number;
  readonly succeeded: number;
  /** Accepted requests that ended with an error, a timeout or an abort. */
  readonly failed: number;
  readonly timedOut: number;
  readonly aborted: number;
  /** infer() calls refused with QueueFullError. */
  readonly rejectedQueueFull: number;
  readonly batches: number;
  /** Images run (sum of batch sizes). */
  readonly images: number;
}

export interface Batcher {
  readonly maxBatch: number;
  /** [3, H, W] of one image. */
  readonly imageShape: readonly [3, number, number];
  /** Values per output row (1000 logits, 512 embedding values). */
  readonly outputSize: number;
  readonly closed: boolean;
  readonly stats: BatcherStats;
  /** `input`: k images [k,3,H,W] flat (1 <= k <= maxBatch); resolves to their rows [k,K]. */
  infer(input: Float32Array, options?: InferOptions): Promise<Float32Array>;
  /**
   * Throws the QueueFullError that infer() would reject with now, when the queue is full (counted
   * in rejectedQueueFull): lets a server refuse a request before it reads the request's body.
   */
  checkQueueSpace(): void;
  /** Stops accepting, runs everything queued without waiting for the delay, resolves when all settled. */
  close(): Promise<void>;
}

type State = 'queued' | 'running' | 'settled';

interface Pending {
  readonly input: Float32Array;
  /** The caller's array (transfer: true): copied into the batch buffer, never run in place. */
  readonly borrowed: boolean;
  readonly images: number;
  readonly enqueuedAt: number;
  startedAt: number | undefined;
  batchComputeMs: number;
  state: State;
  resolve(value: Float32Array): void;
  reject(error: unknown): void;
  cleanup(): void;
}

const INFER_KEYS: readonly string[] = ['signal', 'timeoutMs', 'transfer'];

export function createBatcher(sessions: Session | readonly Session[], options?: BatcherOptions): Batcher {
  const list = checkSessions(sessions);
  return new DynamicBatcher(list, resolveBatcherOptions(options, list));
}

class DynamicBatcher implements Batcher {
  readonly maxBatch: number;
  readonly imageShape: readonly [3, number, number];
  readonly outputSize: number;
  private readonly imageSize: number;
  private readonly queue: Pending[] = [];
  private queuedImageCount = 0;
  private readonly busy: boolean[];
  /** Per instance, a maxBatch-image buffer that batches are assembled in (made at its first use). */
  private readonly batchBuffers: (Float32Array | undefined)[];
  private runningCount = 0;
  private timer: NodeJS.Timeout | undefined;
  private closing = false;
  private drain: { promise: Promise<void>; resolve: () => void } | undefined;
  private readonly counts = { accepted: 0, succeeded: 0, failed: 0, timedOut: 0, aborted: 0, rejectedQueueFull: 0, batches: 0, images: 0 };

  constructor(
    private readonly sessions: readonly Session[],
    private readonly options: ResolvedBatcherOptions,
  ) {
    const info = sessions[0].info;
    this.maxBatch = options.maxBatch;
    this.imageShape = Object.freeze([3, info.inputShape[2], info.inputShape[3]] as const);
    this.imageSize = 3 * info.inputShape[2] * info.inputShape[3];
    this.outputSize = info.outputShape[1];
    this.busy = sessions.map(() => false);
    this.batchBuffers = sessions.map(() => undefined);
  }

  get closed(): boolean {
    return this.closing;
  }

  get stats(): BatcherStats {
    return Object.freeze({
      instances: this.sessions.length,
      maxBatch: this.maxBatch,
      queuedRequests: this.queue.length,
      queuedImages: this.queuedImageCount,
      runningBatches: this.runningCount,
      ...this.counts,
    });
  }

  infer(input: Float32Array, options?: InferOptions): Promise<Float32Array> {
    let images: number;
    let timeoutMs: number | undefined;
    let signal: AbortSignal | undefined;
    let transfer: boolean;
    try {
      images = this.checkInput(input);
      ({ timeoutMs, signal, transfer } = this.checkInferOptions(options));
    } catch (error) {
      return Promise.reject(error);
    }
    if (this.closing) return Promise.reject(new DisposedError('the batcher is closed (shutting down); send the request to another instance'));
    if (signal?.aborted === true) return Promise.reject(abortedError(signal, 'before it was queued'));
    try {
      this.checkQueueSpace();
    } catch (error) {
      return Promise.reject(error);
    }

    return new Promise<Float32Array>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const onAbort = (): void => this.fail(entry, abortedError(signal as AbortSignal, entry.state === 'queued' ? 'while queued' : 'while its batch ran'), 'aborted');
      const entry: Pending = {
        // A private copy unless handed over: the caller may reuse its array while the request waits.
        input: transfer ? input : input.slice(),
        borrowed: transfer,
        images,
        enqueuedAt: performance.now(),
        startedAt: undefined,
        batchComputeMs: 0,
        state: 'queued',
        resolve,
        reject,
        cleanup: () => {
          if (timer !== undefined) clearTimeout(timer);
          signal?.removeEventListener('abort', onAbort);
        },
      };
      if (timeoutMs !== undefined) {
        const ms = timeoutMs;
        timer = setTimeout(() => {
          const where = entry.state === 'queued' ? 'waiting in the queue' : 'its batch was still running';
          this.fail(entry, new RequestTimeoutError(`the request timed out after ${ms} ms (${where}); retry, lower the load, or raise the timeout`), 'timeout');
        }, ms);
      }
      signal?.addEventListener('abort', onAbort, { once: true });
      this.counts.accepted++;
      this.queue.push(entry);
      this.queuedImageCount += images;
      this.pump();
    });
  }

  checkQueueSpace(): void {
    if (this.queue.length < this.options.maxQueueSize) return;
    this.counts.rejectedQueueFull++;
    throw new QueueFullError(`the queue is full (${this.queue.length} requests waiting, maxQueueSize=${this.options.maxQueueSize}); retry later or raise maxQueueSize`);
  }

  close(): Promise<void> {
    if (this.drain === undefined) {
      this.closing = true;
      let resolve!: () => void;
      const promise = new Promise<void>((r) => (resolve = r));
      this.drain = { promise, resolve };
      this.pump();
      this.checkDrained();
    }
    return this.drain.promise;
  }

  private checkInput(input: unknown): number {
    if (!(input instanceof Float32Array)) {
      throw new InvalidInputError(`Expected a Float32Array of k images [k,${this.imageShape.join(',')}] but received ${describe(input)}`);
    }
    const images = input.length / this.imageSize;
    if (input.length === 0 || !Number.isInteger(images)) {
      throw new InvalidInputError(`Input has ${input.length} values, which is not k images of [${this.imageShape.join(',')}] = ${this.imageSize} values each`);
    }
    if (images > this.maxBatch) {
      throw new InvalidInputError(`The request has ${images} images but maxBatch=${this.maxBatch}; split it into requests of at most ${this.maxBatch}`);
    }
    // Checked per request so that one bad request cannot fail the batch it would share; the
    // batch is not scanned again (the session is told its values are checked).
    checkFiniteValues(input);
    return images;
  }

  private checkInferOptions(options: unknown): { timeoutMs: number | undefined; signal: AbortSignal | undefined; transfer: boolean } {
    if (options === undefined) return { timeoutMs: this.options.timeoutMs, signal: undefined, transfer: false };
    if (typeof options !== 'object' || options === null) throw invalidParam('infer options', 'an object', options);
    const unknown = Object.keys(options).filter((k) => !INFER_KEYS.includes(k));
    if (unknown.length > 0) throw new InvalidArgumentError(`Unknown infer option '${unknown[0]}'; the options are: ${INFER_KEYS.join(', ')}`);
    const { signal, timeoutMs, transfer } = options as InferOptions;
    if (transfer !== undefined && typeof transfer !== 'boolean') throw invalidParam('transfer', 'a boolean', transfer);
    if (signal !== undefined && !(signal instanceof AbortSignal)) throw invalidParam('signal', 'an AbortSignal', signal);
    if (timeoutMs !== undefined && (typeof timeoutMs !== 'number' || !Number.isInteger(timeoutMs) || timeoutMs < 1 || timeoutMs > 2_147_483_647)) {
      throw invalidParam('timeoutMs', 'a positive integer (milliseconds)', timeoutMs);
    }
    return { timeoutMs: timeoutMs ?? this.options.timeoutMs, signal, transfer: transfer === true };
  }

  /** Dispatches batches to idle instances while the policy says so; otherwise arms the delay timer. */
  private pump(): void {
    if (this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    while (this.queue.length > 0) {
      const instance = this.busy.indexOf(false);
      if (instance < 0) return;
      const now = performance.now();
      const take = this.batchLength(now);
      if (take === 0) {
        const waitMs = this.queue[0].enqueuedAt + this.options.maxQueueDelayMicroseconds / 1000 - now;
        this.timer = setTimeout(() => {
          this.timer = undefined;
          this.pump();
        }, Math.max(0, Math.ceil(waitMs)));
        return;
      }
      this.dispatch(instance, this.queue.splice(0, take));
    }
  }

  /** How many requests from the head of the queue form the next batch now (0: keep waiting). */
  private batchLength(now: number): number {
    const prefixImages: number[] = [];
    let total = 0;
    for (const entry of this.queue) {
      if (total + entry.images > this.maxBatch) break;
      total += entry.images;
      prefixImages.push(total);
    }
    const full = total === this.maxBatch || prefixImages.length < this.queue.length;
    const waited = (now - this.queue[0].enqueuedAt) * 1000 >= this.options.maxQueueDelayMicroseconds;
    const preferred = this.options.preferredBatchSizes;
    let preferredLength = 0;
    for (let i = prefixImages.length - 1; i >= 0 && preferred.length > 0; i--) {
      if (preferred.includes(prefixImages[i])) {
        preferredLength = i + 1;
        break;
      }
    }
    if (preferredLength > 0 && !this.closing) return preferredLength;
    return full || waited || this.closing ? prefixImages.length : 0;
  }

  private dispatch(instance: number, entries: Pending[]): void {
    const images = entries.reduce((sum, e) => sum + e.images, 0);
    this.queuedImageCount -= images;
    const started = performance.now();
    for (const entry of entries) {
      entry.state = 'running';
      entry.startedAt = started;
    }
    const batch = this.assemble(instance, entries, images);
    this.busy[instance] = true;
    this.runningCount++;
    this.counts.batches++;
    this.counts.images += images;
    const [, c, h, w] = [images, ...this.imageShape];
    let run: Promise<Float32Array>;
    try {
      // The batch buffer stays unchanged until this run settles (the instance is busy until then)
      // and every request's values were checked at infer(): no copy or scan in the session.
      run = runOwnedInput(this.sessions[instance], batch, [images, c, h, w]);
    } catch (error) {
      run = Promise.reject(error);
    }
    run.then(
      (output) => {
        const computeMs = performance.now() - started;
        const expected = images * this.outputSize;
        if (!(output instanceof Float32Array) || output.length !== expected) {
          // Rows cut from a wrong-sized output would go to the wrong requests: fail the batch instead.
          const problem = new PlanError(
            `instance ${instance} returned ${describe(output)} for a batch of ${images} images; expected ${expected} float32 values (${images} x ${this.outputSize})`,
          );
          this.failBatch(instance, entries, images, computeMs, problem);
          return;
        }
        this.finishBatch(instance, images, entries.length, computeMs, true);
        let row = 0;
        for (const entry of entries) {
          entry.batchComputeMs = computeMs;
          const rows = output.slice(row * this.outputSize, (row + entry.images) * this.outputSize);
          row += entry.images;
          if (entry.state === 'running') this.succeed(entry, rows);
        }
        this.afterBatch();
      },
      (error: unknown) => this.failBatch(instance, entries, images, performance.now() - started, error),
    );
  }

  /**
   * The batch's input: a lone request's private copy as it is, otherwise every request's rows
   * copied straight into the instance's batch buffer (a handed-over array is always copied, so
   * the caller may reuse it once its promise settles even if the batch is still running).
   */
  private assemble(instance: number, entries: readonly Pending[], images: number): Float32Array {
    if (entries.length === 1 && !entries[0].borrowed) return entries[0].input;
    const buffer = (this.batchBuffers[instance] ??= new Float32Array(this.maxBatch * this.imageSize));
    let offset = 0;
    for (const entry of entries) {
      buffer.set(entry.input, offset);
      offset += entry.input.length;
    }
    return buffer.subarray(0, images * this.imageSize);
  }

  private failBatch(instance: number, entries: readonly Pending[], images: number, computeMs: number, error: unknown): void {
    this.finishBatch(instance, images, entries.length, computeMs, false);
    for (const entry of entries) {
      entry.batchComputeMs = computeMs;
      if (entry.state === 'running') this.fail(entry, error, 'error');
    }
    this.afterBatch();
  }

  private finishBatch(instance: number, images: number, requests: number, computeMs: number, ok: boolean): void {
    this.busy[instance] = false;
    this.runningCount--;
    notify(() => this.options.observer.batch?.({ instance, images, requests, computeMicroseconds: Math.round(computeMs * 1000), ok }));
  }

  private afterBatch(): void {
    this.pump();
    this.checkDrained();
  }

  private succeed(entry: Pending, rows: Float32Array): void {
    if (entry.state === 'settled') return;
    entry.state = 'settled';
    entry.cleanup();
    this.counts.succeeded++;
    this.report(entry, 'ok');
    entry.resolve(rows);
  }

  private fail(entry: Pending, error: unknown, outcome: Exclude<RequestOutcome, 'ok'>): void {
    if (entry.state === 'settled') return;
    if (entry.state === 'queued') {
      const index = this.queue.indexOf(entry);
      if (index >= 0) {
        this.queue.splice(index, 1);
        this.queuedImageCount -= entry.images;
      }
    }
    entry.state = 'settled';
    entry.cleanup();
    this.counts.failed++;
    if (outcome === 'timeout') this.counts.timedOut++;
    if (outcome === 'aborted') this.counts.aborted++;
    this.report(entry, outcome);
    entry.reject(error);
    // A removed head may change what the next batch should be.
    this.pump();
    this.checkDrained();
  }

  private report(entry: Pending, outcome: RequestOutcome): void {
    const now = performance.now();
    const queueMs = (entry.startedAt ?? now) - entry.enqueuedAt;
    const computeMs = entry.startedAt === undefined ? 0 : entry.batchComputeMs || now - entry.startedAt;
    notify(() =>
      this.options.observer.request?.({
        images: entry.images,
        queueMicroseconds: Math.round(queueMs * 1000),
        computeMicroseconds: Math.round(computeMs * 1000),
        totalMicroseconds: Math.round((now - entry.enqueuedAt) * 1000),
        outcome,
      }),
    );
  }

  private checkDrained(): void {
    if (this.drain !== undefined && this.queue.length === 0 && this.runningCount === 0) {
      if (this.timer !== undefined) clearTimeout(this.timer);
      this.drain.resolve();
    }
  }
}

/** An observer must never break the batcher. */
function notify(call: () => void): void {
  try {
    call();
  } catch {
    // Metrics callbacks are best effort.
  }
}

function abortedError(signal: AbortSignal, when: string): RequestAbortedError {
  return new RequestAbortedError(`the request was aborted ${when}`, { cause: signal.reason });
}
