/**
 * A small, bounded loopback load generator for the `serve` stage (the GPU machine has no
 * autocannon). It runs in a worker thread so that writing request bodies and reading replies
 * does not share the server's event loop: `LoadClient` (main thread) sends it phases, the worker
 * answers each with latencies and a check of every response against the expected rows.
 *
 * Requests use Open Inference Protocol v2 binary tensors (a JSON header, then raw FP32 data),
 * ask for binary output, and go over `connections` keep-alive sockets, each sending its next
 * request when the previous answer has arrived (closed loop). Request i carries images
 * [b*k, (b+1)*k) of the shared image pool (b = i mod pool/k, k images per request), so
 * responses of different requests differ and rows mixed up between requests are caught.
 */
import { Agent, request as httpRequest } from 'node:http';
import { performance } from 'node:perf_hooks';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';

export interface LoadPool {
  /** POST URL of the infer endpoint. */
  readonly url: string;
  /** `count` images, float32 [count, 3, height, width]. */
  readonly images: SharedArrayBuffer;
  readonly count: number;
  readonly height: number;
  readonly width: number;
  /** Reference output rows of the pool's images, float32 [count, classes]. */
  readonly expected: Float32Array;
  readonly classes: number;
}

export interface LoadPhase {
  readonly imagesPerRequest: number;
  readonly connections: number;
  /** Stop issuing requests after this many, or after `seconds`, whichever comes first. */
  readonly maxRequests: number;
  readonly seconds: number;
  /** Each request fails after this long without its whole answer. */
  readonly requestTimeoutMs: number;
  /** Largest per-row rel-L2 of a response vs the expected row that counts as correct. */
  readonly relL2Bound: number;
}

export interface LoadResult {
  readonly imagesPerRequest: number;
  readonly connections: number;
  readonly requests: number;
  readonly ok: number;
  readonly errors: number;
  /** Up to 5 error texts. */
  readonly errorSamples: readonly string[];
  readonly seconds: number;
  /** Images of correct (200, right rows) responses per second of the phase. */
  readonly imagesPerSecond: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
  readonly meanMs: number;
  /** Responses compared with the expected rows (every 200 response). */
  readonly checked: number;
  /** Of those, bit-identical to the expected rows. */
  readonly identical: number;
  /** Responses with a row over the rel-L2 bound or the wrong shape. */
  readonly wrong: number;
  readonly worstRelL2: number;
}

type ToWorker = { readonly phase: LoadPhase } | { readonly close: true };
type FromWorker = { readonly result: LoadResult } | { readonly error: string };

/** Main-thread handle of the worker; one phase at a time. */
export class LoadClient {
  private readonly worker: Worker;
  private pending: { resolve: (r: LoadResult) => void; reject: (e: Error) => void } | undefined;
  private failure: Error | undefined;

  constructor(pool: LoadPool) {
    this.worker = new Worker(__filename, { workerData: pool });
    this.worker.on('message', (message: FromWorker) => {
      const p = this.pending;
      this.pending = undefined;
      if ('result' in message) p?.resolve(message.result);
      else p?.reject(new Error(`load worker: ${message.error}`));
    });
    const fail = (error: Error): void => {
      this.failure = error;
      this.pending?.reject(error);
      this.pending = undefined;
    };
    this.worker.on('error', fail);
    this.worker.on('exit', (code) => fail(new Error(`the load worker exited (code ${code})`)));
  }

  run(phase: LoadPhase): Promise<LoadResult> {
    if (this.failure !== undefined) return Promise.reject(this.failure);
    if (this.pending !== undefined) return Promise.reject(new Error('LoadClient.run: a phase is already running'));
    return new Promise((resolve, reject) => {
      this.pending = { resolve, reject };
      this.worker.postMessage({ phase } satisfies ToWorker);
    });
  }

  async close(): Promise<void> {
    this.worker.postMessage({ close: true } satisfies ToWorker);
    await this.worker.terminate();
  }
}

function percentile(sorted: readonly number[], p: number): number {
  return sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

interface Body {
  readonly bytes: Buffer;
  readonly headerLength: number;
}

function bodies(pool: LoadPool, k: number): Body[] {
  const per = 3 * pool.height * pool.width;
  const all = new Float32Array(pool.images);
  const out: Body[] = [];
  for (let b = 0; b + k <= pool.count; b += k) {
    const data = all.subarray(b * per, (b + k) * per);
    const header = Buffer.from(
      JSON.stringify({
        id: String(b / k),
        inputs: [{ name: 'input', shape: [k, 3, pool.height, pool.width], datatype: 'FP32', parameters: { binary_data_size: data.byteLength } }],
        parameters: { binary_data_output: true },
      }),
    );
    out.push({ bytes: Buffer.concat([header, Buffer.from(data.buffer, data.byteOffset, data.byteLength)]), headerLength: header.length });
  }
  return out;
}

interface Reply {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: Buffer;
}

function post(agent: Agent, url: URL, body: Body, timeoutMs: number): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      url,
      {
        method: 'POST',
        agent,
        headers: {
          'Content-Type': 'application/octet-stream',
          'Content-Length': String(body.bytes.length),
          'Inference-Header-Content-Length': String(body.headerLength),
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
        res.on('error', reject);
      },
    );
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`no complete answer within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end(body.bytes);
  });
}

/** Largest per-row rel-L2 of the response's rows vs expected[first .. first+k), or a reason it is malformed. */
function compare(pool: LoadPool, reply: Reply, first: number, k: number): { relL2: number; identical: boolean } | string {
  const headerLength = Number(reply.headers['inference-header-content-length']);
  if (!Number.isInteger(headerLength) || headerLength <= 0 || headerLength > reply.body.length) return `bad Inference-Header-Content-Length '${String(reply.headers['inference-header-content-length'])}'`;
  const header = JSON.parse(reply.body.subarray(0, headerLength).toString('utf8')) as { outputs?: { shape?: number[]; datatype?: string }[] };
  const shape = header.outputs?.[0]?.shape;
  if (shape?.[0] !== k || shape[1] !== pool.classes) return `output shape ${JSON.stringify(shape)}, expected [${k}, ${pool.classes}]`;
  const data = reply.body.subarray(headerLength);
  if (data.length !== k * pool.classes * 4) return `${data.length} output bytes, expected ${k * pool.classes * 4}`;
  const rows = new Float32Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.length));
  let worst = 0;
  let identical = true;
  for (let r = 0; r < k; r++) {
    let diff = 0;
    let ref = 0;
    for (let j = 0; j < pool.classes; j++) {
      const e = pool.expected[(first + r) * pool.classes + j]!;
      const d = rows[r * pool.classes + j]! - e;
      if (d !== 0) identical = false;
      diff += d * d;
      ref += e * e;
    }
    worst = Math.max(worst, Math.sqrt(diff / Math.max(ref, Number.MIN_VALUE)));
  }
  return { relL2: worst, identical };
}

async function runPhase(pool: LoadPool, cache: Map<number, Body[]>, phase: LoadPhase): Promise<LoadResult> {
  const k = phase.imagesPerRequest;
  if (!cache.has(k)) cache.set(k, bodies(pool, k));
  const list = cache.get(k)!;
  if (list.length === 0) throw new Error(`the pool has ${pool.count} images, fewer than ${k} per request`);
  const url = new URL(pool.url);
  const agent = new Agent({ keepAlive: true, maxSockets: phase.connections });
  const latencies: number[] = [];
  const errorSamples: string[] = [];
  let issued = 0;
  let errors = 0;
  let checked = 0;
  let identical = 0;
  let wrong = 0;
  let worstRelL2 = 0;
  const start = performance.now();
  const deadline = start + phase.seconds * 1000;
  const fail = (text: string): void => {
    errors++;
    if (errorSamples.length < 5) errorSamples.push(text);
  };
  const connection = async (): Promise<void> => {
    while (issued < phase.maxRequests && performance.now() < deadline) {
      const b = issued++ % list.length;
      const t = performance.now();
      let reply: Reply;
      try {
        reply = await post(agent, url, list[b]!, phase.requestTimeoutMs);
      } catch (error) {
        fail(error instanceof Error ? error.message : String(error));
        continue;
      }
      const ms = performance.now() - t;
      if (reply.status !== 200) {
        fail(`HTTP ${reply.status}: ${reply.body.toString('utf8').slice(0, 200)}`);
        continue;
      }
      checked++;
      const c = compare(pool, reply, b * k, k);
      if (typeof c === 'string' || c.relL2 > phase.relL2Bound) {
        wrong++;
        fail(typeof c === 'string' ? c : `request ${b}: row rel-L2 ${c.relL2.toExponential(2)} > ${phase.relL2Bound}`);
        if (typeof c !== 'string') worstRelL2 = Math.max(worstRelL2, c.relL2);
        continue;
      }
      worstRelL2 = Math.max(worstRelL2, c.relL2);
      if (c.identical) identical++;
      latencies.push(ms);
    }
  };
  await Promise.all(Array.from({ length: phase.connections }, connection));
  const seconds = (performance.now() - start) / 1000;
  agent.destroy();
  const sorted = [...latencies].sort((a, b) => a - b);
  return {
    imagesPerRequest: k,
    connections: phase.connections,
    requests: issued,
    ok: latencies.length,
    errors,
    errorSamples,
    seconds,
    imagesPerSecond: (latencies.length * k) / seconds,
    p50Ms: percentile(sorted, 50),
    p99Ms: percentile(sorted, 99),
    maxMs: sorted.length === 0 ? NaN : sorted[sorted.length - 1]!,
    meanMs: sorted.reduce((a, b) => a + b, 0) / Math.max(1, sorted.length),
    checked,
    identical,
    wrong,
    worstRelL2,
  };
}

// Worker entry: phases arrive one at a time from LoadClient.
if (!isMainThread && parentPort !== null) {
  const port = parentPort;
  const pool = workerData as LoadPool;
  const cache = new Map<number, Body[]>();
  port.on('message', (message: ToWorker) => {
    if ('close' in message) {
      port.close();
      return;
    }
    runPhase(pool, cache, message.phase).then(
      (result) => port.postMessage({ result } satisfies FromWorker),
      (error: unknown) => port.postMessage({ error: error instanceof Error ? (error.stack ?? error.message) : String(error) } satisfies FromWorker),
    );
  });
}
