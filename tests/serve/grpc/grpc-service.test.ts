/**
 * The gRPC endpoint (inference.GRPCInferenceService) driven by @grpc/grpc-js clients generated
 * from the committed proto files, over loopback. Fake sessions (tests/batcher/fake-session.ts):
 * output row r is [sum of image r, batch size, instance, 0, ...], so each caller can check it got
 * its own row exactly (float32 sums of small integers are exact: tolerance 0).
 */
import { connect } from 'node:http2';
import { afterEach, describe, expect, it } from 'vitest';
import { RECEIVE_WINDOW_BYTES } from '../../../src/serve/grpc/service';
import { until } from '../../../bench/serve/raw-http';
import type { InferenceServer } from '../../../src/serve';
import type { ServeOptions } from '../../../src/serve/options';
import { fakeSession, imagesFilled } from '../../batcher/fake-session';
import { jsonInfer, request, startServer } from '../helpers';
import { grpc, outputOf, rawInfer, TestClient, typedInfer } from './grpc-client';

const IMAGE = 3 * 4 * 4;
const MODEL = 'inception_v4';

let open: { server: InferenceServer; client: TestClient }[] = [];

async function start(options: Partial<ServeOptions>): Promise<{ server: InferenceServer; url: string; client: TestClient; grpcPort: number }> {
  const { server, url, grpcPort } = await startServer({ grpcPort: 0, ...options } as ServeOptions);
  if (grpcPort === undefined) throw new Error('gRPC is not listening');
  const client = new TestClient(grpcPort);
  open.push({ server, client });
  return { server, url, client, grpcPort };
}

afterEach(async () => {
  for (const { server, client } of open) {
    client.close();
    await server.close();
  }
  open = [];
});

describe('gRPC inference service (fake sessions)', () => {
  it('answers every core RPC: live, ready, model ready, server and model metadata, infer with raw and typed inputs', async () => {
    const fake = fakeSession({ maxBatch: 4 });
    const { client } = await start({ sessions: [fake.session] });
    expect(await client.call('ServerLive', {})).toMatchObject({ code: grpc.status.OK, reply: { live: true } });
    expect(await client.call('ServerReady', {})).toMatchObject({ code: grpc.status.OK, reply: { ready: true } });
    expect(await client.call('ModelReady', { name: MODEL })).toMatchObject({ code: grpc.status.OK, reply: { ready: true } });
    const meta = await client.call('ServerMetadata', {});
    expect(meta.reply).toMatchObject({ name: 'inception-cudnn', extensions: ['binary_tensor_data', 'classify', 'statistics'] });
    const model = await client.call('ModelMetadata', { name: MODEL, version: '1' });
    expect(model.reply).toMatchObject({
      name: MODEL,
      versions: ['1'],
      platform: 'inception-cudnn',
      inputs: [{ name: 'input', datatype: 'FP32', shape: [-1, 3, 4, 4] }],
      outputs: [{ name: 'logits', datatype: 'FP32', shape: [-1, 8] }],
    });

    const raw = await client.call('ModelInfer', rawInfer(MODEL, imagesFilled([1, 2]), [2, 3, 4, 4], 'req-7'));
    expect(raw.code).toBe(grpc.status.OK);
    expect(raw.reply).toMatchObject({ model_name: MODEL, model_version: '1', id: 'req-7', outputs: [{ name: 'logits', datatype: 'FP32', shape: [2, 8] }] });
    const rows = outputOf(raw.reply);
    expect([rows[0], rows[8]]).toEqual([IMAGE, 2 * IMAGE]);

    const typed = await client.call('ModelInfer', typedInfer(MODEL, imagesFilled([3]), [1, 3, 4, 4]));
    expect(typed.code).toBe(grpc.status.OK);
    expect(outputOf(typed.reply)[0]).toBe(3 * IMAGE);
  });

  it('errors map to status codes: NOT_FOUND, INVALID_ARGUMENT, RESOURCE_EXHAUSTED (queue full, oversized message)', async () => {
    const fake = fakeSession({ maxBatch: 2 });
    const { server, client } = await start({ sessions: [fake.session], maxQueueSize: 1, maxBodyBytes: 4096 });
    const missing = await client.call('ModelMetadata', { name: 'nope' });
    expect(missing).toMatchObject({ code: grpc.status.NOT_FOUND });
    expect(missing.details).toMatch(/unknown model 'nope'; this server serves 'inception_v4'/);
    expect((await client.call('ModelReady', { name: MODEL, version: '9' })).code).toBe(grpc.status.NOT_FOUND);
    expect((await client.call('ModelInfer', rawInfer('nope', imagesFilled([1]), [1, 3, 4, 4]))).code).toBe(grpc.status.NOT_FOUND);
    const shape = await client.call('ModelInfer', rawInfer(MODEL, imagesFilled([1]), [1, 3, 5, 4]));
    expect(shape).toMatchObject({ code: grpc.status.INVALID_ARGUMENT });
    expect(shape.details).toMatch(/needs shape \[N,3,4,4\]/);
    const bytes = await client.call('ModelInfer', rawInfer(MODEL, imagesFilled([1, 2]), [1, 3, 4, 4]));
    expect(bytes.details).toMatch(/raw_input_contents\[0\] has 384 bytes but shape \[1,3,4,4\] of FP32 needs 192/);
    const tooMany = await client.call('ModelInfer', rawInfer(MODEL, imagesFilled([1, 2, 3]), [3, 3, 4, 4]));
    expect(tooMany).toMatchObject({ code: grpc.status.INVALID_ARGUMENT });
    const typedCount = await client.call('ModelInfer', typedInfer(MODEL, imagesFilled([1]).subarray(1), [1, 3, 4, 4]));
    expect(typedCount.details).toMatch(/fp32_contents has 47 values but shape \[1,3,4,4\] needs 48/);
    const output = await client.call('ModelInfer', { ...(rawInfer(MODEL, imagesFilled([1]), [1, 3, 4, 4]) as object), outputs: [{ name: 'embedding' }] });
    expect(output.details).toMatch(/unknown output 'embedding'; this model's output is 'logits'/);

    // Over the message limit (= maxBodyBytes): refused before decoding.
    const big = await client.call('ModelInfer', rawInfer(MODEL, new Float32Array(2000), [1, 3, 4, 4]));
    expect(big.code).toBe(grpc.status.RESOURCE_EXHAUSTED);

    // Queue full: one running (held), one queued, the third refused.
    fake.controls.hold = true;
    const first = client.call('ModelInfer', rawInfer(MODEL, imagesFilled([1, 1]), [2, 3, 4, 4]));
    await until(() => server.batcher.stats.runningBatches === 1, 2000, 'the first request running');
    const second = client.call('ModelInfer', rawInfer(MODEL, imagesFilled([2, 2]), [2, 3, 4, 4]));
    await until(() => server.batcher.stats.queuedRequests === 1, 2000, 'the second request queued');
    const third = await client.call('ModelInfer', rawInfer(MODEL, imagesFilled([3]), [1, 3, 4, 4]));
    expect(third.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    expect(third.details).toMatch(/queue is full/);
    fake.controls.hold = false;
    fake.releaseAll();
    expect((await first).code).toBe(grpc.status.OK);
    expect((await second).code).toBe(grpc.status.OK);
  });

  it('the token: UNAUTHENTICATED without or with a wrong authorization: Bearer, OK with it; ServerLive and ServerReady need none', async () => {
    const fake = fakeSession();
    const { client } = await start({ sessions: [fake.session], token: 's3cret' });
    expect((await client.call('ServerLive', {})).code).toBe(grpc.status.OK);
    expect((await client.call('ServerReady', {})).code).toBe(grpc.status.OK);
    for (const rpc of ['ServerMetadata', 'ModelMetadata', 'ModelReady', 'ModelStatistics']) {
      const none = await client.call(rpc, { name: MODEL });
      expect(none.code, rpc).toBe(grpc.status.UNAUTHENTICATED);
      expect(none.details).toMatch(/bearer token/);
      expect((await client.call(rpc, { name: MODEL }, { token: 'wrong' })).code, rpc).toBe(grpc.status.UNAUTHENTICATED);
      expect((await client.call(rpc, { name: MODEL }, { token: 's3cret' })).code, rpc).toBe(grpc.status.OK);
    }
    expect((await client.call('ModelInfer', rawInfer(MODEL, imagesFilled([1]), [1, 3, 4, 4]))).code).toBe(grpc.status.UNAUTHENTICATED);
    expect((await client.call('ModelInfer', rawInfer(MODEL, imagesFilled([1]), [1, 3, 4, 4]), { token: 's3cret' })).code).toBe(grpc.status.OK);
  });

  it('a deadline that passes in the queue answers DEADLINE_EXCEEDED and takes the request out of the queue', async () => {
    const fake = fakeSession({ maxBatch: 1 });
    const { server, client } = await start({ sessions: [fake.session] });
    fake.controls.hold = true;
    const running = client.call('ModelInfer', rawInfer(MODEL, imagesFilled([1]), [1, 3, 4, 4]));
    await until(() => server.batcher.stats.runningBatches === 1, 2000, 'the first request running');
    const late = await client.call('ModelInfer', rawInfer(MODEL, imagesFilled([2]), [1, 3, 4, 4]), { deadlineMs: 300 });
    expect(late.code).toBe(grpc.status.DEADLINE_EXCEEDED);
    await until(() => server.batcher.stats.queuedRequests === 0, 2000, 'the expired request out of the queue');
    fake.controls.hold = false;
    fake.releaseAll();
    expect((await running).code).toBe(grpc.status.OK);
    // Only the first request ever ran.
    expect(fake.controls.batches).toEqual([1]);
    expect(server.batcher.stats.timedOut + server.batcher.stats.aborted).toBe(1);
  });

  it('cancellation takes a queued request out of the queue; a storm of cancelled calls leaves the server answering', async () => {
    const fake = fakeSession({ maxBatch: 1 });
    const { server, client } = await start({ sessions: [fake.session] });
    fake.controls.hold = true;
    const running = client.call('ModelInfer', rawInfer(MODEL, imagesFilled([1]), [1, 3, 4, 4]));
    await until(() => server.batcher.stats.runningBatches === 1, 2000, 'the first request running');
    const queued = client.start('ModelInfer', rawInfer(MODEL, imagesFilled([2]), [1, 3, 4, 4]));
    await until(() => server.batcher.stats.queuedRequests === 1, 2000, 'the second request queued');
    queued.call.cancel();
    expect((await queued.result).code).toBe(grpc.status.CANCELLED);
    await until(() => server.batcher.stats.queuedRequests === 0 && server.batcher.stats.aborted === 1, 2000, 'the cancelled request out of the queue');
    // A storm: 200 calls, each cancelled as soon as it is sent or after it is queued.
    const storm = Array.from({ length: 200 }, (_, i) => {
      const started = client.start('ModelInfer', rawInfer(MODEL, imagesFilled([i]), [1, 3, 4, 4]));
      if (i % 2 === 0) started.call.cancel();
      else setImmediate(() => started.call.cancel());
      return started.result;
    });
    const codes = (await Promise.all(storm)).map((r) => r.code);
    expect(new Set(codes)).toEqual(new Set([grpc.status.CANCELLED]));
    await until(() => server.batcher.stats.queuedRequests === 0, 2000, 'every cancelled request out of the queue');
    fake.controls.hold = false;
    fake.releaseAll();
    expect((await running).code).toBe(grpc.status.OK);
    const after = await client.call('ModelInfer', rawInfer(MODEL, imagesFilled([5]), [1, 3, 4, 4]));
    expect(outputOf(after.reply)[0]).toBe(5 * IMAGE);
  });

  it('HTTP and gRPC requests batch together, each getting its own rows', async () => {
    const fake = fakeSession({ maxBatch: 4 });
    const { server, url, client } = await start({ sessions: [fake.session], maxQueueDelayMicroseconds: 60_000_000 });
    fake.controls.hold = true;
    // A full batch of 4 runs at once (the delay only holds partial batches): it occupies the one instance.
    const filler = client.call('ModelInfer', rawInfer(MODEL, imagesFilled([9, 9, 9, 9]), [4, 3, 4, 4]));
    await until(() => server.batcher.stats.runningBatches === 1, 2000, 'the filler batch running');
    const http1 = request(`${url}/v2/models/${MODEL}/infer`, { method: 'POST', body: jsonInfer(imagesFilled([1]), [1, 3, 4, 4]) });
    const grpc1 = client.call('ModelInfer', rawInfer(MODEL, imagesFilled([2]), [1, 3, 4, 4]));
    const http2 = request(`${url}/v2/models/${MODEL}/infer`, { method: 'POST', body: jsonInfer(imagesFilled([3]), [1, 3, 4, 4]) });
    const grpc2 = client.call('ModelInfer', typedInfer(MODEL, imagesFilled([4]), [1, 3, 4, 4]));
    await until(() => server.batcher.stats.queuedRequests === 4, 2000, 'four one-image requests queued');
    fake.controls.hold = false;
    fake.releaseAll();
    expect((await filler).code).toBe(grpc.status.OK);
    const [h1, g1, h2, g2] = await Promise.all([http1, grpc1, http2, grpc2]);
    expect(h1.json().outputs[0].data.slice(0, 2)).toEqual([1 * IMAGE, 4]);
    expect(Array.from(outputOf(g1.reply).subarray(0, 2))).toEqual([2 * IMAGE, 4]);
    expect(h2.json().outputs[0].data.slice(0, 2)).toEqual([3 * IMAGE, 4]);
    expect(Array.from(outputOf(g2.reply).subarray(0, 2))).toEqual([4 * IMAGE, 4]);
    expect(fake.controls.batches).toEqual([4, 4]);
  });

  it('statistics: GET /v2/models/{m}/stats and ModelStatistics count successes, failures, queue and compute time; metrics carry the model label', async () => {
    const fake = fakeSession({ maxBatch: 2 });
    const { url, client } = await start({ sessions: [fake.session] });
    expect((await client.call('ModelInfer', rawInfer(MODEL, imagesFilled([1, 2]), [2, 3, 4, 4]))).code).toBe(grpc.status.OK);
    expect((await request(`${url}/v2/models/${MODEL}/infer`, { method: 'POST', body: jsonInfer(imagesFilled([1]), [1, 3, 4, 4]) })).status).toBe(200);
    fake.controls.failNext = new Error('boom');
    expect((await client.call('ModelInfer', rawInfer(MODEL, imagesFilled([1]), [1, 3, 4, 4]))).code).toBe(grpc.status.INTERNAL);
    const http = (await request(`${url}/v2/models/${MODEL}/stats`)).json();
    const viaGrpc = (await client.call('ModelStatistics', { name: MODEL })).reply;
    for (const stats of [http.model_stats[0], viaGrpc.model_stats[0]]) {
      expect(stats).toMatchObject({ name: MODEL, version: '1', inference_count: 3, execution_count: 2 });
      expect(stats.inference_stats.success.count).toBe(2);
      expect(stats.inference_stats.fail.count).toBe(1);
      expect(stats.inference_stats.queue.count).toBe(3);
      expect(stats.inference_stats.compute_infer.count).toBe(2);
      // Each batch takes the fake session's timer (5 ms): some time, and never more than the requests' whole time.
      expect(stats.inference_stats.compute_infer.ns).toBeGreaterThan(0);
      expect(stats.inference_stats.compute_infer.ns).toBeLessThanOrEqual(stats.inference_stats.success.ns);
      expect(stats.last_inference).toBeGreaterThan(0);
    }
    expect((await request(`${url}/v2/models/stats`)).json().model_stats).toHaveLength(1);
    expect((await request(`${url}/v2/models/nope/stats`)).status).toBe(404);
    expect((await client.call('ModelStatistics', { name: 'nope' })).code).toBe(grpc.status.NOT_FOUND);
    const metrics = (await request(`${url}/metrics`)).body.toString();
    expect(metrics).toMatch(/inception_request_success_total\{model="inception_v4",endpoint="grpc_ModelInfer"\} 1/);
    expect(metrics).toMatch(/inception_request_failure_total\{model="inception_v4",endpoint="grpc_ModelInfer",status="INTERNAL"\} 1/);
  });

  it('grants clients a 16 MiB HTTP/2 receive window (stream and connection), not the 64 KiB default', async () => {
    const { grpcPort } = await start({ sessions: [fakeSession().session] });
    const session = connect(`http://127.0.0.1:${grpcPort}`);
    const settings = await new Promise<{ initialWindowSize?: number }>((resolve) => session.once('remoteSettings', resolve));
    expect(settings.initialWindowSize).toBe(RECEIVE_WINDOW_BYTES);
    await until(() => session.state.remoteWindowSize === RECEIVE_WINDOW_BYTES, 2000, 'the connection window widened');
    session.close();
  });

  it('a client that sends calls and never reads the answers does not hold up other clients', async () => {
    const fake = fakeSession({ maxBatch: 4, outputSize: 1000 });
    const { grpcPort, client } = await start({ sessions: [fake.session] });
    // Raw HTTP/2: 50 ModelInfer calls (batch 4, 16 KB answers each) on one connection, never read.
    const serialize = (TestClient.serviceOf('ModelInfer') as { requestSerialize(value: unknown): Buffer }).requestSerialize;
    const message = serialize(rawInfer(MODEL, imagesFilled([1, 2, 3, 4]), [4, 3, 4, 4]));
    const frame = Buffer.alloc(5 + message.length);
    frame.writeUInt32BE(message.length, 1);
    message.copy(frame, 5);
    const session = connect(`http://127.0.0.1:${grpcPort}`);
    const streams = Array.from({ length: 50 }, () => {
      const stream = session.request({ ':method': 'POST', ':path': '/inference.GRPCInferenceService/ModelInfer', 'content-type': 'application/grpc', te: 'trailers' });
      stream.end(frame);
      return stream;
    });
    // Meanwhile a normal client is answered.
    for (let i = 0; i < 5; i++) {
      const reply = await client.call('ModelInfer', rawInfer(MODEL, imagesFilled([i]), [1, 3, 4, 4]));
      expect(outputOf(reply.reply)[0]).toBe(i * IMAGE);
    }
    for (const stream of streams) stream.destroy();
    session.destroy();
  });
});
