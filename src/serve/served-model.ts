/**
 * One model of the repository: its sessions, its batcher (shared by HTTP and gRPC requests), its
 * statistics, and its life: loading, ready, unloading (the queue drains, then owned sessions are
 * freed), unavailable. A model whose config gave sessions keeps them across unload and load.
 */
import { createBatcher, type Batcher, type BatcherObserver } from '../batcher';
import { checkSessions } from '../batcher/options';
import { getModel } from '../models/registry';
import { createSession, type Session } from '../runtime/session';
import { readMemoryLimit } from '../system/cgroup';
import { defaultCpuThreads, describeThreads } from '../system/cpu-threads';
import type { MemoryFit } from '../system/memory-fit';
import { BodyPool } from './http';
import { checkCompiledMemory, checkWeightsFit, compiledMemory, splitThreads } from './resources';
import { MODEL_VERSION, signatureOf, type ModelContext } from './handlers';
import type { ServerMetrics } from './metrics';
import type { ResolvedModelConfig } from './model-config';
import type { ResolvedServeOptions } from './options';
import { ModelStatistics, type ModelStatisticsReport } from './statistics';
import { warmRunSizes, type WarmupReport } from './warmup';

export type ModelState = 'loading' | 'ready' | 'unloading' | 'unavailable';

/** Most bytes of infer body buffers kept for reuse per model (what the busiest moment needed, up to this). */
const BODY_POOL_BYTES = 256 * 1024 * 1024;

const NO_WARMUP: WarmupReport = Object.freeze({ sizes: 0, runs: 0, ms: 0 });

/** What a model's sessions may use of the machine or container. */
export interface ModelResources {
  /** E.g. 'threads 1 per instance (cgroup quota 2.0 CPU of 4, split over 2 instances)'. */
  readonly threads: string;
  /** The CPU sessions' weights + arena + workspace against the cgroup memory limit (describeMemoryFit prints it). */
  readonly memory: MemoryFit;
}

interface Loaded {
  readonly sessions: readonly Session[];
  readonly batcher: Batcher;
  readonly context: ModelContext;
  readonly warmup: WarmupReport;
  readonly resources: ModelResources;
}

export class ServedModel {
  private current: Loaded | undefined;
  private stateNow: ModelState = 'unavailable';
  private why = 'not loaded';
  private transition: Promise<void> | undefined;
  readonly statistics = new ModelStatistics();

  constructor(
    readonly config: ResolvedModelConfig,
    private readonly server: ResolvedServeOptions,
  ) {}

  private metrics: ServerMetrics | undefined;
  private observer: BatcherObserver | undefined;

  /** Where the model's metrics go (set once the server's metrics exist: their batch size buckets depend on the loaded models). */
  attachMetrics(metrics: ServerMetrics): void {
    this.metrics = metrics;
    this.observer = metrics.observer(this.name);
    const loaded = this.current;
    if (loaded !== undefined) metrics.addModel({ name: this.name, sessions: loaded.sessions, stats: () => loaded.batcher.stats });
  }

  get name(): string {
    return this.config.name;
  }

  get state(): ModelState {
    return this.stateNow;
  }

  /** Why the model is not ready ('' when it is). */
  get reason(): string {
    return this.stateNow === 'ready' ? '' : this.why;
  }

  /** The loaded model's parts; undefined unless ready or unloading. */
  get loaded(): Loaded | undefined {
    return this.current;
  }

  /** The batcher's stats now, zeros when nothing is loaded. */
  statisticsReport(): ModelStatisticsReport {
    return this.statistics.report(this.name, MODEL_VERSION, this.current?.batcher.stats.rejectedQueueFull ?? 0);
  }

  /** Creates (or takes) the sessions, the batcher and warms the batch sizes; waits for an unload in progress. Idempotent when ready. */
  async load(): Promise<void> {
    while (this.transition !== undefined) await this.transition;
    if (this.stateNow === 'ready') return;
    this.stateNow = 'loading';
    this.transition = this.doLoad().finally(() => (this.transition = undefined));
    return this.transition;
  }

  /** Refuses new requests, runs everything queued, then frees owned sessions. Idempotent when not loaded. */
  async unload(reason = 'unloaded'): Promise<void> {
    while (this.transition !== undefined) await this.transition;
    if (this.current === undefined) return;
    this.stateNow = 'unloading';
    this.why = `${reason}; draining its queue`;
    this.transition = this.doUnload(reason).finally(() => (this.transition = undefined));
    return this.transition;
  }

  private async doLoad(): Promise<void> {
    const owned = this.config.sessions === undefined;
    let sessions: readonly Session[] = [];
    try {
      const limit = readMemoryLimit();
      let threads: string;
      if (owned) ({ sessions, threads } = await this.createSessions(limit));
      else {
        sessions = [...checkSessions(this.config.sessions)];
        threads = callerThreads(sessions);
      }
      const memory = compiledMemory(sessions, limit);
      if (owned) checkCompiledMemory(memory, sessions);
      const resources: ModelResources = { threads, memory };
      const batcher = createBatcher(sessions, {
        maxBatch: this.config.maxBatch,
        maxQueueDelayMicroseconds: this.config.maxQueueDelayMicroseconds,
        preferredBatchSizes: this.config.preferredBatchSizes,
        maxQueueSize: this.config.maxQueueSize,
        observer: {
          batch: (e) => {
            this.statistics.batch(e);
            this.observer?.batch?.(e);
          },
          request: (e) => {
            this.statistics.request(e);
            this.observer?.request?.(e);
          },
        },
      });
      const info = sessions[0].info;
      const context: ModelContext = {
        name: this.name,
        info,
        signature: signatureOf(info, batcher.maxBatch),
        preprocessing: getModel(info.model).preprocessing,
        batcher,
        maxBodyBytes: this.server.maxBodyBytes,
        bodies: new BodyPool(BODY_POOL_BYTES),
        maxInputPixels: this.server.maxInputPixels,
        requestTimeoutMs: this.server.requestTimeoutMs,
      };
      let warmup = NO_WARMUP;
      if (this.server.warmup) {
        try {
          warmup = await warmRunSizes(sessions, batcher.maxBatch);
        } catch (error) {
          await batcher.close();
          throw error;
        }
      }
      this.current = { sessions, batcher, context, warmup, resources };
      this.metrics?.addModel({ name: this.name, sessions, stats: () => batcher.stats });
      this.stateNow = 'ready';
    } catch (error) {
      if (owned) await Promise.all(sessions.map((s) => s.dispose()));
      this.stateNow = 'unavailable';
      this.why = `loading failed: ${(error as Error).message}`;
      throw error;
    }
  }

  private async doUnload(reason: string): Promise<void> {
    const loaded = this.current as Loaded;
    await loaded.batcher.close();
    this.metrics?.removeModel(this.name);
    if (this.config.sessions === undefined) await Promise.all(loaded.sessions.map((s) => s.dispose()));
    this.current = undefined;
    this.stateNow = 'unavailable';
    this.why = reason;
  }

  private async createSessions(limit: ReturnType<typeof readMemoryLimit>): Promise<{ sessions: Session[]; threads: string }> {
    const base = this.config.session as NonNullable<ResolvedModelConfig['session']>;
    const instances = this.config.instances;
    // CPU instances split the CPU figure (the affinity mask capped by the cgroup quota) between them
    // unless told otherwise; CUDA sessions size their input copy by the same figure themselves.
    const cpu = base.device === undefined || base.device === 'cpu';
    const split = splitThreads(defaultCpuThreads(base.threads), instances);
    const maxBatch = base.maxBatch ?? this.config.maxBatch;
    const sessionOptions = { ...base, ...(cpu ? { threads: split.perInstance } : {}), ...(maxBatch === undefined ? {} : { maxBatch }) };
    // Refuse before reading any weights when even their lower bound cannot fit the memory limit
    // beside what the process holds now (models loaded earlier included).
    checkWeightsFit(sessionOptions, instances, limit);
    const sessions: Session[] = [];
    try {
      for (let i = 0; i < instances; i++) sessions.push(await createSession(sessionOptions));
    } catch (error) {
      await Promise.all(sessions.map((s) => s.dispose()));
      throw error;
    }
    return { sessions, threads: cpu ? split.text : `staging copy ${describeThreads(sessions[0]!.threads)}` };
  }
}

/** The threads text of sessions the caller made. */
function callerThreads(sessions: readonly Session[]): string {
  const first = sessions[0]!;
  const what = first.info.device === 'cpu' ? '' : 'staging copy ';
  return `${what}${describeThreads(first.threads)}${sessions.length > 1 ? ' per instance' : ''}`;
}
