/**
 * The model repository: two models at once (each its own batcher and sessions), the models.json
 * config file, and explicit model control (index, load, unload that drains first) under HTTP
 * and gRPC traffic, where every request is answered or refused with a clear error, never dropped.
 * Fake sessions: output row r is [sum of image r, batch size, instance, 0, ...] (exact, tolerance 0).
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { until } from '../../bench/serve/raw-http';
import { InvalidArgumentError } from '../../src/errors';
import type { InferenceServer } from '../../src/serve';
import { readModelConfigFile } from '../../src/serve/model-config';
import type { ServeOptions } from '../../src/serve/options';
import { fakeSession, imagesFilled } from '../batcher/fake-session';
import { grpc, outputOf, rawInfer, TestClient } from './grpc/grpc-client';
import { jsonInfer, request, startServer } from './helpers';

const IMAGE = 3 * 4 * 4;

let open: { server: InferenceServer; client: TestClient }[] = [];

async function start(options: ServeOptions): Promise<{ server: InferenceServer; url: string; client: TestClient }> {
  const { server, url, grpcPort } = await startServer({ grpcPort: 0, ...options });
  const client = new TestClient(grpcPort as number);
  open.push({ server, client });
  return { server, url, client };
}

afterEach(async () => {
  for (const { server, client } of open) {
    client.close();
    await server.close();
  }
  open = [];
});

function httpInfer(url: string, model: string, value: number): ReturnType<typeof request> {
  return request(`${url}/v2/models/${model}/infer`, { method: 'POST', body: jsonInfer(imagesFilled([value]), [1, 3, 4, 4]) });
}

describe('model repository (fake sessions)', () => {
  it('serves two models at once, each with its own batcher, sessions, metadata and statistics', async () => {
    const classifier = fakeSession({ maxBatch: 4, outputSize: 8 });
    const embedder = fakeSession({ maxBatch: 2, outputSize: 6, model: 'inception_resnet_v1' });
    const { server, url, client } = await start({
      models: [
        { name: 'classifier', sessions: [classifier.session] },
        { name: 'faces', sessions: [embedder.session], maxQueueSize: 3 },
      ],
    });
    expect(server.models.map((m) => m.name)).toEqual(['classifier', 'faces']);
    expect((await request(`${url}/v2/models/classifier`)).json().outputs[0].shape).toEqual([-1, 8]);
    expect((await client.call('ModelMetadata', { name: 'faces' })).reply.outputs[0].shape).toEqual([-1, 6]);
    // Concurrent requests to both, over both protocols: each answered by its own model.
    const calls = Array.from({ length: 8 }, (_, i) => {
      const model = i % 2 === 0 ? 'classifier' : 'faces';
      return i % 4 < 2
        ? httpInfer(url, model, i + 1).then((r) => ({ model, row: r.json().outputs[0].data as number[] }))
        : client.call('ModelInfer', rawInfer(model, imagesFilled([i + 1]), [1, 3, 4, 4])).then((r) => ({ model, row: Array.from(outputOf(r.reply)) }));
    });
    const answers = await Promise.all(calls);
    answers.forEach(({ model, row }, i) => {
      expect(row.length).toBe(model === 'classifier' ? 8 : 6);
      expect(row[0]).toBe((i + 1) * IMAGE);
    });
    expect(classifier.controls.batches.reduce((a, b) => a + b, 0)).toBe(4);
    expect(embedder.controls.batches.reduce((a, b) => a + b, 0)).toBe(4);
    const stats = (await request(`${url}/v2/models/stats`)).json().model_stats;
    expect(stats.map((s: { name: string; inference_count: number }) => [s.name, s.inference_count])).toEqual([
      ['classifier', 4],
      ['faces', 4],
    ]);
    const unknown = await request(`${url}/v2/models/nope`);
    expect(unknown.status).toBe(404);
    expect(unknown.json().error).toMatch(/this server serves 'classifier', 'faces'/);
    const metrics = (await request(`${url}/metrics`)).body.toString();
    expect(metrics).toMatch(/inception_queue_depth\{model="classifier"\} 0/);
    expect(metrics).toMatch(/inception_queue_depth\{model="faces"\} 0/);
  });

  it('refuses a bad repository: duplicate names, one-model options mixed with models, unknown keys', async () => {
    const a = fakeSession().session;
    await expect(startServer({ models: [{ name: 'm', sessions: [a] }, { name: 'm', sessions: [a] }] })).rejects.toThrow(/the name 'm' is used by an earlier model/);
    await expect(startServer({ models: [{ sessions: [a] }], maxBatch: 2 })).rejects.toThrow(/'maxBatch' belongs inside each entry of models/);
    await expect(startServer({ models: [{ sessions: [a], batch: 2 } as never] })).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(startServer({ models: [] })).rejects.toThrow(/a non-empty array of model configs/);
  });

  it('reads models.json: weights paths relative to the file, tags and URLs unchanged', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'models-json-'));
    const file = path.join(dir, 'models.json');
    writeFileSync(
      file,
      JSON.stringify({
        models: [
          { name: 'a', session: { model: 'inception_v4', weights: 'w/v4.safetensors', device: 'cpu' }, maxBatch: 8, instances: 2, maxQueueDelayMicroseconds: 2000, maxQueueSize: 64 },
          { name: 'b', session: { model: 'inception_resnet_v1', weights: 'synthetic:plain' } },
          { name: 'c', session: { model: 'inception_resnet_v1', weights: 'https://example.org/w.safetensors' } },
        ],
      }),
    );
    const models = readModelConfigFile(file);
    expect(models[0]).toMatchObject({ name: 'a', maxBatch: 8, instances: 2, session: { weights: path.join(dir, 'w/v4.safetensors'), device: 'cpu' } });
    expect(models[1].session?.weights).toBe('synthetic:plain');
    expect(models[2].session?.weights).toBe('https://example.org/w.safetensors');
    writeFileSync(file, '{"models": [], "port": 1}');
    expect(() => readModelConfigFile(file)).toThrow(/Unknown key 'port'/);
    writeFileSync(file, '{"models": ');
    expect(() => readModelConfigFile(file)).toThrow(/is not valid JSON/);
  });

  it('model control is off by default: load and unload answer 403 / FAILED_PRECONDITION naming --model-control explicit', async () => {
    const { url, client } = await start({ sessions: [fakeSession().session] });
    const http = await request(`${url}/v2/repository/models/inception_v4/unload`, { method: 'POST' });
    expect(http.status).toBe(403);
    expect(http.json().error).toMatch(/--model-control explicit/);
    const rpc = await client.call('RepositoryModelUnload', { model_name: 'inception_v4' });
    expect(rpc.code).toBe(grpc.status.FAILED_PRECONDITION);
    expect((await httpInfer(url, 'inception_v4', 1)).status).toBe(200);
  });

  it('explicit control: index, unload under traffic drains the queue (nothing dropped), load brings the model back', async () => {
    const fake = fakeSession({ maxBatch: 1 });
    const other = fakeSession({ maxBatch: 1 });
    const { server, url, client } = await start({
      modelControl: 'explicit',
      models: [
        { name: 'a', sessions: [fake.session] },
        { name: 'b', sessions: [other.session] },
      ],
    });
    const index = await request(`${url}/v2/repository/index`, { method: 'POST', body: '{}' });
    expect(index.json()).toEqual([
      { name: 'a', version: '1', state: 'READY', reason: '' },
      { name: 'b', version: '1', state: 'READY', reason: '' },
    ]);
    // Traffic: one running (held) and five queued, over both protocols.
    fake.controls.hold = true;
    const before = Array.from({ length: 6 }, (_, i) =>
      i % 2 === 0 ? httpInfer(url, 'a', i + 1).then((r) => r.status) : client.call('ModelInfer', rawInfer('a', imagesFilled([i + 1]), [1, 3, 4, 4])).then((r) => r.code),
    );
    const a = server.models[0];
    await until(() => a.loaded?.batcher.stats.queuedRequests === 5, 3000, 'five requests queued behind the held one');
    const unloading = client.call('RepositoryModelUnload', { model_name: 'a' });
    await until(() => a.state === 'unloading', 2000, 'the unload begun');
    // While it drains: new requests are refused with a clear error, the other model still serves.
    const refusedHttp = await httpInfer(url, 'a', 1);
    expect(refusedHttp.status).toBe(503);
    expect(refusedHttp.json().error).toMatch(/model 'a' is not ready \(unloaded; draining its queue\)/);
    const refusedGrpc = await client.call('ModelInfer', rawInfer('a', imagesFilled([1]), [1, 3, 4, 4]));
    expect(refusedGrpc.code).toBe(grpc.status.UNAVAILABLE);
    expect((await client.call('ModelReady', { name: 'a' })).reply.ready).toBe(false);
    expect((await client.call('ModelInfer', rawInfer('b', imagesFilled([2]), [1, 3, 4, 4]))).code).toBe(grpc.status.OK);
    fake.controls.hold = false;
    fake.releaseAll();
    expect((await unloading).code).toBe(grpc.status.OK);
    // Every request accepted before the unload was answered with its result.
    expect(await Promise.all(before)).toEqual([200, grpc.status.OK, 200, grpc.status.OK, 200, grpc.status.OK]);
    expect(fake.controls.batches).toHaveLength(6);
    const after = (await client.call('RepositoryIndex', {})).reply.models;
    expect(after[0]).toMatchObject({ name: 'a', state: 'UNAVAILABLE', reason: 'unloaded' });
    expect((await client.call('RepositoryIndex', { ready: true })).reply.models.map((m: { name: string }) => m.name)).toEqual(['b']);
    expect((await request(`${url}/v2/models/a/ready`)).status).toBe(503);

    const load = await request(`${url}/v2/repository/models/a/load`, { method: 'POST' });
    expect(load.status).toBe(200);
    expect((await httpInfer(url, 'a', 7)).json().outputs[0].data[0]).toBe(7 * IMAGE);
    expect((await request(`${url}/v2/repository/models/zzz/load`, { method: 'POST' })).status).toBe(404);
  });

  it('unload and load in a loop under continuous traffic: every request is answered 200/OK or refused 503/UNAVAILABLE', async () => {
    const fake = fakeSession({ maxBatch: 2 });
    fake.controls.delayMs = 2;
    const { url, client } = await start({ modelControl: 'explicit', models: [{ name: 'm', sessions: [fake.session] }] });
    let sending = true;
    const outcomes: string[] = [];
    const senders = Array.from({ length: 4 }, async (_, s) => {
      for (let i = 0; i < 400 && sending; i++) {
        if (s % 2 === 0) {
          const r = await httpInfer(url, 'm', 1);
          outcomes.push(r.status === 200 ? 'ok' : r.status === 503 ? 'refused' : `http ${r.status}: ${r.body.toString()}`);
        } else {
          const r = await client.call('ModelInfer', rawInfer('m', imagesFilled([1]), [1, 3, 4, 4]));
          outcomes.push(r.code === grpc.status.OK ? 'ok' : r.code === grpc.status.UNAVAILABLE ? 'refused' : `grpc ${r.code}: ${r.details}`);
        }
      }
    });
    for (let round = 0; round < 5; round++) {
      expect((await client.call('RepositoryModelUnload', { model_name: 'm' })).code).toBe(grpc.status.OK);
      await new Promise((r) => setTimeout(r, 20));
      expect((await client.call('RepositoryModelLoad', { model_name: 'm' })).code).toBe(grpc.status.OK);
      await new Promise((r) => setTimeout(r, 20));
    }
    sending = false;
    await Promise.all(senders);
    const unexpected = outcomes.filter((o) => o !== 'ok' && o !== 'refused');
    expect(unexpected).toEqual([]);
    expect(outcomes.filter((o) => o === 'ok').length).toBeGreaterThan(0);
  });
});
