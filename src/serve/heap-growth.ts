/**
 * Garbage-collection headroom for a serving process. A server's JS heap is small (about 11 MB
 * live for `serve`) while every request moves megabytes of external memory through it: Node's
 * socket and HTTP/2 read buffers, and @grpc/grpc-js's joined message (a batch of eight 160x160
 * images is 2.4 MB). V8 counts external memory allocated since the last full collection against
 * the old generation's limit, which it sets at a small multiple of the live heap (its growing
 * factor), so under load `serve` ran a full mark-compact every 4-6 requests: 8-11 in 40 gRPC
 * calls of 2.4 MB. Each took main-thread time from a process whose model shares the cores.
 *
 * `serve` therefore gives the heap a fixed headroom over its live size instead: after every full
 * collection it sets V8's --heap-growing-percent so that the next limit is about live + headroom
 * (48 MiB by default). With an 11 MB heap that is a factor of ~5: 2 full collections in the same
 * 40 calls against 8-11, and 4.0-4.1 ms of JS-thread CPU per call instead of 5.1-5.5 ms (2-core EPYC,
 * 2026-12-08). A fixed factor instead (5 was tried) also multiplies a large live heap: after
 * 20,000 pipelined requests an idle server held 154 MB more than before them, since the flag
 * also overrides the small factors V8 uses when it shrinks the heap; with a fixed headroom alone
 * it still can (the same +154 MB with 48 MiB: the limit sits over the live heap of the burst).
 *
 * Once the server has had no work for two seconds and its heap has grown by 8 MiB since the last
 * full collection, it runs one (IdleCollector), so that an idle server gives back what a burst left.
 *
 * V8 reads the flag whenever it computes a limit, so setting it at run time takes effect at the
 * next full collection. It is process-wide: the `serve` command sets it for its own process; an
 * application embedding createServer decides for itself.
 */
import { constants as perfConstants, PerformanceObserver } from 'node:perf_hooks';
import { getHeapStatistics, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { InvalidArgumentError } from '../errors';

/** Headroom over the live heap that `serve` asks for, MiB. */
export const SERVE_GC_HEADROOM_MIB = 48;

/** Environment variable that overrides it: MiB, or 0 for V8's own growing factor. */
export const GC_HEADROOM_ENV = 'INCEPTION_SERVE_GC_HEADROOM_MB';

/** Bounds of the percentage set: a factor between 1.1 and 11. */
const MIN_PERCENT = 10;
const MAX_PERCENT = 1000;

/** The --heap-growing-percent that puts the next limit about `headroomBytes` over `liveBytes`. */
export function headroomPercent(liveBytes: number, headroomBytes: number): number {
  if (!(liveBytes > 0)) return MAX_PERCENT;
  return Math.min(MAX_PERCENT, Math.max(MIN_PERCENT, Math.round((100 * headroomBytes) / liveBytes)));
}

/** What the environment and node's flags ask for; parsed before the server starts. */
export interface GcHeadroomSetting {
  /** Headroom over the live heap, bytes; 0 leaves V8's own growing factor (and no idle collection). */
  readonly headroomBytes: number;
  /** What is done, for the server's start-up output. */
  readonly line: string;
}

/**
 * Reads the setting: node's own --heap-growing-percent wins, then GC_HEADROOM_ENV (MiB, 0 for
 * V8's own factor), else SERVE_GC_HEADROOM_MIB. Throws InvalidArgumentError on a malformed value
 * rather than guessing.
 */
export function gcHeadroomSetting(execArgv: readonly string[] = process.execArgv, env: NodeJS.ProcessEnv = process.env): GcHeadroomSetting {
  if (execArgv.some((arg) => /^--heap[-_]growing[-_]percent(=|$)/.test(arg))) {
    return { headroomBytes: 0, line: 'gc: heap growing factor as node was started (--heap-growing-percent)' };
  }
  const raw = env[GC_HEADROOM_ENV];
  let mib = SERVE_GC_HEADROOM_MIB;
  if (raw !== undefined && raw !== '') {
    if (!/^[0-9]{1,5}$/.test(raw)) throw new InvalidArgumentError(`${GC_HEADROOM_ENV} expects a whole number of MiB (0 for V8's own growing factor), got '${raw}'`);
    mib = Number(raw);
  }
  if (mib === 0) return { headroomBytes: 0, line: `gc: V8's own heap growing factor (${GC_HEADROOM_ENV}=0)` };
  return {
    headroomBytes: mib * 2 ** 20,
    line: `gc: ${mib} MiB of heap headroom over the live heap, and a full collection once idle (fewer collections under requests of megabytes; ${GC_HEADROOM_ENV} sets it, 0 for V8's own)`,
  };
}

/** Whole ticks without work before an idle collection, and the tick. */
export const IDLE_TICKS = 2;
export const IDLE_TICK_MS = 1000;
/** Heap grown since the last full collection that makes an idle one worth running. */
export const IDLE_GARBAGE_BYTES = 8 * 2 ** 20;

/**
 * One full collection when the server has had no work for IDLE_TICKS ticks and its heap has grown
 * by IDLE_GARBAGE_BYTES since the last full collection. V8 does not collect an idle heap soon (its
 * memory reducer waits 8 s and more), and with headroom a burst can leave it well over its live
 * size: after 20,000 pipelined requests, 154 MB of RSS more than before them, 10 s after the last
 * connection closed. Each tick reads the clock-free state it is given, so tests drive it directly.
 */
export class IdleCollector {
  private idleTicks = 0;
  private afterFullBytes: number;

  constructor(
    private readonly busy: () => boolean,
    private readonly heapUsedBytes: () => number,
    private readonly collect: () => void,
  ) {
    this.afterFullBytes = heapUsedBytes();
  }

  /** Notes a full collection that V8 ran by itself. */
  collected(): void {
    this.afterFullBytes = this.heapUsedBytes();
  }

  /** Returns true when it ran a collection. */
  tick(): boolean {
    if (this.busy()) {
      this.idleTicks = 0;
      return false;
    }
    this.idleTicks++;
    if (this.idleTicks < IDLE_TICKS || this.heapUsedBytes() - this.afterFullBytes < IDLE_GARBAGE_BYTES) return false;
    this.collect();
    this.afterFullBytes = this.heapUsedBytes();
    this.idleTicks = 0;
    return true;
  }
}

/** A function that runs a full collection, or undefined where V8 does not give one. */
function fullCollection(): (() => void) | undefined {
  try {
    setFlagsFromString('--expose-gc');
    const gc: unknown = runInNewContext('gc');
    return typeof gc === 'function' ? () => void (gc as () => void)() : undefined;
  } catch {
    return undefined;
  }
}

export interface GcHeadroom {
  /** Stops following collections and gives V8 its own factor back. */
  stop(): void;
}

/**
 * Follows full collections and keeps V8's growing factor at live + headroom, and runs one full
 * collection once the server is idle (IdleCollector). Does nothing for a setting of 0.
 */
export function startGcHeadroom(setting: GcHeadroomSetting, busy: () => boolean): GcHeadroom {
  if (setting.headroomBytes === 0) return { stop: () => {} };
  const heapUsed = (): number => getHeapStatistics().used_heap_size;
  let percent = 0;
  const follow = (): void => {
    const next = headroomPercent(heapUsed(), setting.headroomBytes);
    if (next === percent) return;
    percent = next;
    setFlagsFromString(`--heap-growing-percent=${percent}`);
  };
  follow();
  const collect = fullCollection();
  const idle = collect === undefined ? undefined : new IdleCollector(busy, heapUsed, collect);
  const observer = new PerformanceObserver((list) => {
    if (list.getEntries().some((entry) => (entry as unknown as { detail?: { kind?: number } }).detail?.kind === perfConstants.NODE_PERFORMANCE_GC_MAJOR)) {
      follow();
      idle?.collected();
    }
  });
  observer.observe({ entryTypes: ['gc'] });
  const timer = idle === undefined ? undefined : setInterval(() => idle.tick(), IDLE_TICK_MS).unref();
  return {
    stop: () => {
      clearInterval(timer);
      observer.disconnect();
      setFlagsFromString('--heap-growing-percent=0');
    },
  };
}
