/** Batcher options: the public shape and their validation against the sessions behind the queue. */
import { InvalidArgumentError, invalidParam } from '../errors';
import type { Session } from '../runtime/session';

export interface BatchEvent {
  /** Index of the session (instance) that ran the batch. */
  readonly instance: number;
  readonly images: number;
  readonly requests: number;
  readonly computeMicroseconds: number;
  readonly ok: boolean;
}

export type RequestOutcome = 'ok' | 'error' | 'timeout' | 'aborted';

export interface RequestEvent {
  readonly images: number;
  /** From infer() to the start of its batch (the whole wait when it never ran). */
  readonly queueMicroseconds: number;
  /** Its batch's run time (0 when it never ran). */
  readonly computeMicroseconds: number;
  readonly totalMicroseconds: number;
  readonly outcome: RequestOutcome;
}

/** Callbacks for metrics; called synchronously, exceptions are swallowed. */
export interface BatcherObserver {
  batch?(event: BatchEvent): void;
  request?(event: RequestEvent): void;
}

export interface BatcherOptions {
  /** Most images in one batch (default and upper bound: the smallest session maxBatch). */
  readonly maxBatch?: number;
  /** How long the oldest queued request may wait for others before a partial batch runs (default 0: run at once). */
  readonly maxQueueDelayMicroseconds?: number;
  /** Batch sizes (images) that run at once when the queue can form them, without waiting for the delay. */
  readonly preferredBatchSizes?: readonly number[];
  /** Most requests waiting (not yet running); infer() beyond it rejects with QueueFullError (default 1024). */
  readonly maxQueueSize?: number;
  /** Default per-request timeout in ms, queue plus compute (default: none). */
  readonly timeoutMs?: number;
  readonly observer?: BatcherObserver;
}

export interface ResolvedBatcherOptions {
  readonly maxBatch: number;
  readonly maxQueueDelayMicroseconds: number;
  readonly preferredBatchSizes: readonly number[];
  readonly maxQueueSize: number;
  readonly timeoutMs: number | undefined;
  readonly observer: BatcherObserver;
}

export const DEFAULT_MAX_QUEUE_SIZE = 1024;
/** One hour: anything longer is a unit mistake (seconds vs microseconds). */
const MAX_DELAY_US = 3_600_000_000;
const KNOWN_KEYS: readonly string[] = ['maxBatch', 'maxQueueDelayMicroseconds', 'preferredBatchSizes', 'maxQueueSize', 'timeoutMs', 'observer'];

function isIntegerIn(value: unknown, min: number, max: number): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= min && value <= max;
}

/** The sessions must agree on model, input and output shape; returns them as an array. */
export function checkSessions(sessions: unknown): readonly Session[] {
  const list = Array.isArray(sessions) ? sessions : [sessions];
  if (list.length === 0) throw invalidParam('sessions', 'a Session or a non-empty array of Sessions', sessions);
  list.forEach((s: unknown, i) => {
    const candidate = s as Partial<Session> | null;
    if (typeof candidate !== 'object' || candidate === null || typeof candidate.run !== 'function' || candidate.info === undefined) {
      throw invalidParam(`sessions[${i}]`, 'a Session from createSession()', s);
    }
  });
  const typed = list as Session[];
  const first = typed[0].info;
  typed.forEach((s, i) => {
    const { model, inputShape, outputShape } = s.info;
    if (model !== first.model || inputShape[2] !== first.inputShape[2] || inputShape[3] !== first.inputShape[3] || outputShape[1] !== first.outputShape[1]) {
      throw new InvalidArgumentError(
        `sessions[${i}] (${model}, input ${inputShape[2]}x${inputShape[3]}, output ${outputShape[1]}) differs from sessions[0] ` +
          `(${first.model}, input ${first.inputShape[2]}x${first.inputShape[3]}, output ${first.outputShape[1]}); ` +
          'every instance behind one batcher must run the same model at the same input size',
      );
    }
  });
  return typed;
}

export function resolveBatcherOptions(options: unknown, sessions: readonly Session[]): ResolvedBatcherOptions {
  const opts = (options ?? {}) as Record<string, unknown>;
  if (typeof opts !== 'object' || Array.isArray(opts)) throw invalidParam('batcher options', 'an object', options);
  const unknown = Object.keys(opts).filter((k) => !KNOWN_KEYS.includes(k));
  if (unknown.length > 0) throw new InvalidArgumentError(`Unknown batcher option '${unknown[0]}'; the options are: ${KNOWN_KEYS.join(', ')}`);

  const limit = Math.min(...sessions.map((s) => s.info.maxBatch));
  const maxBatch = opts.maxBatch ?? limit;
  if (!isIntegerIn(maxBatch, 1, limit)) {
    throw invalidParam('maxBatch', `an integer in [1, ${limit}] (the smallest session maxBatch; create the sessions with a larger maxBatch to raise it)`, maxBatch);
  }
  const delay = opts.maxQueueDelayMicroseconds ?? 0;
  if (!isIntegerIn(delay, 0, MAX_DELAY_US)) throw invalidParam('maxQueueDelayMicroseconds', `an integer in [0, ${MAX_DELAY_US}]`, delay);
  const preferred = opts.preferredBatchSizes ?? [];
  if (!Array.isArray(preferred) || !preferred.every((p: unknown) => isIntegerIn(p, 1, maxBatch))) {
    throw invalidParam('preferredBatchSizes', `an array of integers in [1, ${maxBatch}] (maxBatch)`, preferred);
  }
  const maxQueueSize = opts.maxQueueSize ?? DEFAULT_MAX_QUEUE_SIZE;
  if (!isIntegerIn(maxQueueSize, 1, 1_000_000)) throw invalidParam('maxQueueSize', 'an integer in [1, 1000000]', maxQueueSize);
  const timeoutMs = opts.timeoutMs;
  if (timeoutMs !== undefined && !isIntegerIn(timeoutMs, 1, 2_147_483_647)) throw invalidParam('timeoutMs', 'a positive integer (milliseconds)', timeoutMs);
  const observer = opts.observer ?? {};
  if (typeof observer !== 'object' || observer === null) throw invalidParam('observer', 'an object with batch/request callbacks', observer);
  return {
    maxBatch,
    maxQueueDelayMicroseconds: delay,
    preferredBatchSizes: [...new Set(preferred as number[])].sort((a, b) => a - b),
    maxQueueSize,
    timeoutMs,
    observer: observer as BatcherObserver,
  };
}
