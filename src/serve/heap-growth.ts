/**
 * V8's heap growing factor for a serving process. A server's JS heap is small (about 11 MB live
 * for `serve`) while every request moves megabytes of external memory through it: Node's socket
 * and HTTP/2 read buffers, and @grpc/grpc-js's joined message (a batch of eight 160x160 images is
 * 2.4 MB). V8 counts external memory allocated since the last full collection against the old
 * generation's limit, which it sets at a small multiple of the live heap, so under load `serve`
 * ran a full mark-compact every 4-6 requests. With a growing factor of 5 the limit is about 55
 * MB: 0-2 full collections in 40 gRPC calls of 2.4 MB, against 8-11 with V8's own factor, and
 * the server's JS thread spent 4.2-4.4 ms of CPU per call instead of 5.3-5.5 ms (2-core EPYC,
 * 2026-12-08). On cores shared with the model's compute threads, that time is taken from them.
 * The cost: up to ~45 MB more garbage held between collections.
 *
 * V8 reads the flag at every collection, so setting it at run time takes effect at the next one.
 * It is process-wide: the `serve` command sets it for its own process; an application embedding
 * createServer decides for itself (`node --heap-growing-percent=400 app.js`; the flag is not
 * allowed in NODE_OPTIONS).
 */
import { setFlagsFromString } from 'node:v8';
import { InvalidArgumentError } from '../errors';

/** The growing factor `serve` asks for, as V8's flag spells it: factor 1 + 400/100 = 5. */
export const SERVE_HEAP_GROWING_PERCENT = 400;

/** Environment variable that overrides it: a percentage, or 0 for V8's own dynamic factor. */
export const HEAP_GROWING_ENV = 'INCEPTION_SERVE_HEAP_GROWING_PERCENT';

/**
 * Sets V8's --heap-growing-percent for this process unless node was started with the flag, and
 * returns a line saying what was done, for the server's start-up output. Throws on a malformed
 * environment value rather than guessing.
 */
export function setServeHeapGrowth(execArgv: readonly string[] = process.execArgv, env: NodeJS.ProcessEnv = process.env): string {
  if (execArgv.some((arg) => /^--heap[-_]growing[-_]percent(=|$)/.test(arg))) return 'gc: heap growing factor as node was started (--heap-growing-percent)';
  const raw = env[HEAP_GROWING_ENV];
  let percent = SERVE_HEAP_GROWING_PERCENT;
  if (raw !== undefined && raw !== '') {
    if (!/^[0-9]{1,5}$/.test(raw)) throw new InvalidArgumentError(`${HEAP_GROWING_ENV} expects a whole percentage (0 for V8's own factor), got '${raw}'`);
    percent = Number(raw);
  }
  if (percent === 0) return `gc: V8's own heap growing factor (${HEAP_GROWING_ENV}=0)`;
  setFlagsFromString(`--heap-growing-percent=${percent}`);
  return `gc: heap growing factor ${1 + percent / 100} (fewer full collections under external-memory churn; ${HEAP_GROWING_ENV} sets it)`;
}
