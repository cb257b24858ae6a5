/**
 * Hostile and careless clients against `inception-cudnn serve` (issue 16), one command, bounded in
 * counts and time, loopback only:
 *
 *   npm run bench:serve:adversarial      (builds lib/, then node lib/bench/adversarial.js)
 *
 * The server is a child process on the CPU backend: inception_resnet_v1 with synthetic weights at
 * 80x80, max batch 4 (160x160, max batch 8 and a queue of 4 for the full-queue scenario), so it
 * all runs in a few minutes on two cores. One line per scenario, its figure and its target:
 *
 * 1. pipelining: three rounds of 20,000 pipelined GET /metrics: 20 connections pipeline 1,000
 *    each, read half of the answers and close with the rest unanswered; and one connection
 *    pipelines 20,000 at once (the server closes it past PIPELINE_DEPTH_LIMIT, 1,024 waiting).
 *    RSS at the start (after one such round as a warm-up: a fresh server's RSS first falls as
 *    start-up garbage is collected), the peak, and 10 s after the last close; target: back within
 *    50 MB of the start.
 * 2. flood: health-check latency (GET /v2/health/live, one at a time on its own connection)
 *    for 8 s while one connection pipelines 20,000 GET /metrics (closed by the server past the
 *    depth limit) and 4 clients pipeline 100 per connection, read every answer and reconnect;
 *    target: p99 under 100 ms. (Node parses what a connection sends in one go before anything
 *    else runs, ~50 us a request on this loaded VM: a single write of 1,000 pipelined requests
 *    holds every other connection for about 50 ms whatever the server does.)
 * 3. drain: 3 runs of 48 keep-alive clients sending 1-image infer requests in a loop; SIGTERM
 *    after 1.5 s of load; each client honours Connection: close and stops when a new connection
 *    is refused. Requests written to a connection that got no answer; target: 0.
 * 4. full queue: while 8 clients keep a queue of 4 full (backing off 100 ms after a 429), probes
 *    send only the headers of an 8-image request (2.4 MB declared); time from the headers to the
 *    429; target: under 50 ms. The server computes on one thread (--threads 1), so that its event
 *    loop and the clients have the other core.
 * 5. parser errors: malformed requests (framing, method, URL, version, header size) answered
 *    with the server's JSON error body; target: all of them.
 *
 * Writes serve-adversarial-<date>-<machine>-<commit>.{md,json} into --out DIR (default a new temporary directory; the repository's results: --out bench/results). `--only flood,drain`
 * runs only the scenarios named (pipelining, parser-errors, flood, drain, full-queue).
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { ROOT, rssBytes, startServe, stopServe, type ServeProcess } from './child-server';
import { resultsDir } from './results-dir';
import { RawConnection, type RawResponse } from './raw-http';

const MODEL = 'inception_resnet_v1';
const SCENARIOS = ['pipelining', 'parser-errors', 'flood', 'drain', 'full-queue'] as const;
/** --only a,b: run only these scenarios (results named ...-only-a-b). */
const ONLY = onlyOption();

function onlyOption(): (typeof SCENARIOS)[number][] | undefined {
  const index = process.argv.indexOf('--only');
  if (index < 0) return undefined;
  const names = (process.argv[index + 1] ?? '').split(',');
  const unknown = names.filter((n) => !(SCENARIOS as readonly string[]).includes(n));
  if (unknown.length > 0) throw new Error(`--only takes a comma-separated list of ${SCENARIOS.join(', ')}; got '${unknown.join(',')}'`);
  return names as (typeof SCENARIOS)[number][];
}
const SMALL = ['--model', MODEL, '--weights', 'synthetic', '--port', '0', '--input-size', '80', '--max-batch', '4'];
const MIB = 2 ** 20;

interface Scenario {
  readonly name: string;
  /** The figure, in words, with its numbers. */
  readonly figure: string;
  readonly target: string;
  readonly met: boolean;
  readonly details: Record<string, unknown>;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const log = (text: string): void => void process.stderr.write(`${text}\n`);

/** NaN for no values (e.g. no probe got its 429: the figure then says so). */
function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

function withDeadline<T>(promise: Promise<T>, seconds: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} ran past its ${seconds} s bound`)), seconds * 1000);
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

/** One value of a metric from the Prometheus text (the first line that starts with `prefix`). */
async function scrape(url: string, prefix: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(prefix));
  return line === undefined ? NaN : Number(line.slice(line.lastIndexOf(' ') + 1));
}

const METRICS_REQUEST = Buffer.from('GET /metrics HTTP/1.1\r\nHost: bench\r\n\r\n');

/** Writes `count` pipelined GET /metrics on `connection`, in blocks, waiting while its send buffer is full. */
async function pipelineMetrics(connection: RawConnection, count: number): Promise<void> {
  const block = Buffer.concat(Array.from({ length: 1000 }, () => METRICS_REQUEST));
  for (let sent = 0; sent < count && connection.isOpen; sent += 1000) await connection.send(block);
}

const CONNECTIONS = 20;
const PER_CONNECTION = 1000;

/** One connection writes `sent` pipelined GET /metrics, reads `read` answers (fewer if the server closes it first) and closes. */
async function pipelinedConnection(url: string, sent: number, read: number): Promise<number> {
  const connection = await RawConnection.open(url, { keep: false });
  const writing = pipelineMetrics(connection, sent);
  await connection.waitFor(read, 120_000).catch(() => undefined);
  connection.destroy();
  await writing;
  return connection.received;
}

interface Round {
  /** Answers read on the 20 connections of 1,000. */
  readonly answered: number;
  /** Answers the 20,000-deep connection got before the server closed it. */
  readonly deepAnswered: number;
  readonly seconds: number;
}

/** 20 connections x 1,000 pipelined (half read), and one connection pipelining 20,000 at once. */
async function pipelinedRound(url: string, what: string): Promise<Round> {
  const started = performance.now();
  const [answers, deepAnswered] = await withDeadline(
    Promise.all([
      Promise.all(Array.from({ length: CONNECTIONS }, () => pipelinedConnection(url, PER_CONNECTION, PER_CONNECTION / 2))),
      pipelinedConnection(url, CONNECTIONS * PER_CONNECTION, CONNECTIONS * PER_CONNECTION),
    ]),
    180,
    what,
  );
  return { answered: answers.reduce((a, b) => a + b, 0), deepAnswered, seconds: (performance.now() - started) / 1000 };
}

async function pipelining(): Promise<Scenario> {
  const ROUNDS = 3;
  const server = await startServe(SMALL);
  try {
    const pid = server.pid;
    const listeningRss = rssBytes(pid);
    await pipelinedRound(server.url, 'the warm-up round');
    await sleep(5000);
    const startRss = rssBytes(pid);
    const startHeap = await scrape(server.url, 'nodejs_heap_size_used_bytes');
    log(`  pipelining: RSS ${(listeningRss / MIB).toFixed(0)} MiB when listening, ${(startRss / MIB).toFixed(0)} MiB after the warm-up round`);
    let peakRss = startRss;
    const sampler = setInterval(() => (peakRss = Math.max(peakRss, rssBytes(pid))), 50);
    const rounds: Round[] = [];
    try {
      for (let round = 0; round < ROUNDS; round++) {
        const result = await pipelinedRound(server.url, `round ${round + 1}`);
        rounds.push(result);
        log(
          `  pipelining round ${round + 1}: ${result.answered} answers read on ${CONNECTIONS} x ${PER_CONNECTION}, ` +
            `${result.deepAnswered} on the connection of 20,000 before it was closed; RSS ${(rssBytes(pid) / MIB).toFixed(0)} MiB`,
        );
      }
      const closedAt = performance.now();
      const after: { seconds: number; rssMiB: number }[] = [];
      while (performance.now() - closedAt < 10_000) {
        await sleep(1000);
        after.push({ seconds: Math.round((performance.now() - closedAt) / 1000), rssMiB: rssBytes(pid) / MIB });
      }
      clearInterval(sampler);
      // The scrape is itself an open request.
      const open = (await scrape(server.url, 'inception_http_open_requests')) - 1;
      const dropped = await scrape(server.url, 'inception_request_failure_total{model="",endpoint="metrics",status="499"}');
      const endRss = after[after.length - 1].rssMiB * MIB;
      const endHeap = await scrape(server.url, 'nodejs_heap_size_used_bytes');
      const growth = (endRss - startRss) / MIB;
      return {
        name: 'pipelining',
        figure:
          `3 rounds x (20 connections x 1,000 pipelined GET /metrics, half the answers read, then closed; 1 connection x 20,000, ` +
          `closed by the server after ${rounds.map((r) => r.deepAnswered).join(' / ')} answers): RSS ${(startRss / MIB).toFixed(0)} MiB at the start, ` +
          `peak ${(peakRss / MIB).toFixed(0)} MiB, ${(endRss / MIB).toFixed(0)} MiB 10 s after the last close (${growth >= 0 ? '+' : ''}${growth.toFixed(0)} MiB); ` +
          `${open} requests still open, ${dropped} counted as dropped (499) in the warm-up round and the three; ` +
          `V8 heap used ${(startHeap / MIB).toFixed(0)} MiB at the start, ${(endHeap / MIB).toFixed(0)} MiB after (serve runs a full collection once idle for 2 s, src/serve/heap-growth.ts; before it, garbage stayed until V8's next major GC)`,
        target: 'RSS back within 50 MB of the start',
        met: Math.abs(endRss - startRss) <= 50e6 && open === 0,
        details: { listeningRssBytes: listeningRss, startRssBytes: startRss, peakRssBytes: peakRss, endRssBytes: endRss, startHeapBytes: startHeap, endHeapBytes: endHeap, after, rounds, openAfterClose: open, dropped },
      };
    } finally {
      clearInterval(sampler);
    }
  } finally {
    await stopServe(server);
  }
}

/** GET /v2/health/live one at a time (5 ms apart) on one keep-alive connection while `going()`; resolves to the latencies, ms. */
async function probeHealth(url: string, going: () => boolean): Promise<number[]> {
  const latencies: number[] = [];
  const connection = await RawConnection.open(url, { keep: false });
  const request = Buffer.from('GET /v2/health/live HTTP/1.1\r\nHost: bench\r\n\r\n');
  while (going()) {
    const started = performance.now();
    connection.write(request);
    await connection.waitFor(connection.received + 1, 30_000);
    latencies.push(performance.now() - started);
    await sleep(5);
  }
  connection.destroy();
  return latencies;
}

async function flood(server: ServeProcess): Promise<Scenario> {
  const FLOOD_SECONDS = 8;
  const DEEP = 20_000;
  const SHALLOW_CLIENTS = 4;
  const SHALLOW = 100;
  // The same checks for 3 s before the flood: what this machine gives without it.
  let probing = true;
  const quiet = probeHealth(server.url, () => probing);
  await sleep(3000);
  probing = false;
  const baseline = await quiet;
  let flooding = true;
  const prober = probeHealth(server.url, () => flooding);
  const counts = { deepAnswers: 0, shallowConnections: 0, shallowAnswers: 0 };
  const until = performance.now() + FLOOD_SECONDS * 1000;
  const loops = [
    // The issue's flood: 20,000 pipelined GET /metrics on one connection (closed by the server past the depth limit).
    (async () => {
      counts.deepAnswers = await pipelinedConnection(server.url, DEEP, DEEP);
    })(),
    // Pipelining within the limit for the whole time, every answer read.
    ...Array.from({ length: SHALLOW_CLIENTS }, async () => {
      while (performance.now() < until) {
        counts.shallowAnswers += await pipelinedConnection(server.url, SHALLOW, SHALLOW);
        counts.shallowConnections++;
      }
    }),
  ];
  await withDeadline(Promise.all(loops), FLOOD_SECONDS + 120, 'the flood');
  flooding = false;
  const latencies = await prober;
  const p99 = percentile(latencies, 99);
  return {
    name: 'flood',
    figure:
      `health p50 ${percentile(latencies, 50).toFixed(1)} ms, p99 ${p99.toFixed(1)} ms, max ${Math.max(...latencies).toFixed(1)} ms over ${latencies.length} checks in ${FLOOD_SECONDS} s ` +
      `of one connection pipelining ${DEEP} GET /metrics (closed by the server past the depth limit after ${counts.deepAnswers} answers) and ${SHALLOW_CLIENTS} clients ` +
      `pipelining ${SHALLOW} per connection and reading every answer (${counts.shallowAnswers} answers on ${counts.shallowConnections} connections); ` +
      `without the flood p50 ${percentile(baseline, 50).toFixed(1)} ms, p99 ${percentile(baseline, 99).toFixed(1)} ms`,
    target: 'health p99 under 100 ms',
    met: p99 < 100,
    details: {
      checks: latencies.length,
      p50Ms: percentile(latencies, 50),
      p99Ms: p99,
      maxMs: Math.max(...latencies),
      ...counts,
      baseline: { checks: baseline.length, p50Ms: percentile(baseline, 50), p99Ms: percentile(baseline, 99), maxMs: Math.max(...baseline) },
    },
  };
}

/** One 1-image binary infer request at 80x80 (values in [-0.5, 0.5)). */
function inferRequest(images: number, size: number, contentLength?: number): { head: Buffer; body: Buffer } {
  const input = new Float32Array(images * 3 * size * size);
  let s = 12345;
  for (let i = 0; i < input.length; i++) {
    s = (s * 1103515245 + 12345) % 2147483648;
    input[i] = s / 2147483648 - 0.5;
  }
  const header = Buffer.from(
    JSON.stringify({ inputs: [{ name: 'input', shape: [images, 3, size, size], datatype: 'FP32', parameters: { binary_data_size: input.byteLength } }], parameters: { binary_data_output: true } }),
  );
  const body = Buffer.concat([header, Buffer.from(input.buffer)]);
  const head = Buffer.from(
    `POST /v2/models/${MODEL}/infer HTTP/1.1\r\nHost: bench\r\nContent-Type: application/octet-stream\r\n` +
      `Inference-Header-Content-Length: ${header.length}\r\nContent-Length: ${contentLength ?? body.length}\r\n\r\n`,
  );
  return { head, body };
}

interface DrainCounts {
  sent: number;
  answered: number;
  answeredAfterSignal: number;
  /** Answers to requests sent 50 ms or more after the signal (surely after close() began) without Connection: close. */
  keepAliveAfterSignal: number;
  unanswered: number;
  refused: number;
  byStatus: Record<string, number>;
}

/** A keep-alive client: one request at a time; a new connection after an answer that says close; stops when a connection is refused. */
async function drainClient(url: string, request: Buffer, counts: DrainCounts, signalAt: () => number | undefined, deadline: number): Promise<void> {
  let connection: RawConnection | undefined;
  let last: RawResponse | undefined;
  while (performance.now() < deadline) {
    if (connection === undefined || !connection.isOpen) {
      try {
        connection = await RawConnection.open(url, { keep: false, onResponse: (r) => (last = r) });
      } catch {
        counts.refused++;
        return;
      }
    }
    const before = connection.received;
    const sentAt = performance.now();
    connection.write(request);
    counts.sent++;
    try {
      await connection.waitFor(before + 1, 30_000);
    } catch {
      counts.unanswered++;
      connection.destroy();
      connection = undefined;
      continue;
    }
    const reply = last as RawResponse;
    counts.answered++;
    counts.byStatus[reply.status] = (counts.byStatus[reply.status] ?? 0) + 1;
    const signal = signalAt();
    if (signal !== undefined) {
      counts.answeredAfterSignal++;
      if (sentAt >= signal + 50 && reply.headers.connection !== 'close') counts.keepAliveAfterSignal++;
    }
    if (reply.headers.connection === 'close') {
      connection.destroy();
      connection = undefined;
    }
  }
  connection?.destroy();
}

async function drain(): Promise<Scenario> {
  const RUNS = 3;
  const CLIENTS = 48;
  const LOAD_MS = 1500;
  const { head, body } = inferRequest(1, 80);
  const request = Buffer.concat([head, body]);
  const runs: (DrainCounts & { exitCode: number | null })[] = [];
  for (let run = 0; run < RUNS; run++) {
    const server = await startServe([...SMALL, '--max-queue-delay-us', '2000']);
    const counts: DrainCounts = { sent: 0, answered: 0, answeredAfterSignal: 0, keepAliveAfterSignal: 0, unanswered: 0, refused: 0, byStatus: {} };
    let signalAt: number | undefined;
    const deadline = performance.now() + 60_000;
    const clients = Array.from({ length: CLIENTS }, () => drainClient(server.url, request, counts, () => signalAt, deadline));
    await sleep(LOAD_MS);
    signalAt = performance.now();
    server.child.kill('SIGTERM');
    await withDeadline(Promise.all(clients), 90, `drain run ${run + 1}`);
    const exitCode = await withDeadline(server.exited, 60, `the server's exit in drain run ${run + 1}`);
    runs.push({ ...counts, exitCode });
    log(`  drain run ${run + 1}: ${counts.sent} sent, ${counts.answered} answered (${counts.answeredAfterSignal} after SIGTERM), ${counts.unanswered} unanswered, exit ${String(exitCode)}`);
  }
  const unanswered = runs.reduce((sum, r) => sum + r.unanswered, 0);
  const keepAlive = runs.reduce((sum, r) => sum + r.keepAliveAfterSignal, 0);
  return {
    name: 'drain',
    figure:
      `${unanswered} of ${runs.reduce((sum, r) => sum + r.sent, 0)} requests sent without an answer over ${RUNS} SIGTERM runs x ${CLIENTS} keep-alive clients ` +
      `(per run: ${runs.map((r) => `${r.unanswered} unanswered, ${r.answeredAfterSignal} answered after the signal`).join('; ')}); ` +
      `${keepAlive} answers to requests sent 50 ms or more after the signal lacked Connection: close; exit codes ${runs.map((r) => String(r.exitCode)).join(', ')}`,
    target: 'zero requests unanswered',
    met: unanswered === 0 && keepAlive === 0 && runs.every((r) => r.exitCode === 0),
    details: { runs },
  };
}

async function fullQueue(): Promise<Scenario> {
  const IMAGES = 8;
  const SIZE = 160;
  const LOAD_CLIENTS = 8;
  const PROBES = 20;
  const server = await startServe(['--model', MODEL, '--weights', 'synthetic', '--port', '0', '--input-size', String(SIZE), '--max-batch', String(IMAGES), '--max-queue-size', '4', '--threads', '1']);
  try {
    const { head, body } = inferRequest(IMAGES, SIZE);
    const request = Buffer.concat([head, body]);
    let loading = true;
    let loadAnswers = 0;
    let loadFull = 0;
    const load = Array.from({ length: LOAD_CLIENTS }, async () => {
      let last: RawResponse | undefined;
      let connection = await RawConnection.open(server.url, { keep: false, onResponse: (r) => (last = r) });
      while (loading) {
        if (!connection.isOpen) connection = await RawConnection.open(server.url, { keep: false, onResponse: (r) => (last = r) });
        const before = connection.received;
        await connection.send(request);
        await connection.waitFor(before + 1, 60_000);
        loadAnswers++;
        if ((last as RawResponse).status === 429) {
          loadFull++;
          await sleep(100);
        }
      }
      connection.destroy();
    });
    await sleep(2000);
    const toReject: number[] = [];
    let admitted = 0;
    for (let probe = 0; probe < PROBES; probe++) {
      await sleep(250);
      const connection = await RawConnection.open(server.url, { keep: false });
      let answeredAt = 0;
      let status = 0;
      const answered = new Promise<void>((resolve) => {
        connection.socket.once('data', (chunk: Buffer) => {
          answeredAt = performance.now();
          status = Number(/^HTTP\/1\.1 (\d{3})/.exec(chunk.toString('latin1'))?.[1] ?? 0);
          resolve();
        });
      });
      const sentAt = performance.now();
      connection.write(head);
      await Promise.race([answered, sleep(1000)]);
      if (status === 429) toReject.push(answeredAt - sentAt);
      else admitted++;
      connection.destroy();
    }
    loading = false;
    await withDeadline(Promise.all(load), 120, 'the full-queue load');
    const max = toReject.length > 0 ? Math.max(...toReject) : NaN;
    return {
      name: 'full queue',
      figure:
        `${toReject.length} of ${PROBES} header-only probes (8 images, 2.4 MB declared) answered 429: median ${percentile(toReject, 50).toFixed(1)} ms, ` +
        `max ${max.toFixed(1)} ms from the headers; ${admitted} had no answer within 1 s (a free slot, or a server waiting for the body); ` +
        `the load got ${loadFull} 429s in ${loadAnswers} answers`,
      target: 'a full queue answers 429 within 50 ms of the headers',
      met: toReject.length > 0 && max < 50,
      details: { rejectMs: toReject, admitted, loadAnswers, loadFull },
    };
  } finally {
    await stopServe(server);
  }
}

const MALFORMED: readonly [string, string][] = [
  ['non-numeric Content-Length', `POST /v2/models/${MODEL}/infer HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n`],
  ['negative Content-Length', `POST /v2/models/${MODEL}/infer HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n`],
  ['Content-Length with Transfer-Encoding', `POST /v2/models/${MODEL}/infer HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`],
  ['bad chunking', `POST /v2/models/${MODEL}/infer HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n`],
  ['unknown method', 'FOO /v2 HTTP/1.1\r\nHost: x\r\n\r\n'],
  ['raw byte in the URL', 'GET /v2/\x01 HTTP/1.1\r\nHost: x\r\n\r\n'],
  ['HTTP/9.9', 'GET /v2 HTTP/9.9\r\nHost: x\r\n\r\n'],
  ['20 KB header', `GET /v2 HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`],
];

async function parserErrors(server: ServeProcess): Promise<Scenario> {
  const results: { name: string; status: number; json: boolean }[] = [];
  for (const [name, bytes] of MALFORMED) {
    const connection = await RawConnection.open(server.url);
    connection.write(Buffer.from(bytes, 'latin1'));
    let status = 0;
    let json = false;
    try {
      const [reply] = await connection.waitFor(1, 3000);
      status = reply.status;
      json = reply.headers['content-type'] === 'application/json' && typeof reply.json().error === 'string';
    } catch {
      // No parseable answer: counted as not JSON.
    }
    connection.destroy();
    results.push({ name, status, json });
  }
  const good = results.filter((r) => r.json).length;
  return {
    name: 'parser errors',
    figure: `${good} of ${results.length} malformed requests answered with a JSON error body (${results.map((r) => `${r.name} ${r.status}`).join(', ')})`,
    target: 'all of them',
    met: good === results.length,
    details: { results },
  };
}

function commitOf(): string {
  const run = (args: string[]): string => execFileSync('git', args, { cwd: ROOT, encoding: 'utf8' }).trim();
  try {
    const dirty = run(['status', '--porcelain', '--untracked-files=no', 'src', 'bench/serve']).length > 0;
    return `${run(['rev-parse', '--short', 'HEAD'])}${dirty ? '-dirty' : ''}`;
  } catch {
    return 'unknown';
  }
}

function machineSlug(): string {
  const model = (cpus()[0]?.model ?? 'cpu').toLowerCase().replace(/\(r\)|\(tm\)|processor|cpu|\d+-core/g, ' ');
  return `${model.trim().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '') || 'cpu'}-${cpus().length}c`;
}

async function main(): Promise<void> {
  const started = Date.now();
  const date = new Date().toISOString().slice(0, 10);
  const commit = commitOf();
  const machine = machineSlug();
  const loadBefore = loadavg().map((l) => l.toFixed(2)).join(' ');
  const scenarios: Scenario[] = [];
  const report = (scenario: Scenario): void => {
    scenarios.push(scenario);
    process.stdout.write(`${scenario.name}: ${scenario.figure} — target: ${scenario.target}: ${scenario.met ? 'met' : 'MISSED'}\n`);
  };
  const runs = (scenario: (typeof SCENARIOS)[number]): boolean => ONLY === undefined || ONLY.includes(scenario);
  if (runs('pipelining')) {
    log('pipelining: 3 rounds of 20,000 ...');
    report(await pipelining());
  }
  if (runs('parser-errors') || runs('flood')) {
    const server = await startServe(SMALL);
    try {
      if (runs('parser-errors')) report(await parserErrors(server));
      log('flood ...');
      if (runs('flood')) report(await flood(server));
    } finally {
      await stopServe(server);
    }
  }
  if (runs('drain')) {
    log('drain: 3 runs x 48 clients ...');
    report(await drain());
  }
  if (runs('full-queue')) {
    log('full queue ...');
    report(await fullQueue());
  }

  const seconds = (Date.now() - started) / 1000;
  const name = `serve-adversarial-${date}-${machine}-${commit}${ONLY === undefined ? '' : `-only-${ONLY.join('-')}`}`;
  const lines = [
    `# serve against hostile and careless clients: ${date}`,
    '',
    `Commit ${commit}, ${cpus()[0]?.model ?? 'unknown CPU'} x ${cpus().length} cores, Node ${process.version}; load average before ${loadBefore}, ` +
      `after ${loadavg().map((l) => l.toFixed(2)).join(' ')}; ${seconds.toFixed(0)} s. \`inception-cudnn serve\` as a child process on the CPU backend ` +
      `(${MODEL}, synthetic weights; 80x80 max batch 4, or 160x160 max batch 8, a queue of 4 and one compute thread for the full queue), clients in this process over loopback ` +
      '(bench/serve/adversarial.ts).',
    '',
    '| scenario | figure | target | |',
    '|---|---|---|---|',
    ...scenarios.map((s) => `| ${s.name} | ${s.figure} | ${s.target} | ${s.met ? 'met' : '**missed**'} |`),
    '',
  ];
  const dir = resultsDir(process.argv, 'bench-adversarial');
  writeFileSync(join(dir, `${name}.md`), lines.join('\n'));
  writeFileSync(join(dir, `${name}.json`), `${JSON.stringify({ date, commit, machine, cpu: cpus()[0]?.model, cores: cpus().length, node: process.version, seconds, scenarios }, null, 2)}\n`);
  log(`wrote ${join(dir, name)}.{md,json} in ${seconds.toFixed(0)} s`);
  if (scenarios.some((s) => !s.met)) process.exitCode = 1;
}

main().catch((error: unknown) => {
  process.stderr.write(`adversarial bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exitCode = 1;
});
