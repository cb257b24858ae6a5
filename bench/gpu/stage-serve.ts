/**
 * Stage `serve`: the HTTP server on the GPU. For fp32 and fp16, inception_v4 at 299 (plain
 * synthetic weights: the networks stage's checkpoint in the work dir when present), one
 * createServer in this process (maxBatch 64, 2 ms queue delay, 127.0.0.1, a free port), loaded
 * over loopback by serve-load.ts in a worker thread:
 *   (a) in-process session.run at batch 64 (the server's own session): images/s, ms per batch;
 *   (b) batch-8 binary requests on 16 connections (saturated): images/s, p50/p99, average batch,
 *       ratio to (a);
 *   (c) 1-image requests on 64 connections (dynamic batching): images/s, p50/p99, average batch;
 *       p99 must be <= the queue delay + 2 x (a)'s batch-64 time (a request waits for at most
 *       the batch running when it arrives, then runs in the next);
 *   (d) every response compared with the server session's own batch-64 run of the same images;
 *   (e) process RSS after warm-up and after the load phases.
 * Bounded: every phase stops at a request count or a time limit; the stage takes ~40 s on an H200.
 *
 * INCEPTION_SERVE_STAGE_DEVICE=cpu runs the same logic on the CPU (inception_resnet_v1 at
 * INCEPTION_SERVE_STAGE_SIZE, default 96; fp32 only; INCEPTION_SERVE_STAGE_SECONDS per phase,
 * default 3) to check the stage without a GPU.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { ModelName } from '../../src/models/types';
import type { CudaPrecision } from '../../src/runtime/backend';
import type { SessionOptions } from '../../src/runtime/options';
import { createServer, type InferenceServer } from '../../src/serve';
import { generateInput } from '../../src/weights/synthetic';
import { LoadClient, type LoadPhase, type LoadPool, type LoadResult } from './serve-load';
import { type Args, errorText, log, mib, saveStage } from './suite-common';

export const MAX_BATCH = 64;
export const QUEUE_DELAY_US = 2000;
/** RSS may grow this much over the load phases (after warm-up): request bodies in flight and GC slack, not a leak. */
export const RSS_GROWTH_LIMIT = 0.25;

/**
 * Per-row rel-L2 of a served row vs the same image in the in-process batch-64 run. The server
 * runs each image in whatever batch size the batcher formed, and the CUDA program chooses its
 * algorithms per batch size, so rows need not be bit-identical. fp32 (TF32 off): both runs are
 * within ~4e-7 of float64 on the H200 (networks stage), so <= 1e-6. fp16: both within ~7e-4 of
 * float64, so their difference is within twice that: <= 2e-3. Either bound must be below the
 * smallest rel-L2 between two different images' rows (checked), so a row of another image fails.
 */
export const ROW_BOUND: Readonly<Record<CudaPrecision, number>> = { fp32: 1e-6, tf32: 5e-3, fp16: 2e-3 };

interface StageConfig {
  readonly device: 'cuda' | 'cpu';
  readonly model: ModelName;
  readonly size: number;
  readonly precisions: readonly CudaPrecision[];
  readonly inProcessSeconds: number;
  readonly loadSeconds: number;
  readonly warmupSeconds: number;
}

function stageConfig(): StageConfig {
  if (process.env.INCEPTION_SERVE_STAGE_DEVICE === 'cpu') {
    const seconds = Number(process.env.INCEPTION_SERVE_STAGE_SECONDS ?? '3');
    const size = Number(process.env.INCEPTION_SERVE_STAGE_SIZE ?? '96');
    return { device: 'cpu', model: 'inception_resnet_v1', size, precisions: ['fp32'], inProcessSeconds: seconds, loadSeconds: seconds, warmupSeconds: 1 };
  }
  return { device: 'cuda', model: 'inception_v4', size: 299, precisions: ['fp32', 'fp16'], inProcessSeconds: 3, loadSeconds: 6, warmupSeconds: 1.5 };
}

export interface InProcessRow {
  readonly batch: number;
  readonly runs: number;
  readonly imagesPerSecond: number;
  readonly msPerBatchP50: number;
  readonly msPerBatchP99: number;
}

export interface PhaseRow extends LoadResult {
  /** Images per executed batch over the phase (batcher stats). */
  readonly averageBatch: number;
  /** Share of the phase's batches that were full (maxBatch images). */
  readonly fullBatchShare: number;
  readonly ratioToInProcess: number;
}

export interface ServeCheck {
  readonly name: string;
  readonly pass: boolean;
  readonly detail: string;
}

export interface ServeRow {
  precision: CudaPrecision;
  weights: string;
  createMs?: number;
  inProcess?: InProcessRow;
  /** Smallest per-row rel-L2 between two different images' reference rows. */
  distinctRowRelL2?: number;
  rowBound: number;
  batch8?: PhaseRow;
  single?: PhaseRow;
  p99BoundMs?: number;
  rssAfterWarmupBytes?: number;
  rssAfterLoadBytes?: number;
  /** inception_batch_execution_count_total from GET /metrics at the end, and the batcher's count. */
  metricsBatches?: number;
  statsBatches?: number;
  closeMs?: number;
  error?: string;
}

const percentile = (sorted: readonly number[], p: number): number => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
const rss = (): number => process.memoryUsage.rss();

async function inProcess(server: InferenceServer, input: Float32Array, size: number, seconds: number): Promise<InProcessRow> {
  const session = server.sessions[0]!;
  const shape = [MAX_BATCH, 3, size, size] as const;
  for (let i = 0; i < 3; i++) await session.run(input, shape);
  const times: number[] = [];
  const start = performance.now();
  while (times.length < 500 && (times.length < 5 || performance.now() - start < seconds * 1000)) {
    const t = performance.now();
    await session.run(input, shape);
    times.push(performance.now() - t);
  }
  const elapsed = (performance.now() - start) / 1000;
  times.sort((a, b) => a - b);
  return { batch: MAX_BATCH, runs: times.length, imagesPerSecond: (times.length * MAX_BATCH) / elapsed, msPerBatchP50: percentile(times, 50), msPerBatchP99: percentile(times, 99) };
}

/** Smallest rel-L2 between row i and row j != i over neighbouring pairs (i, i+1) and (i, i+k/2). */
function distinctRowRelL2(rows: Float32Array, count: number, classes: number): number {
  let smallest = Infinity;
  const rel = (i: number, j: number): number => {
    let d = 0;
    let r = 0;
    for (let c = 0; c < classes; c++) {
      const a = rows[i * classes + c]!;
      const b = rows[j * classes + c]!;
      d += (a - b) * (a - b);
      r += b * b;
    }
    return Math.sqrt(d / Math.max(r, Number.MIN_VALUE));
  };
  for (let i = 0; i < count; i++) smallest = Math.min(smallest, rel(i, (i + 1) % count), rel(i, (i + count / 2) % count));
  return smallest;
}

/** Batches of exactly maxBatch images in the server's batch-size histogram (cumulative buckets). */
async function fullBatches(server: InferenceServer): Promise<number> {
  const metric = (await server.registry.getMetricsAsJSON()).find((m) => m.name === 'inception_batch_size');
  const bucket = (le: string): number =>
    (metric?.values ?? []).find((v) => (v as { metricName?: string }).metricName === 'inception_batch_size_bucket' && String(v.labels.le) === le)?.value ?? NaN;
  return bucket('+Inf') - bucket(String(MAX_BATCH - 1));
}

async function measuredPhase(server: InferenceServer, client: LoadClient, phase: LoadPhase, inProcessRate: number): Promise<PhaseRow> {
  const before = { stats: server.batcher.stats, full: await fullBatches(server) };
  const result = await client.run(phase);
  const after = { stats: server.batcher.stats, full: await fullBatches(server) };
  const batches = after.stats.batches - before.stats.batches;
  return {
    ...result,
    averageBatch: (after.stats.images - before.stats.images) / batches,
    fullBatchShare: (after.full - before.full) / batches,
    ratioToInProcess: result.imagesPerSecond / inProcessRate,
  };
}

async function metricsBatchCount(url: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith('inception_batch_execution_count_total{'));
  return line === undefined ? NaN : Number(line.slice(line.lastIndexOf(' ') + 1));
}

function describePhase(name: string, r: PhaseRow): string {
  return (
    `${name}: ${r.imagesPerSecond.toFixed(1)} img/s (${(r.ratioToInProcess * 100).toFixed(0)}% of in-process), ${r.ok}/${r.requests} ok in ${r.seconds.toFixed(1)} s, ` +
    `p50 ${r.p50Ms.toFixed(1)} ms p99 ${r.p99Ms.toFixed(1)} ms max ${r.maxMs.toFixed(1)} ms, average batch ${r.averageBatch.toFixed(1)} (${(r.fullBatchShare * 100).toFixed(0)}% full), ` +
    `checked ${r.checked} (identical ${r.identical}, wrong ${r.wrong}, worst row rel-L2 ${r.worstRelL2.toExponential(2)})${r.errors > 0 ? `, ${r.errors} errors: ${r.errorSamples.join(' | ')}` : ''}`
  );
}

async function serveRow(args: Args, config: StageConfig, precision: CudaPrecision): Promise<ServeRow> {
  const checkpoint = join(args.work, `${config.model}_plain.safetensors`);
  const weights: SessionOptions['weights'] = existsSync(checkpoint) ? checkpoint : { synthetic: 'plain' };
  const row: ServeRow = { precision, weights: typeof weights === 'string' ? weights : 'synthetic plain', rowBound: ROW_BOUND[precision] };
  const size = config.size;
  let server: InferenceServer | undefined;
  let client: LoadClient | undefined;
  try {
    const c0 = performance.now();
    server = await createServer({
      session: { model: config.model, weights, device: config.device, precision, maxBatch: MAX_BATCH, inputSize: size },
      maxBatch: MAX_BATCH,
      maxQueueDelayMicroseconds: QUEUE_DELAY_US,
      host: '127.0.0.1',
      port: 0,
      log: (line) => log(`server: ${line}`),
    });
    const { url } = await server.listen();
    row.createMs = Math.round(performance.now() - c0);
    const info = server.sessions[0]!.info;
    log(`${precision}: server for ${info.model} ${size}x${size} on ${info.device} at ${url} in ${row.createMs} ms, of which warm-up ${Math.round(server.warmup.ms)} ms for ${server.warmup.sizes} batch sizes (weights: ${row.weights})`);

    // The image pool: 64 different images; the reference rows are the server session's own batch-64 run.
    const images = generateInput(MAX_BATCH, size, size);
    const expected = await server.sessions[0]!.run(images, [MAX_BATCH, 3, size, size]);
    const classes = info.outputShape[1];
    row.distinctRowRelL2 = distinctRowRelL2(expected, MAX_BATCH, classes);

    row.inProcess = await inProcess(server, images, size, config.inProcessSeconds);
    log(`${precision}: (a) in-process batch ${MAX_BATCH}: ${row.inProcess.imagesPerSecond.toFixed(1)} img/s, ${row.inProcess.msPerBatchP50.toFixed(2)} ms/batch (p99 ${row.inProcess.msPerBatchP99.toFixed(2)})`);

    const shared = new SharedArrayBuffer(images.byteLength);
    new Float32Array(shared).set(images);
    const pool: LoadPool = { url: `${url}/v2/models/${server.modelName}/infer`, images: shared, count: MAX_BATCH, height: size, width: size, expected, classes };
    client = new LoadClient(pool);
    const phase = (imagesPerRequest: number, connections: number, seconds: number, maxRequests: number): LoadPhase => ({
      imagesPerRequest,
      connections,
      seconds,
      maxRequests,
      requestTimeoutMs: 30_000,
      relL2Bound: row.rowBound,
    });
    // Warm-up: both request kinds, long enough for the batch sizes the phases form to be set up.
    const warm8 = await client.run(phase(8, 16, config.warmupSeconds, 400));
    const warm1 = await client.run(phase(1, 64, config.warmupSeconds, 4000));
    log(`${precision}: warm-up ${warm8.ok + warm1.ok} requests, ${warm8.errors + warm1.errors} errors${warm8.errors + warm1.errors > 0 ? `: ${[...warm8.errorSamples, ...warm1.errorSamples].join(' | ')}` : ''}`);
    row.rssAfterWarmupBytes = rss();

    row.batch8 = await measuredPhase(server, client, phase(8, 16, config.loadSeconds, 20_000), row.inProcess.imagesPerSecond);
    log(`${precision}: (b) ${describePhase('batch-8 requests, 16 connections', row.batch8)}`);
    row.single = await measuredPhase(server, client, phase(1, 64, config.loadSeconds, 100_000), row.inProcess.imagesPerSecond);
    row.p99BoundMs = QUEUE_DELAY_US / 1000 + 2 * row.inProcess.msPerBatchP50;
    log(`${precision}: (c) ${describePhase('1-image requests, 64 connections', row.single)}; p99 bound ${row.p99BoundMs.toFixed(1)} ms`);
    row.rssAfterLoadBytes = rss();
    row.metricsBatches = await metricsBatchCount(url);
    row.statsBatches = server.batcher.stats.batches;
    log(`${precision}: (e) RSS after warm-up ${mib(row.rssAfterWarmupBytes)} MiB, after load ${mib(row.rssAfterLoadBytes)} MiB; /metrics batches ${row.metricsBatches}, batcher ${row.statsBatches}`);
  } catch (error) {
    row.error = errorText(error);
    log(`${precision}: ERROR ${row.error}`);
  } finally {
    await client?.close();
    if (server !== undefined) {
      const t = performance.now();
      await server.close();
      row.closeMs = Math.round(performance.now() - t);
    }
  }
  return row;
}

export function serveChecks(rows: readonly ServeRow[]): ServeCheck[] {
  const checks: ServeCheck[] = [];
  for (const r of rows) {
    const p = r.precision;
    if (r.error !== undefined || r.batch8 === undefined || r.single === undefined || r.inProcess === undefined) {
      checks.push({ name: `${p}: stage ran`, pass: false, detail: r.error ?? 'incomplete' });
      continue;
    }
    const phases = [r.batch8, r.single];
    const distinct = r.distinctRowRelL2 ?? 0;
    checks.push({
      name: `${p}: every response has its own rows (row rel-L2 <= ${r.rowBound} < ${distinct.toExponential(2)} between different images)`,
      pass: phases.every((x) => x.errors === 0 && x.wrong === 0 && x.checked === x.requests && x.checked > 0) && r.rowBound < distinct,
      detail: phases.map((x) => `${x.imagesPerRequest}-image: ${x.checked}/${x.requests} checked, ${x.identical} identical, ${x.wrong} wrong, ${x.errors} errors, worst ${x.worstRelL2.toExponential(2)}`).join('; '),
    });
    checks.push({
      name: `${p}: 1-image p99 <= queue delay + 2 x batch-${MAX_BATCH} time`,
      pass: r.single.p99Ms <= (r.p99BoundMs ?? 0),
      detail: `p99 ${r.single.p99Ms.toFixed(1)} ms vs ${QUEUE_DELAY_US / 1000} + 2 x ${r.inProcess.msPerBatchP50.toFixed(1)} = ${(r.p99BoundMs ?? 0).toFixed(1)} ms`,
    });
    checks.push({ name: `${p}: GET /metrics batch count = batcher stats`, pass: r.metricsBatches === r.statsBatches, detail: `${r.metricsBatches} vs ${r.statsBatches}` });
    const growth = ((r.rssAfterLoadBytes ?? 0) - (r.rssAfterWarmupBytes ?? 0)) / (r.rssAfterWarmupBytes ?? 1);
    checks.push({
      name: `${p}: RSS over the load phases grows <= ${RSS_GROWTH_LIMIT * 100}%`,
      pass: growth <= RSS_GROWTH_LIMIT,
      detail: `${mib(r.rssAfterWarmupBytes ?? 0)} -> ${mib(r.rssAfterLoadBytes ?? 0)} MiB (${(growth * 100).toFixed(1)}%)`,
    });
  }
  return checks;
}

export async function stageServe(args: Args): Promise<void> {
  const config = stageConfig();
  const started = performance.now();
  const rows: ServeRow[] = [];
  const rssStart = rss();
  const save = (): void =>
    saveStage(args, 'serve', { config: { ...config, maxBatch: MAX_BATCH, queueDelayMicroseconds: QUEUE_DELAY_US }, rssStartBytes: rssStart, rows, checks: serveChecks(rows), seconds: (performance.now() - started) / 1000 });
  for (const precision of config.precisions) {
    rows.push(await serveRow(args, config, precision));
    save();
  }
  const checks = serveChecks(rows);
  for (const c of checks) log(`${c.pass ? 'PASS' : 'FAIL'} ${c.name}: ${c.detail}`);
  log(`serve stage: ${((performance.now() - started) / 1000).toFixed(1)} s, RSS at start ${mib(rssStart)} MiB, at end ${mib(rss())} MiB`);
  save();
  if (!checks.every((c) => c.pass)) process.exitCode = 1;
}
