/**
 * The statistics extension of the inference protocol, per model: requests that succeeded and
 * failed (count and cumulative time), time spent queued and computing, images inferred and
 * batches run. Fed by the model's batcher observer; answered by GET /v2/models/{m}/stats and
 * the gRPC ModelStatistics RPC (field names as Triton's, durations in nanoseconds).
 */
import type { BatchEvent, RequestEvent } from '../batcher';

export interface StatisticDuration {
  readonly count: number;
  readonly ns: number;
}

export interface InferStatistics {
  readonly success: StatisticDuration;
  readonly fail: StatisticDuration;
  readonly queue: StatisticDuration;
  readonly compute_input: StatisticDuration;
  readonly compute_infer: StatisticDuration;
  readonly compute_output: StatisticDuration;
}

export interface ModelStatisticsReport {
  readonly name: string;
  readonly version: string;
  /** Milliseconds since the epoch of the last request that finished (0: none yet). */
  readonly last_inference: number;
  /** Images inferred (a request of k images counts k). */
  readonly inference_count: number;
  /** Batches run. */
  readonly execution_count: number;
  readonly inference_stats: InferStatistics;
}

class Duration {
  count = 0;
  ns = 0;
  add(microseconds: number): void {
    this.count++;
    this.ns += Math.round(microseconds * 1000);
  }
  get value(): StatisticDuration {
    return { count: this.count, ns: this.ns };
  }
}

const NONE: StatisticDuration = Object.freeze({ count: 0, ns: 0 });

export class ModelStatistics {
  private readonly success = new Duration();
  private readonly fail = new Duration();
  private readonly queue = new Duration();
  private readonly compute = new Duration();
  private images = 0;
  private batches = 0;
  private last = 0;

  batch(event: BatchEvent): void {
    if (!event.ok) return;
    this.batches++;
    this.images += event.images;
  }

  request(event: RequestEvent): void {
    this.last = Date.now();
    this.queue.add(event.queueMicroseconds);
    if (event.outcome === 'ok') {
      this.success.add(event.totalMicroseconds);
      this.compute.add(event.computeMicroseconds);
    } else {
      this.fail.add(event.totalMicroseconds);
    }
  }

  /** `refused`: requests turned away because the queue was full (failures that took no time). */
  report(name: string, version: string, refused: number): ModelStatisticsReport {
    return {
      name,
      version,
      last_inference: this.last,
      inference_count: this.images,
      execution_count: this.batches,
      inference_stats: {
        success: this.success.value,
        fail: { count: this.fail.count + refused, ns: this.fail.ns },
        queue: this.queue.value,
        // Input and output copies happen inside a batch's run: counted in compute_infer.
        compute_input: NONE,
        compute_infer: this.compute.value,
        compute_output: NONE,
      },
    };
  }
}
