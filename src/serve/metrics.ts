/**
 * Prometheus metrics of one server, on its own prom-client Registry (never the global one), every
 * series labelled with its model (requests to no model, e.g. /metrics, have model="").
 * Names are `inception_*`; durations are microseconds. Average batch size =
 * inception_inference_count_total / inception_batch_execution_count_total.
 */
import { performance } from 'node:perf_hooks';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { BatcherObserver, BatcherStats } from '../batcher';
import type { Session } from '../runtime/session';

/**
 * How long a rendered /metrics text is answered again (ms). A render takes milliseconds of the
 * event loop; 20,000 pipelined scrapes each rendering put a concurrent health check at 4.5 s.
 * Scrapers ask every 10-60 s, so one second of staleness costs them nothing.
 */
export const METRICS_CACHE_MS = 1000;

/** HTTP requests received and not yet answered; `waiting` of them pipelined behind an earlier request on their connection. */
export interface OpenRequests {
  readonly open: number;
  readonly waiting: number;
}

const DURATION_BUCKETS_US = [100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000, 1_000_000, 2_500_000, 5_000_000, 10_000_000];

/** What the per-model gauges read. */
export interface MetricsModel {
  readonly name: string;
  readonly sessions: readonly Session[];
  stats(): BatcherStats;
}

export class ServerMetrics {
  readonly registry = new Registry();
  private readonly success: Counter<'model' | 'endpoint'>;
  private readonly failure: Counter<'model' | 'endpoint' | 'status'>;
  private readonly inferences: Counter<'model'>;
  private readonly batches: Counter<'model'>;
  private readonly queueUs: Histogram<'model'>;
  private readonly computeUs: Histogram<'model'>;
  private readonly totalUs: Histogram<'model'>;
  private readonly batchSize: Histogram<'model'>;
  private readonly memoryGauges: Gauge<'model' | 'instance'>[] = [];
  private readonly models = new Map<string, MetricsModel>();
  private cached: { readonly bytes: Buffer; readonly at: number } | undefined;
  private rendering: Promise<Buffer> | undefined;

  /** `maxBatch`: the largest batch of any model (the batch size histogram has one bucket per size up to it). */
  constructor(maxBatch: number, requests: () => OpenRequests) {
    const registers = [this.registry];
    const models = this.models;
    this.success = new Counter({ name: 'inception_request_success_total', help: 'Requests (HTTP and gRPC) answered with success', labelNames: ['model', 'endpoint'], registers });
    this.failure = new Counter({
      name: 'inception_request_failure_total',
      help: 'Requests answered with an error (HTTP status, or the gRPC code name)',
      labelNames: ['model', 'endpoint', 'status'],
      registers,
    });
    this.inferences = new Counter({ name: 'inception_inference_count_total', help: 'Images inferred (sum of batch sizes)', labelNames: ['model'], registers });
    this.batches = new Counter({ name: 'inception_batch_execution_count_total', help: 'Batches run by the model instances', labelNames: ['model'], registers });
    const histogram = (name: string, help: string): Histogram<'model'> =>
      new Histogram({ name, help, labelNames: ['model'], buckets: DURATION_BUCKETS_US, registers });
    this.queueUs = histogram('inception_queue_duration_us', 'Time a request waited in the batcher queue, microseconds');
    this.computeUs = histogram('inception_compute_duration_us', "Run time of a request's batch, microseconds");
    this.totalUs = histogram('inception_request_duration_us', 'Time from queueing to result of a request in the batcher, microseconds');
    const sizes = Array.from({ length: maxBatch }, (_, i) => i + 1);
    this.batchSize = new Histogram({ name: 'inception_batch_size', help: 'Images per executed batch', labelNames: ['model'], buckets: sizes, registers });
    const perModel = (name: string, help: string, read: (stats: BatcherStats) => number): void => {
      new Gauge({
        name,
        help,
        labelNames: ['model'],
        registers,
        collect() {
          this.reset();
          for (const model of models.values()) this.set({ model: model.name }, read(model.stats()));
        },
      });
    };
    perModel('inception_queue_depth', 'Requests waiting in the batcher queue', (s) => s.queuedRequests);
    perModel('inception_running_batches', 'Batches running now (at most one per instance)', (s) => s.runningBatches);
    new Gauge({
      name: 'inception_http_open_requests',
      help: 'HTTP requests received and not yet answered (pipelined ones waiting their turn included)',
      registers,
      collect() {
        this.set(requests().open);
      },
    });
    new Gauge({
      name: 'inception_http_pipelined_waiting_requests',
      help: 'HTTP requests waiting for an earlier request on their connection to be answered',
      registers,
      collect() {
        this.set(requests().waiting);
      },
    });
    const memory = (name: string, help: string, field: 'arenaBytes' | 'weightBytes' | 'workspaceBytes'): void => {
      this.memoryGauges.push(
        new Gauge({
          name,
          help,
          labelNames: ['model', 'instance'],
          registers,
          collect() {
            this.reset();
            for (const model of models.values()) model.sessions.forEach((s, i) => this.set({ model: model.name, instance: String(i) }, s.memory[field]));
          },
        }),
      );
    };
    memory('inception_arena_bytes', 'Activation arena bytes per instance', 'arenaBytes');
    memory('inception_weight_bytes', 'Prepared weight bytes per instance', 'weightBytes');
    memory('inception_workspace_bytes', 'Backend scratch bytes per instance', 'workspaceBytes');
    collectDefaultMetrics({ register: this.registry });
  }

  /** Starts reporting a loaded model's gauges. */
  addModel(model: MetricsModel): void {
    this.models.set(model.name, model);
  }

  /** Stops reporting an unloaded model's gauges (its counters keep their totals). */
  removeModel(name: string): void {
    this.models.delete(name);
  }

  /**
   * The Prometheus text as UTF-8: rendered at most once per METRICS_CACHE_MS, and once for all
   * callers while a render runs. Encoded once, so that every answer writes the same bytes (a
   * string is encoded again for each write: 9 KB of garbage an answer).
   */
  text(): Promise<Buffer> {
    const cached = this.cached;
    if (cached !== undefined && performance.now() - cached.at < METRICS_CACHE_MS) return Promise.resolve(cached.bytes);
    this.rendering ??= this.registry.metrics().then(
      (text) => {
        const bytes = Buffer.from(text);
        this.cached = { bytes, at: performance.now() };
        this.rendering = undefined;
        return bytes;
      },
      (error: unknown) => {
        this.rendering = undefined;
        throw error;
      },
    );
    return this.rendering;
  }

  /** One answered request; `status` is an HTTP status or a gRPC code name ('OK' is success). */
  request(model: string, endpoint: string, status: number | string): void {
    const ok = typeof status === 'number' ? status < 400 : status === 'OK';
    if (ok) this.success.inc({ model, endpoint });
    else this.failure.inc({ model, endpoint, status: String(status) });
  }

  /** The batcher observer of one model. */
  observer(model: string): BatcherObserver {
    return {
      batch: (event) => {
        if (!event.ok) return;
        this.batches.inc({ model });
        this.inferences.inc({ model }, event.images);
        this.batchSize.observe({ model }, event.images);
      },
      request: (event) => {
        this.queueUs.observe({ model }, event.queueMicroseconds);
        if (event.outcome !== 'ok') return;
        this.computeUs.observe({ model }, event.computeMicroseconds);
        this.totalUs.observe({ model }, event.totalMicroseconds);
      },
    };
  }
}
