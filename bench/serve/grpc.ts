/**
 * Throughput of `serve` over gRPC and with two models, on the CPU, one command:
 *
 *   npm run bench:serve:grpc           (builds lib/, then node lib/bench/grpc.js)
 *   node lib/bench/grpc.js --quick     (a short run while developing)
 *
 * inception_resnet_v1 at 160x160 with synthetic weights, as bench/serve/serve.ts phase 1:
 * 1. in-process session.run, batch 8 (the peer every ratio is taken against, measured in the
 *    same run, before and after the served phases);
 * 2. the server (a child process) with batch-8 requests: HTTP binary tensors (autocannon,
 *    2 connections) and gRPC ModelInfer with raw_input_contents (2 calls in flight);
 * 3. two models in one server (--config, one instance each, all cores each): each model's rate
 *    alone, then both loaded at once, each model's rate beside its rate alone (the CPU backend
 *    runs every program of the process on one compute thread, native/cpu/compute_thread.h, so
 *    on the CPU two models share its time: each near 0.5x, their sum near 1x);
 * 4. one-image gRPC requests, 64 in flight, max batch 8 and a 2 ms queue delay: p99 against
 *    queue delay + twice one batch-8 run (in-process).
 * Writes serve-grpc-cpu-<date>.{json,md} into a new temporary directory, or into `--out DIR`
 * (`npm run bench:serve:grpc -- --out bench/results` for the repository's results). Every phase is bounded in count and time.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
// Compiled to lib/bench/grpc.js: '../../lib/index' resolves to the package's lib/ from both places.
import { createSession, libraryInfo } from '../../lib/index';
import { ROOT, startServe, stopServe, type ServeProcess } from './child-server';
import { resultsDir } from './results-dir';
import { percentile, randomInput } from './samples';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const autocannon = require('autocannon') as (options: Record<string, unknown>) => Promise<{ requests: { total: number }; duration: number; latency: { p50: number; p99: number }; errors: number; non2xx: number }>;

const QUICK = process.argv.includes('--quick');
const MODEL = 'inception_resnet_v1';
const SIZE = 160;
const BATCH = 8;
const SECONDS = QUICK ? 3 : 8;
const QUEUE_DELAY_US = 2000;

interface Row {
  readonly mode: string;
  readonly imagesPerRequest: number;
  readonly inFlight: number;
  readonly requests: number;
  readonly imagesPerSecond: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly errors: number;
}

async function inProcess(threads: number | undefined): Promise<Row & { batchMs: number }> {
  const session = await createSession({ model: MODEL, weights: 'synthetic', maxBatch: BATCH, inputSize: SIZE, ...(threads === undefined ? {} : { threads }) });
  try {
    const input = randomInput(BATCH * 3 * SIZE * SIZE);
    for (let i = 0; i < 3; i++) await session.run(input, [BATCH, 3, SIZE, SIZE]);
    const latencies: number[] = [];
    const start = performance.now();
    while (latencies.length < 2000 && performance.now() - start < SECONDS * 1000) {
      const t = performance.now();
      await session.run(input, [BATCH, 3, SIZE, SIZE]);
      latencies.push(performance.now() - t);
    }
    const elapsed = (performance.now() - start) / 1000;
    latencies.sort((a, b) => a - b);
    return {
      mode: `in-process session.run${threads === undefined ? '' : `, ${threads} thread`}`,
      imagesPerRequest: BATCH,
      inFlight: 1,
      requests: latencies.length,
      imagesPerSecond: (latencies.length * BATCH) / elapsed,
      p50Ms: percentile(latencies, 50),
      p99Ms: percentile(latencies, 99),
      errors: 0,
      batchMs: percentile(latencies, 50),
    };
  } finally {
    await session.dispose();
  }
}

type Client = grpc.Client & Record<string, (request: unknown, callback: (error: grpc.ServiceError | null, reply: unknown) => void) => void>;

/**
 * A ModelInfer client that sends requests encoded once, up front (as autocannon sends one prepared
 * HTTP body): the load generator shares the two cores with the server, so it should not spend
 * them encoding 2.4 MB per call. Answers are decoded with the proto's own deserializer.
 */
function grpcClient(port: number): Client {
  const definition = protoLoader.loadSync(join(ROOT, 'data', 'grpc', 'open_inference_grpc.proto'), { keepCase: true, longs: Number, defaults: true });
  const loaded = grpc.loadPackageDefinition(definition) as unknown as { inference: { GRPCInferenceService: { service: grpc.ServiceDefinition } } };
  const infer = loaded.inference.GRPCInferenceService.service.ModelInfer;
  const Prepared = grpc.makeGenericClientConstructor({ ModelInfer: { ...infer, requestSerialize: (encoded: Buffer) => encoded } }, 'GRPCInferenceService');
  return new Prepared(`127.0.0.1:${port}`, grpc.credentials.createInsecure()) as unknown as Client;
}

/** The ModelInfer request, encoded. */
function inferRequest(model: string, images: number): Buffer {
  const definition = protoLoader.loadSync(join(ROOT, 'data', 'grpc', 'open_inference_grpc.proto'), { keepCase: true, longs: Number, defaults: true });
  const loaded = grpc.loadPackageDefinition(definition) as unknown as { inference: { GRPCInferenceService: { service: grpc.ServiceDefinition } } };
  const input = randomInput(images * 3 * SIZE * SIZE);
  const request = { model_name: model, inputs: [{ name: 'input', datatype: 'FP32', shape: [images, 3, SIZE, SIZE] }], raw_input_contents: [Buffer.from(input.buffer)] };
  return loaded.inference.GRPCInferenceService.service.ModelInfer.requestSerialize(request);
}

/** `inFlight` loops, each sending ModelInfer after the last answer, for `seconds` or `maxRequests` in all. */
async function grpcLoad(client: Client, model: string, images: number, inFlight: number, seconds: number, maxRequests: number, mode: string): Promise<Row> {
  const request = inferRequest(model, images);
  const latencies: number[] = [];
  let errors = 0;
  let sent = 0;
  const start = performance.now();
  const loop = async (): Promise<void> => {
    while (sent < maxRequests && performance.now() - start < seconds * 1000) {
      sent++;
      const t = performance.now();
      await new Promise<void>((resolve) =>
        client.ModelInfer(request, (error) => {
          if (error === null) latencies.push(performance.now() - t);
          else errors++;
          resolve();
        }),
      );
    }
  };
  await Promise.all(Array.from({ length: inFlight }, loop));
  const elapsed = (performance.now() - start) / 1000;
  latencies.sort((a, b) => a - b);
  return { mode, imagesPerRequest: images, inFlight, requests: latencies.length, imagesPerSecond: (latencies.length * images) / elapsed, p50Ms: percentile(latencies, 50), p99Ms: percentile(latencies, 99), errors };
}

async function httpLoad(url: string, model: string, connections: number, seconds: number): Promise<Row> {
  const input = randomInput(BATCH * 3 * SIZE * SIZE);
  const header = Buffer.from(JSON.stringify({ inputs: [{ name: 'input', shape: [BATCH, 3, SIZE, SIZE], datatype: 'FP32', parameters: { binary_data_size: input.byteLength } }], parameters: { binary_data_output: true } }));
  const result = await autocannon({
    url: `${url}/v2/models/${model}/infer`,
    method: 'POST',
    body: Buffer.concat([header, Buffer.from(input.buffer)]),
    headers: { 'Content-Type': 'application/octet-stream', 'Inference-Header-Content-Length': String(header.length) },
    connections,
    duration: seconds,
    timeout: 60,
  });
  return {
    mode: 'served, HTTP binary',
    imagesPerRequest: BATCH,
    inFlight: connections,
    requests: result.requests.total,
    imagesPerSecond: (result.requests.total * BATCH) / result.duration,
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    errors: result.errors + result.non2xx,
  };
}

async function serve(args: string[]): Promise<{ server: ServeProcess; port: number }> {
  const server = await startServe([...args, '--port', '0', '--grpc-port', '0']);
  for (let i = 0; i < 200; i++) {
    const match = /gRPC: serving inference.GRPCInferenceService on [^ ]+:([0-9]+)/.exec(server.stderr());
    if (match !== null) return { server, port: Number(match[1]) };
    await new Promise((r) => setTimeout(r, 25));
  }
  await stopServe(server);
  throw new Error(`the server did not say where gRPC is served:\n${server.stderr()}`);
}

async function main(): Promise<void> {
  const rows: Row[] = [];
  const checks: Record<string, unknown> = {};
  const peer = await inProcess(undefined);
  rows.push(peer);
  console.error(`in-process: ${peer.imagesPerSecond.toFixed(1)} images/s`);

  // 2. One model, HTTP and gRPC at saturation.
  {
    const { server, port } = await serve(['--model', MODEL, '--weights', 'synthetic', '--input-size', String(SIZE), '--max-batch', String(BATCH)]);
    const client = grpcClient(port);
    try {
      const http = await httpLoad(server.url, MODEL, 2, SECONDS);
      const overGrpc = await grpcLoad(client, MODEL, BATCH, 2, SECONDS, 100_000, 'served, gRPC raw_input_contents');
      rows.push(http, overGrpc);
      console.error(`HTTP ${http.imagesPerSecond.toFixed(1)}, gRPC ${overGrpc.imagesPerSecond.toFixed(1)} images/s`);
    } finally {
      client.close();
      await stopServe(server);
    }
  }

  // 3. Two models in one server, one instance each.
  {
    const dir = mkdtempSync(join(tmpdir(), 'bench-grpc-'));
    const session = { model: MODEL, weights: 'synthetic', inputSize: SIZE };
    writeFileSync(join(dir, 'models.json'), JSON.stringify({ models: ['a', 'b'].map((name) => ({ name, session, maxBatch: BATCH })) }));
    const { server, port } = await serve(['--config', join(dir, 'models.json')]);
    const client = grpcClient(port);
    try {
      const aloneA = await grpcLoad(client, 'a', BATCH, 2, SECONDS, 100_000, 'two models served, a alone');
      const aloneB = await grpcLoad(client, 'b', BATCH, 2, SECONDS, 100_000, 'two models served, b alone');
      const [bothA, bothB] = await Promise.all([
        grpcLoad(client, 'a', BATCH, 2, SECONDS, 100_000, 'two models served, a with b loaded'),
        grpcLoad(client, 'b', BATCH, 2, SECONDS, 100_000, 'two models served, b with a loaded'),
      ]);
      rows.push(aloneA, aloneB, bothA, bothB);
      checks.twoModels = {
        aTogetherOverAlone: bothA.imagesPerSecond / aloneA.imagesPerSecond,
        bTogetherOverAlone: bothB.imagesPerSecond / aloneB.imagesPerSecond,
        sumTogetherOverOneAlone: (bothA.imagesPerSecond + bothB.imagesPerSecond) / aloneA.imagesPerSecond,
      };
    } finally {
      client.close();
      await stopServe(server);
    }
  }

  // 4. One-image requests, 64 in flight.
  {
    const { server, port } = await serve(['--model', MODEL, '--weights', 'synthetic', '--input-size', String(SIZE), '--max-batch', String(BATCH), '--max-queue-delay-us', String(QUEUE_DELAY_US)]);
    const client = grpcClient(port);
    try {
      const burst = await grpcLoad(client, MODEL, 1, 64, SECONDS, QUICK ? 640 : 2000, 'served, gRPC 1-image requests');
      rows.push(burst);
    } finally {
      client.close();
      await stopServe(server);
    }
  }

  const peerAgain = await inProcess(undefined);
  rows.push({ ...peerAgain, mode: 'in-process session.run (again, at the end)' });
  const peerRate = (peer.imagesPerSecond + peerAgain.imagesPerSecond) / 2;
  const find = (mode: string): Row => rows.find((r) => r.mode === mode) as Row;
  const bound = QUEUE_DELAY_US / 1000 + 2 * peer.batchMs;
  checks.httpOverInProcess = find('served, HTTP binary').imagesPerSecond / peerRate;
  checks.grpcOverInProcess = find('served, gRPC raw_input_contents').imagesPerSecond / peerRate;
  checks.oneImageP99 = { p99Ms: find('served, gRPC 1-image requests').p99Ms, boundMs: bound, met: find('served, gRPC 1-image requests').p99Ms <= bound };

  const commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT }).toString().trim();
  const report = {
    date: new Date().toISOString(),
    commit,
    machine: { cpu: cpus()[0]?.model ?? 'unknown', cores: cpus().length, memoryGiB: totalmem() / 2 ** 30, loadavg: loadavg(), node: process.version, library: (await libraryInfo()).backends.find((b) => b.name === "cpu") },
    config: { model: MODEL, inputSize: SIZE, batch: BATCH, seconds: SECONDS, queueDelayUs: QUEUE_DELAY_US, quick: QUICK },
    rows,
    checks,
  };
  const dir = resultsDir(process.argv, 'bench-serve-grpc');
  const name = `serve-grpc-cpu-${report.date.slice(0, 10)}${QUICK ? '-quick' : ''}`;
  writeFileSync(join(dir, `${name}.json`), `${JSON.stringify(report, null, 2)}\n`);
  const two = checks.twoModels as { aTogetherOverAlone: number; bTogetherOverAlone: number; sumTogetherOverOneAlone: number };
  const one = checks.oneImageP99 as { p99Ms: number; boundMs: number; met: boolean };
  const md = [
    `# serve over gRPC and with two models, on the CPU: ${report.date}`,
    '',
    `Commit ${commit}; ${report.machine.cpu}, ${report.machine.cores} cores; load average at the end ${loadavg().map((l) => l.toFixed(2)).join(' ')}; ${MODEL} ${SIZE}x${SIZE}, synthetic weights.`,
    '',
    '| mode | images/request | in flight | requests | images/s | p50 ms | p99 ms | errors |',
    '|---|---:|---:|---:|---:|---:|---:|---:|',
    ...rows.map((r) => `| ${r.mode} | ${r.imagesPerRequest} | ${r.inFlight} | ${r.requests} | ${r.imagesPerSecond.toFixed(1)} | ${r.p50Ms.toFixed(1)} | ${r.p99Ms.toFixed(1)} | ${r.errors} |`),
    '',
    `- HTTP binary / in-process: ${(checks.httpOverInProcess as number).toFixed(2)} (target >= 0.9)`,
    `- gRPC / in-process: ${(checks.grpcOverInProcess as number).toFixed(2)} (target >= 0.9)`,
    `- two models at once, each over its rate alone: a ${two.aTogetherOverAlone.toFixed(2)}, b ${two.bTogetherOverAlone.toFixed(2)}; both together over one alone ${two.sumTogetherOverOneAlone.toFixed(2)}`,
    `- 1-image gRPC requests, 64 in flight: p99 ${one.p99Ms.toFixed(1)} ms against queue delay + 2 x batch-${BATCH} run = ${one.boundMs.toFixed(1)} ms (${one.met ? 'met' : 'NOT met'})`,
    '',
  ].join('\n');
  writeFileSync(join(dir, `${name}.md`), md);
  console.log(md);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
