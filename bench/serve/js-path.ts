/**
 * JS-thread cost of the infer request path at GPU batch sizes, without a GPU or a network:
 * `--requests` 1-image binary requests (299x299 by default) go through what the server does
 * with a body once it is read (parseInferRequest, then batcher.infer) into a session whose
 * backend is a stand-in that answers at once (no network is computed, so every millisecond
 * measured is JS-thread work: parsing, checks, copies, allocation and GC). Each request's body is
 * first copied into a buffer, as reading it from the socket does: a new one, or one from the
 * server's BodyPool (handed back once answered) where this build has it. Prints ms per batch.
 *
 *   node lib/bench/js-path.js [--size 299] [--requests 64] [--rounds 20]
 */
import { performance } from 'node:perf_hooks';
import { createBatcher } from '../../lib/batcher';
import type { Backend, Program } from '../../lib/runtime/backend';
import { createSessionWithBackend } from '../../lib/runtime/session';
import * as http from '../../lib/serve/http';
import { parseInferRequest } from '../../lib/serve/v2-tensors';

function option(name: string, fallback: number): number {
  const index = process.argv.indexOf(`--${name}`);
  return index < 0 ? fallback : Number(process.argv[index + 1]);
}

/** Answers every run at once with zeros: stands in for a device that takes no time. */
const instantBackend: Backend = {
  kind: 'cuda',
  info: () => ({ name: 'cuda', available: true, versions: {}, devices: [{ index: 0, name: 'instant stand-in' }] }),
  layoutPolicy: () => ({ elementBytes: 4, channelBlock: 1, alignment: 64, concatViews: true }),
  async compile(plan): Promise<Program> {
    const out = plan.tensors[plan.output];
    const k = out.c * out.h * out.w;
    return { workspaceBytes: 0, weightBytes: 0, arenaBytes: 0, dispose: () => undefined, run: (_input: Float32Array, n: number) => Promise.resolve(new Float32Array(n * k)) };
  },
};

async function main(): Promise<void> {
  const size = option('size', 299);
  const requests = option('requests', 64);
  const rounds = option('rounds', 20);
  const session = await createSessionWithBackend({ model: 'inception_v4', weights: 'synthetic', device: 'cuda:0', maxBatch: requests, inputSize: size }, instantBackend);
  const batcher = createBatcher(session, { maxBatch: requests, maxQueueDelayMicroseconds: 1_000_000 });
  const signature = { inputName: 'input', outputName: session.info.output, height: size, width: size, outputSize: session.info.outputShape[1], maxBatch: requests };
  const input = new Float32Array(3 * size * size).map((_, i) => ((i * 7919) % 1000) / 1000 - 0.5);
  const header = Buffer.from(JSON.stringify({ inputs: [{ name: 'input', shape: [1, 3, size, size], datatype: 'FP32', parameters: { binary_data_size: input.byteLength } }] }));
  const body = Buffer.concat([header, Buffer.from(input.buffer)]);
  // The server's own choice of infer options: transfer where this build's batcher has it.
  const transfer = await batcher.infer(input.slice(), { transfer: true } as never).then(
    () => true,
    (error: Error) => !/Unknown infer option/.test(error.message),
  );
  const pad = transfer ? (4 - (header.length % 4)) % 4 : 0;
  // The server's body pool where this build has one.
  const PoolClass = (http as unknown as { BodyPool?: new (maxFreeBytes: number) => { acquire(bytes: number): Buffer; release(body: Uint8Array): void } }).BodyPool;
  const pool = PoolClass === undefined ? undefined : new PoolClass(256 * 1024 * 1024);
  const times: number[] = [];
  for (let round = 0; round < rounds; round++) {
    const start = performance.now();
    const pending: Promise<Float32Array>[] = [];
    for (let r = 0; r < requests; r++) {
      // A fresh body per request, as read from the socket (placed aligned where readBody does that).
      const received = (pool?.acquire(pad + body.length) ?? Buffer.allocUnsafeSlow(pad + body.length)).subarray(pad, pad + body.length);
      body.copy(received);
      const request = parseInferRequest(received, String(header.length), signature);
      const settled = batcher.infer(request.input, transfer ? ({ transfer: true } as never) : undefined);
      pending.push(settled.finally(() => pool?.release(received)));
    }
    await Promise.all(pending);
    times.push(performance.now() - start);
  }
  await batcher.close();
  await session.dispose();
  const sorted = times.slice(2).sort((a, b) => a - b);
  const mb = (requests * input.byteLength) / 2 ** 20;
  const median = sorted[Math.floor(sorted.length / 2)];
  process.stdout.write(
    `${requests} x 1-image ${size}x${size} requests (${mb.toFixed(1)} MiB) -> one batch: JS thread ${median.toFixed(1)} ms per batch (median of ${sorted.length}, ` +
      `min ${sorted[0].toFixed(1)}, max ${sorted[sorted.length - 1].toFixed(1)}), ${(median / mb).toFixed(2)} ms/MiB; transfer: ${transfer}, body pool: ${pool !== undefined}\n`,
  );
}

main().catch((error: unknown) => {
  process.stderr.write(`js-path failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exitCode = 1;
});
