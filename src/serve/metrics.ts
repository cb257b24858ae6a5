/**
 * Prometheus metrics of one server, on its own prom-client Registry (never the global one).
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
  private cached: { readonly bytes: Buffer; readonly at: number } | undefined;
  private rendering: Promise<Buffer> | undefined;

  constructor(
    private readonly model: string,
    maxBatch: number,
    sessions: readonly Session[],
    stats: () => BatcherStats,
    requests: () => OpenRequests,
  ) {
    const registers = [this.registry];
    this.success = new Counter({ name: 'inception_request_success_total', help: 'HTTP requests answered with a 2xx status', labelNames: ['model', 'endpoint'], registers });
    this.failure = new Counter({
      name: 'inception_request_failure_total',
      help: 'HTTP requests answered with an error status',
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
    new Gauge({
      name: 'inception_queue_depth',
      help: 'Requests waiting in the batcher queue',
      labelNames: ['model'],
      registers,
      collect() {
        this.set({ model }, stats().queuedRequests);
      },
    });
    new Gauge({
      name: 'inception_running_batches',
      help: 'Batches running now (at most one per instance)',
      labelNames: ['model'],
      registers,
      collect() {
        this.set({ model }, stats().runningBatches);
      },
    });
    new Gauge({
      name: 'inception_http_open_requests',
      help: 'HTTP requests received and not yet answered (pipelined ones waiting their turn included)',
      labelNames: ['model'],
      registers,
      collect() {
        this.set({ model }, requests().open);
      },
    });
    new Gauge({
      name: 'inception_http_pipelined_waiting_requests',
      help: 'HTTP requests waiting for an earlier request on their connection to be answered',
      labelNames: ['model'],
      registers,
      collect() {
        this.set({ model }, requests().waiting);
      },
    });
    const memory = (name: string, help: string, field: 'arenaBytes' | 'weightBytes' | 'workspaceBytes'): void => {
      const gauge = new Gauge({ name, help, labelNames: ['model', 'instance'], registers });
      sessions.forEach((s, i) => gauge.set({ model, instance: String(i) }, s.memory[field]));
    };
    memory('inception_arena_bytes', 'Activation arena bytes per instance', 'arenaBytes');
    memory('inception_weight_bytes', 'Prepared weight bytes per instance', 'weightBytes');
    memory('inception_workspace_bytes', 'Backend scratch bytes per instance', 'workspaceBytes');
    collectDefaultMetrics({ register: this.registry });
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

  request(endpoint: string, status: number): void {
    if (status < 400) this.success.inc({ model: this.model, endpoint });
    else this.failure.inc({ model: this.model, endpoint, status: String(status) });
  }

  readonly observer: BatcherObserver = {
    batch: (event) => {
      if (!event.ok) return;
      this.batches.inc({ model: this.model });
      this.inferences.inc({ model: this.model }, event.images);
      this.batchSize.observe({ model: this.model }, event.images);
    },
    request: (event) => {
      this.queueUs.observe({ model: this.model }, event.queueMicroseconds);
      if (event.outcome !== 'ok') return;
      this.computeUs.observe({ model: this.model }, event.computeMicroseconds);
      this.totalUs.observe({ model: this.model }, event.totalMicroseconds);
    },
  };
}
