/**
 * Load benchmark of `inception-cudnn serve` on the CPU, one command:
 *
 *   npm run bench:serve            (builds lib/, then node lib/bench/serve.js)
 *   node lib/bench/serve.js --quick   (a short run while developing)
 *   node lib/bench/serve.js --suffix b --no-rss   (results named serve-cpu-<date>-b; no RSS phase)
 *   npm run bench:serve -- --out bench/results   (the repository's results; default: a new temporary directory)
 *
 * 1. Throughput and p50/p99 latency of inception_resnet_v1 at 160x160, batch 8: in-process
 *    session.run vs the server (a child process, binary tensors over loopback, autocannon
 *    with 1 and 2 connections), plus 1-image requests through the dynamic batcher.
 * 2. The server's RSS (from /proc) sampled over a 20,000-request run at 80x80, 1-image
 *    requests, 8 connections: flat means every sample after warm-up within ±5% of their mean.
 * Writes serve-cpu-<date>.{json,md} into --out DIR (default a new temporary directory; see results-dir.ts). Every phase is bounded in count and time.
 */
import { writeFileSync, mkdirSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
// Compiled to lib/bench/serve.js: '../../lib/index' resolves to the package's lib/ from both places.
import { createSession, libraryInfo } from '../../lib/index';
import { ROOT, rssBytes, startServe, stopServe, type ServeProcess } from './child-server';
import { resultsDir } from './results-dir';
import { percentile, randomInput } from './samples';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const autocannon = require('autocannon') as (options: Record<string, unknown>) => Promise<AutocannonResult>;

interface AutocannonResult {
  requests: { average: number; total: number };
  latency: { p50: number; p99: number; average: number; max: number };
  duration: number;
  errors: number;
  timeouts: number;
  non2xx: number;
  '2xx': number;
}

const QUICK = process.argv.includes('--quick');
/** --rss-only: skip the throughput phases (a quick memory check). */
const RSS_ONLY = process.argv.includes('--rss-only');
const MODEL = 'inception_resnet_v1';
/** --suffix X: write bench/results/serve-cpu-<date>-X.{json,md} (keeps earlier results of the day). */
const SUFFIX = optionValue('--suffix');
/** --no-rss: skip the 20,000-request RSS phase (before/after comparisons of the throughput phases). */
const NO_RSS = process.argv.includes('--no-rss');

function optionValue(name: string): string | undefined {
  const index = process.argv.indexOf(name);
  if (index < 0) return undefined;
  const value = process.argv[index + 1];
  if (value === undefined || !/^[A-Za-z0-9_-]+$/.test(value)) throw new Error(`${name} needs a value of letters, digits, '-' or '_'`);
  return value;
}

interface Row {
  readonly mode: string;
  readonly inputSize: number;
  readonly imagesPerRequest: number;
  readonly connections: number;
  readonly requests: number;
  readonly imagesPerSecond: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly errors: number;
  readonly averageBatch?: number;
  /** Server side, from /metrics over the phase: where a request's time went and how late the event loop ran. */
  readonly server?: ServerSplit;
}

interface ServerSplit {
  /** Mean time a request waited in the batcher queue (inception_queue_duration_us). */
  readonly queueMeanMs: number;
  /** Mean run time of a request's batch (inception_compute_duration_us). */
  readonly computeMeanMs: number;
  /** Mean batcher time, queueing to result (inception_request_duration_us). */
  readonly batcherMeanMs: number;
  /**
   * Event-loop delay over the phase: prom-client's monitorEventLoopDelay (reset at each scrape)
   * records the time between its 10 ms timer ticks, so the 10 ms interval is taken off.
   */
  readonly eventLoopDelayP50Ms: number;
  readonly eventLoopDelayP99Ms: number;
  readonly eventLoopDelayMaxMs: number;
  /** process_cpu_seconds_total over the phase divided by its wall time (all threads: JS and oneDNN). */
  readonly serverCpuCores: number;
}

async function inProcess(size: number, batch: number, seconds: number, maxRuns: number): Promise<Row> {
  const session = await createSession({ model: MODEL, weights: 'synthetic', maxBatch: batch, inputSize: size });
  try {
    const input = randomInput(batch * 3 * size * size);
    for (let i = 0; i < 3; i++) await session.run(input, [batch, 3, size, size]);
    const latencies: number[] = [];
    const start = performance.now();
    while (latencies.length < maxRuns && performance.now() - start < seconds * 1000) {
      const t = performance.now();
      await session.run(input, [batch, 3, size, size]);
      latencies.push(performance.now() - t);
    }
    const elapsed = (performance.now() - start) / 1000;
    latencies.sort((a, b) => a - b);
    return {
      mode: 'in-process session.run',
      inputSize: size,
      imagesPerRequest: batch,
      connections: 1,
      requests: latencies.length,
      imagesPerSecond: (latencies.length * batch) / elapsed,
      p50Ms: percentile(latencies, 50),
      p99Ms: percentile(latencies, 99),
      errors: 0,
    };
  } finally {
    await session.dispose();
  }
}

function startServer(args: string[]): Promise<ServeProcess> {
  return startServe(['--model', MODEL, '--weights', 'synthetic', '--port', '0', ...args]);
}

async function stopServer(server: ServeProcess): Promise<void> {
  await stopServe(server);
}

function binaryBody(images: number, size: number): { body: Buffer; headers: Record<string, string> } {
  const input = randomInput(images * 3 * size * size);
  const header = Buffer.from(
    JSON.stringify({
      inputs: [{ name: 'input', shape: [images, 3, size, size], datatype: 'FP32', parameters: { binary_data_size: input.byteLength } }],
      parameters: { binary_data_output: true },
    }),
  );
  return {
    body: Buffer.concat([header, Buffer.from(input.buffer)]),
    headers: { 'Content-Type': 'application/octet-stream', 'Inference-Header-Content-Length': String(header.length) },
  };
}

async function scrape(url: string): Promise<Map<string, number>> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const values = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line.startsWith('#') || line.length === 0) continue;
    // 'name{labels} value' or 'name value'; bucket lines are not needed here.
    const name = line.slice(0, Math.min(...[line.indexOf('{'), line.indexOf(' ')].filter((i) => i >= 0)));
    if (!values.has(name)) values.set(name, Number(line.slice(line.lastIndexOf(' ') + 1)));
  }
  return values;
}

function metric(values: Map<string, number>, name: string): number {
  return values.get(name) ?? NaN;
}

/** prom-client's default eventLoopMonitoringPrecision. */
const EVENT_LOOP_SAMPLE_MS = 10;

function serverSplit(before: Map<string, number>, after: Map<string, number>, seconds: number): ServerSplit {
  const mean = (name: string): number => (metric(after, `${name}_sum`) - metric(before, `${name}_sum`)) / (metric(after, `${name}_count`) - metric(before, `${name}_count`)) / 1000;
  return {
    queueMeanMs: mean('inception_queue_duration_us'),
    computeMeanMs: mean('inception_compute_duration_us'),
    batcherMeanMs: mean('inception_request_duration_us'),
    eventLoopDelayP50Ms: metric(after, 'nodejs_eventloop_lag_p50_seconds') * 1000 - EVENT_LOOP_SAMPLE_MS,
    eventLoopDelayP99Ms: metric(after, 'nodejs_eventloop_lag_p99_seconds') * 1000 - EVENT_LOOP_SAMPLE_MS,
    eventLoopDelayMaxMs: metric(after, 'nodejs_eventloop_lag_max_seconds') * 1000 - EVENT_LOOP_SAMPLE_MS,
    serverCpuCores: (metric(after, 'process_cpu_seconds_total') - metric(before, 'process_cpu_seconds_total')) / seconds,
  };
}

async function load(url: string, images: number, size: number, connections: number, amount: number, seconds: number): Promise<AutocannonResult> {
  const { body, headers } = binaryBody(images, size);
  return autocannon({
    url: `${url}/v2/models/${MODEL}/infer`,
    method: 'POST',
    body,
    headers,
    connections,
    amount,
    // autocannon stops at `amount`; the timeout bounds each request, the caller bounds the phase.
    timeout: Math.max(10, seconds),
  });
}

async function served(size: number, images: number, connections: number, maxBatch: number, delayUs: number, amount: number, seconds: number): Promise<Row> {
  const server = await startServer(['--input-size', String(size), '--max-batch', String(maxBatch), '--max-queue-delay-us', String(delayUs)]);
  try {
    await load(server.url, images, size, connections, Math.min(20, amount), seconds); // warm-up
    // This scrape also resets the event-loop delay histogram, so the one after covers the phase only.
    const before = await scrape(server.url);
    const result = await withDeadline(load(server.url, images, size, connections, amount, seconds), seconds * 3 + 60);
    const after = await scrape(server.url);
    const count = (name: string): number => metric(after, name) - metric(before, name);
    const ok = result['2xx'];
    return {
      mode: `serve (${connections} connection${connections > 1 ? 's' : ''}${delayUs > 0 ? `, delay ${delayUs} µs` : ''})`,
      inputSize: size,
      imagesPerRequest: images,
      connections,
      requests: ok,
      imagesPerSecond: (ok * images) / result.duration,
      p50Ms: result.latency.p50,
      p99Ms: result.latency.p99,
      errors: result.errors + result.timeouts + result.non2xx,
      averageBatch: count('inception_inference_count_total') / count('inception_batch_execution_count_total'),
      server: serverSplit(before, after, result.duration),
    };
  } finally {
    await stopServer(server);
  }
}

async function rssRun(size: number, requests: number, connections: number): Promise<Record<string, unknown>> {
  const server = await startServer(['--input-size', String(size), '--max-batch', '8', '--max-queue-delay-us', '1000']);
  const pid = server.child.pid as number;
  const samples: { t: number; completed: number; rssBytes: number }[] = [];
  let completed = 0;
  const start = performance.now();
  const timer = setInterval(() => samples.push({ t: (performance.now() - start) / 1000, completed, rssBytes: rssBytes(pid) }), 250);
  // A line every 10 s: the phase takes about a minute and prints nothing else.
  const progress = setInterval(() => {
    const last = samples[samples.length - 1];
    process.stderr.write(`  RSS phase: ${completed} of ${requests} requests, ${((performance.now() - start) / 1000).toFixed(0)} s, RSS ${last === undefined ? '?' : (last.rssBytes / 2 ** 20).toFixed(0)} MiB\n`);
  }, 10_000);
  try {
    const { body, headers } = binaryBody(1, size);
    const instance = autocannon({ url: `${server.url}/v2/models/${MODEL}/infer`, method: 'POST', body, headers, connections, amount: requests, timeout: 30 });
    (instance as unknown as { on?: (e: string, f: () => void) => void }).on?.('response', () => completed++);
    const result = await withDeadline(instance, 600);
    clearInterval(timer);
    clearInterval(progress);
    samples.push({ t: (performance.now() - start) / 1000, completed: result['2xx'], rssBytes: rssBytes(pid) });
    // Warm-up: the first 10% of the requests (allocator arenas, oneDNN primitives for each batch size).
    const steady = samples.filter((s) => s.completed >= requests * 0.1);
    const values = steady.map((s) => s.rssBytes);
    const mean = values.reduce((a, b) => a + b, 0) / values.length;
    const maxDeviation = Math.max(...values.map((v) => Math.abs(v - mean) / mean));
    return {
      inputSize: size,
      requests,
      connections,
      ok: result['2xx'],
      errors: result.errors + result.timeouts + result.non2xx,
      seconds: result.duration,
      imagesPerSecond: result['2xx'] / result.duration,
      rssFirstSteadyBytes: values[0],
      rssLastBytes: values[values.length - 1],
      rssMeanBytes: Math.round(mean),
      rssMaxDeviation: maxDeviation,
      flatWithin5Percent: maxDeviation <= 0.05,
      samples,
    };
  } finally {
    clearInterval(timer);
    clearInterval(progress);
    await stopServer(server);
  }
}

function withDeadline<T>(promise: Promise<T>, seconds: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`a phase ran past its ${seconds} s bound`)), seconds * 1000);
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

const mib = (bytes: number): string => (bytes / 2 ** 20).toFixed(1);

/** The issue's p99 goal for 1-image requests: maxQueueDelay + 2 x one batch's in-process compute (p50 of both in-process rows). */
function boundLines(rows: Row[]): string[] {
  const inProcessRows = rows.filter((r) => r.mode.startsWith('in-process'));
  const dynamic = rows.find((r) => r.imagesPerRequest === 1);
  if (inProcessRows.length === 0 || dynamic === undefined) return [];
  const batchMs = inProcessRows.reduce((sum, r) => sum + r.p50Ms, 0) / inProcessRows.length;
  const delayMs = Number(/delay (\d+) µs/.exec(dynamic.mode)?.[1] ?? 0) / 1000;
  const bound = delayMs + 2 * batchMs;
  const inProcessRate = inProcessRows.reduce((sum, r) => sum + r.imagesPerSecond, 0) / inProcessRows.length;
  const lines = [
    `p99 goal for 1-image requests: maxQueueDelay + 2 x batch compute = ${delayMs} + 2 x ${batchMs.toFixed(1)} = ${bound.toFixed(1)} ms; ` +
      `measured p99 ${dynamic.p99Ms.toFixed(1)} ms: ${dynamic.p99Ms <= bound ? 'met' : '**missed**'}.`,
    `Throughput vs in-process (mean of both in-process rows, ${inProcessRate.toFixed(1)} images/s): ` +
      rows
        .filter((r) => r.mode.startsWith('serve'))
        .map((r) => `${r.mode} ${(r.imagesPerSecond / inProcessRate).toFixed(2)}`)
        .join('; ') +
      '.',
    '',
  ];
  const split = rows.filter((r) => r.server !== undefined);
  if (split.length > 0) {
    lines.push(
      'Server side over each phase (from /metrics): batcher queue wait and batch compute per request (means), event-loop delay (beyond the 10 ms sampling tick), and the server process CPU (all threads) in cores. The load generator (autocannon, in the bench process) shares the same cores.',
      '',
      '| mode | queue ms | compute ms | batcher total ms | event-loop delay p50 / p99 / max ms | server CPU cores |',
      '|---|---|---|---|---|---|',
      ...split.map((r) => {
        const x = r.server as ServerSplit;
        return `| ${r.mode} | ${x.queueMeanMs.toFixed(1)} | ${x.computeMeanMs.toFixed(1)} | ${x.batcherMeanMs.toFixed(1)} | ${x.eventLoopDelayP50Ms.toFixed(1)} / ${x.eventLoopDelayP99Ms.toFixed(1)} / ${x.eventLoopDelayMaxMs.toFixed(1)} | ${x.serverCpuCores.toFixed(2)} |`;
      }),
      '',
    );
  }
  return lines;
}

function rssLine(rss: Record<string, unknown> | undefined): string[] {
  if (rss === undefined) return ['RSS phase skipped (--no-rss).', ''];
  return [
    `RSS of the server over ${String(rss.requests)} 1-image requests at ${String(rss.inputSize)}x${String(rss.inputSize)} (${String(rss.connections)} connections, ` +
      `${Number(rss.seconds).toFixed(0)} s, ${Number(rss.imagesPerSecond).toFixed(0)} images/s, ${String(rss.errors)} errors): after warm-up (first 10%) ` +
      `${mib(Number(rss.rssFirstSteadyBytes))} MiB → ${mib(Number(rss.rssLastBytes))} MiB at the end, mean ${mib(Number(rss.rssMeanBytes))} MiB, ` +
      `largest deviation from the mean ${(Number(rss.rssMaxDeviation) * 100).toFixed(1)}% — ${rss.flatWithin5Percent === true ? 'flat within ±5%' : 'NOT flat within ±5%'}.`,
    '',
  ];
}

function markdown(report: Record<string, unknown>, rows: Row[], rss: Record<string, unknown> | undefined): string {
  const lines = [
    `# serve on the CPU: ${String(report.date)}`,
    '',
    `Machine: ${String(report.cpu)} × ${String(report.cores)} cores, ${mib(Number(report.memoryBytes))} MiB; load average before ${String(report.loadBefore)}, after ${String(report.loadAfter)}.`,
    `Node ${process.version}, oneDNN ${String(report.onednn)}. ${QUICK ? '**Quick run (--quick): short phases, numbers indicative only.**' : ''}`,
    '',
    `${MODEL}, synthetic weights, all cores; server = \`inception-cudnn serve\` in a child process, binary tensors in and out, autocannon over loopback ` +
      `(autocannon runs in the bench process on the same ${String(report.cores)} cores as the server's oneDNN threads and its JS thread).`,
    '',
    '| mode | input | images/request | requests | images/s | p50 ms | p99 ms | avg batch | errors |',
    '|---|---|---|---|---|---|---|---|---|',
    ...rows.map(
      (r) =>
        `| ${r.mode} | ${r.inputSize} | ${r.imagesPerRequest} | ${r.requests} | ${r.imagesPerSecond.toFixed(1)} | ${r.p50Ms.toFixed(1)} | ${r.p99Ms.toFixed(1)} | ${r.averageBatch === undefined ? '' : r.averageBatch.toFixed(2)} | ${r.errors} |`,
    ),
    '',
    ...boundLines(rows),
    ...rssLine(rss),
  ];
  return lines.join('\n');
}

async function throughput(rows: Row[], seconds: number, batchRuns: number, log: (text: string) => void): Promise<void> {
  log('in-process session.run, 160x160, batch 8 ...');
  rows.push(await inProcess(160, 8, seconds, batchRuns));
  for (const connections of [1, 2]) {
    log(`serve, batch-8 requests, ${connections} connection(s) ...`);
    rows.push(await served(160, 8, connections, 8, 0, batchRuns, seconds));
  }
  log('serve, 1-image requests, 16 connections, dynamic batching ...');
  rows.push(await served(160, 1, 16, 8, 2000, batchRuns * 8, seconds));
  // Again at the end: on a busy machine the two in-process rows show how much the load drifted.
  log('in-process session.run again ...');
  rows.push({ ...(await inProcess(160, 8, seconds, batchRuns)), mode: 'in-process session.run (repeat)' });
}

async function main(): Promise<void> {
  const started = Date.now();
  const info = await libraryInfo();
  const cpu = info.backends.find((b) => b.name === 'cpu');
  const report: Record<string, unknown> = {
    date: new Date().toISOString().slice(0, 10),
    quick: QUICK,
    cpu: cpus()[0]?.model ?? 'unknown',
    cores: cpus().length,
    memoryBytes: totalmem(),
    loadBefore: loadavg().map((l) => l.toFixed(2)).join(' '),
    node: process.version,
    onednn: cpu?.versions.onednn ?? 'unknown',
  };
  const seconds = QUICK ? 4 : 20;
  const batchRuns = QUICK ? 20 : 400;
  const rows: Row[] = [];
  const log = (text: string): void => void process.stderr.write(`${text}\n`);

  if (!RSS_ONLY) await throughput(rows, seconds, batchRuns, log);
  const rssRequests = QUICK ? 2000 : 20_000;
  let rss: Record<string, unknown> | undefined;
  if (!NO_RSS) {
    log(`RSS over ${rssRequests} requests at 80x80 ...`);
    rss = await rssRun(80, rssRequests, 8);
  }
  report.loadAfter = loadavg().map((l) => l.toFixed(2)).join(' ');
  report.wallSeconds = (Date.now() - started) / 1000;
  report.rows = rows;
  report.rss = rss;

  const dir = resultsDir(process.argv, 'bench-serve');
  const name = `serve-cpu-${String(report.date)}${QUICK ? '-quick' : ''}${RSS_ONLY ? '-rss' : ''}${SUFFIX === undefined ? '' : `-${SUFFIX}`}`;
  writeFileSync(join(dir, `${name}.json`), `${JSON.stringify(report, null, 2)}\n`);
  const md = markdown(report, rows, rss);
  writeFileSync(join(dir, `${name}.md`), md);
  process.stdout.write(md);
  log(`wrote ${join(dir, name)}.{json,md} in ${Number(report.wallSeconds).toFixed(0)} s`);
}

main().catch((error: unknown) => {
  process.stderr.write(`bench failed: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
});
