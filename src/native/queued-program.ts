/**
 * What the CPU and CUDA programs share on the TypeScript side: argument checks before native
 * code sees a batch, and one queue per program so overlapping calls run one after another, or at
 * most `runsInFlight` at a time where the native program overlaps runs (a caller that forgets to
 * await gets a queue, not an error; a rejected call does not stop the next).
 */
import { DisposedError, type InceptionError, InvalidInputError, invalidParam } from '../errors';
import type { Plan } from '../plan/types';
import type { Program } from '../runtime/backend';
import { SerialQueue } from '../runtime/queue';
import { fromNativeError } from './native-errors';

/** The native half every backend's compiled program has. */
export interface NativeProgramHandle {
  run(input: Float32Array, n: number): Promise<Float32Array>;
  dispose(): void;
  readonly workspaceBytes: number;
  readonly weightBytes: number;
  readonly arenaBytes: number;
  /** Present where the native side tracks it; otherwise the wrapper does. */
  readonly disposed?: boolean;
}

export abstract class QueuedProgram<N extends NativeProgramHandle> implements Program {
  private readonly queue: SerialQueue;
  private disposedHere = false;
  protected readonly inputElementsPerImage: number;
  protected readonly maxBatch: number;

  constructor(
    protected readonly native: N,
    plan: Plan,
    runsInFlight = 1,
  ) {
    this.queue = new SerialQueue(runsInFlight);
    const input = plan.tensors[plan.input];
    this.inputElementsPerImage = input === undefined ? 0 : input.c * input.h * input.w;
    this.maxBatch = plan.batch;
  }

  /** How many runs this program lets its callers have in flight at once (Program.runsInFlight). */
  get runsInFlight(): number {
    return this.queue.depth;
  }

  get workspaceBytes(): number {
    return this.native.workspaceBytes;
  }
  get weightBytes(): number {
    return this.native.weightBytes;
  }
  get arenaBytes(): number {
    return this.native.arenaBytes;
  }

  protected get isDisposed(): boolean {
    return this.disposedHere || this.native.disposed === true;
  }

  run(input: Float32Array, n: number): Promise<Float32Array> {
    const problem = this.checkBatch('run', input, n);
    if (problem !== undefined) return Promise.reject(problem);
    return this.enqueue(() => this.native.run(input, n));
  }

  dispose(): void {
    this.disposedHere = true;
    this.native.dispose();
  }

  /** The rejection a call with these arguments gets, or undefined when they are fine. */
  protected checkBatch(method: string, input: unknown, n: number): InceptionError | undefined {
    if (this.isDisposed) return new DisposedError(`Program.${method} after dispose(): compile the plan again`);
    if (!(input instanceof Float32Array)) return invalidParam('input', 'a Float32Array', input);
    if (!Number.isInteger(n) || n < 1 || n > this.maxBatch) {
      return new InvalidInputError(`Expected an integer between 1 and ${this.maxBatch} for n but received ${String(n)}`);
    }
    if (input.length !== n * this.inputElementsPerImage) {
      return new InvalidInputError(`Expected a Float32Array of length ${n * this.inputElementsPerImage} for ${n} images but received length ${input.length}`);
    }
    return undefined;
  }

  /**
   * profile(input, n, repeats) of either backend: the run's batch checks, then 1 <= repeats <=
   * maxRepeats (the native module's own limit), then `call` queued like run().
   */
  protected enqueueProfile<T>(input: Float32Array, n: number, repeats: number, maxRepeats: number, call: () => Promise<T>): Promise<T> {
    const problem = this.checkBatch('profile', input, n);
    if (problem !== undefined) return Promise.reject(problem);
    if (!Number.isInteger(repeats) || repeats < 1 || repeats > maxRepeats) {
      return Promise.reject(invalidParam('repeats', `an integer between 1 and ${maxRepeats}`, repeats));
    }
    return this.enqueue(call);
  }

  /** Runs `call` in call order, at most runsInFlight at a time (one after another by default); native errors come back typed (fromNativeError). */
  protected enqueue<T>(call: () => Promise<T>): Promise<T> {
    return this.queue.push(async () => {
      try {
        return await call();
      } catch (error) {
        throw fromNativeError(error);
      }
    });
  }

  /**
   * For a call that must start on this turn of the event loop (it reads the caller's array now):
   * `start()` is called synchronously when the queue would start a call at once (nothing waiting,
   * fewer than runsInFlight running), after the batch checks, and its promise takes a place in the
   * queue. undefined (start not called) when calls are waiting or the queue is full, or when
   * `start()` returns null (the native side is still busy).
   */
  protected startIfIdle<T>(method: string, input: Float32Array, n: number, start: () => Promise<T> | null): Promise<T> | undefined {
    if (!this.queue.canStartNow) return undefined;
    const problem = this.checkBatch(method, input, n);
    if (problem !== undefined) return Promise.reject(problem);
    let started: Promise<T> | null;
    try {
      started = start();
    } catch (error) {
      return Promise.reject(fromNativeError(error));
    }
    if (started === null) return undefined;
    const running = started;
    return this.queue.push(() => running.catch((error: unknown) => Promise.reject(fromNativeError(error))));
  }
}
