/**
 * Pipelined requests (HTTP/1.1: many requests on one connection without waiting for answers) over
 * raw sockets, on fake sessions (tests/batcher/fake-session.ts: row r = [sum of image r, batch
 * size, ...]) whose runs can be held. Node parses every pipelined request at once and answers them
 * in order; the server takes them one at a time per connection, so that one connection has at most
 * one request in the batcher or one /metrics render, and a client that goes away leaves nothing
 * behind: the requests it had waiting are dropped uncomputed and counted as 499. A connection
 * that pipelines more than PIPELINE_DEPTH_LIMIT requests ahead of its answers is closed. Every
 * count here is exact (no timing tolerance); the waits are bounded polls.
 */
import { describe, it, expect } from 'vitest';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { fakeSession, imagesFilled } from '../batcher/fake-session';
import { jsonInfer, startServer } from './helpers';
import { RawConnection, rawRequest, until } from '../../bench/serve/raw-http';
import type { InferenceServer } from '../../src/serve';
import { PIPELINE_DEPTH_LIMIT } from '../../src/serve/pipeline';

const MODEL = 'inception_v4';
const IMAGE = 3 * 4 * 4;

function inferBytes(value: number): Buffer {
  return rawRequest('POST', `/v2/models/${MODEL}/infer`, { 'Content-Type': 'application/json' }, jsonInfer(imagesFilled([value]), [1, 3, 4, 4]));
}

/** Requests of `endpoint` counted so far: answered, or 499 (client gone or dropped). */
async function counted(server: InferenceServer, endpoint: string): Promise<number> {
  const counts = await requestCounts(server, endpoint);
  return counts.ok + (counts.byStatus['499'] ?? 0);
}

/** The server's request counters straight from its registry (not through the cached /metrics text). */
async function requestCounts(server: InferenceServer, endpoint: string): Promise<{ ok: number; byStatus: Record<string, number> }> {
  const metrics = await server.registry.getMetricsAsJSON();
  let ok = 0;
  const byStatus: Record<string, number> = {};
  for (const metric of metrics) {
    for (const value of (metric as { values?: { labels: Record<string, string>; value: number }[] }).values ?? []) {
      if (value.labels.endpoint !== endpoint) continue;
      if (metric.name === 'inception_request_success_total') ok += value.value;
      if (metric.name === 'inception_request_failure_total') byStatus[value.labels.status] = (byStatus[value.labels.status] ?? 0) + value.value;
    }
  }
  return { ok, byStatus };
}

describe('pipelined requests', () => {
  it('infer: one request per connection reaches the batcher; when the client goes away the rest are dropped uncomputed and counted as 499', async () => {
    const fake = fakeSession({ maxBatch: 1 });
    fake.controls.hold = true;
    const { server, url } = await startServer({ sessions: [fake.session] });
    try {
      const client = await RawConnection.open(url);
      const PIPELINED = 300;
      client.write(Buffer.concat(Array.from({ length: PIPELINED }, (_, i) => inferBytes(i + 1))));
      await until(() => server.batcher.stats.runningBatches === 1, 2000, 'the first request running');
      // Let Node parse the rest of what was sent (a few hundred small requests: well under 200 ms).
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(server.batcher.stats).toMatchObject({ accepted: 1, queuedRequests: 0 });
      expect(server.requests.waiting).toBe(PIPELINED - 1);

      client.destroy();
      await until(() => server.requests.open === 0, 2000, 'every request of the closed connection released');
      expect(server.requests.waiting).toBe(0);
      fake.controls.hold = false;
      fake.releaseAll();
      await until(() => server.batcher.stats.runningBatches === 0, 2000, 'the held batch finished');
      // Only the first request ever ran (its rows were discarded); the 299 behind it never reached the batcher.
      expect(fake.controls.batches).toEqual([1]);
      expect(server.batcher.stats).toMatchObject({ accepted: 1, aborted: 1 });
      expect(await requestCounts(server, 'infer')).toEqual({ ok: 0, byStatus: { '499': PIPELINED } });
    } finally {
      fake.controls.hold = false;
      fake.releaseAll();
      await server.close();
    }
  });

  it('infer: a client that reads gets every pipelined answer, in order, each with its own rows, one batch at a time', async () => {
    const fake = fakeSession({ maxBatch: 4 });
    fake.controls.delayMs = 1;
    const { server, url } = await startServer({ sessions: [fake.session] });
    try {
      const client = await RawConnection.open(url);
      const PIPELINED = 200;
      client.write(Buffer.concat(Array.from({ length: PIPELINED }, (_, i) => inferBytes(i + 1))));
      const replies = await client.waitFor(PIPELINED, 10_000);
      expect(replies.map((r) => r.status)).toEqual(Array<number>(PIPELINED).fill(200));
      expect(replies.map((r) => r.json().outputs[0].data[0])).toEqual(Array.from({ length: PIPELINED }, (_, i) => (i + 1) * IMAGE));
      // One connection, one request at a time: never two of its requests in one batch.
      expect(Math.max(...fake.controls.batches)).toBe(1);
      client.destroy();
    } finally {
      await server.close();
    }
  });

  it('/metrics: a pipelined flood renders one at a time (and from a short cache), all answered in order', async () => {
    const fake = fakeSession();
    const { server, url } = await startServer({ sessions: [fake.session] });
    let rendering = 0;
    let maxRendering = 0;
    let renders = 0;
    const render = server.registry.metrics.bind(server.registry);
    server.registry.metrics = async () => {
      rendering++;
      renders++;
      maxRendering = Math.max(maxRendering, rendering);
      try {
        return await render();
      } finally {
        rendering--;
      }
    };
    try {
      const client = await RawConnection.open(url);
      const PIPELINED = 400;
      const started = Date.now();
      client.write(Buffer.concat(Array.from({ length: PIPELINED }, () => rawRequest('GET', '/metrics'))));
      const replies = await client.waitFor(PIPELINED, 20_000);
      const seconds = (Date.now() - started) / 1000;
      expect(replies.every((r) => r.status === 200 && r.body.toString().includes('inception_queue_depth'))).toBe(true);
      // Before: all 400 rendered at once. Now one at a time, and at most one render per cache period (1 s) plus the first.
      expect(maxRendering).toBe(1);
      expect(renders).toBeLessThanOrEqual(Math.ceil(seconds) + 1);
      client.destroy();
    } finally {
      await server.close();
    }
  });

  it('a pipelined flood on one connection does not hold up a request on another: each pipelined answer waits for a turn of the event loop', async () => {
    const fake = fakeSession();
    const { server, url } = await startServer({ sessions: [fake.session] });
    let floodAnswers = 0;
    let floodAnswersBeforeHealth: number | undefined;
    server.http.on('request', (req: IncomingMessage, res: ServerResponse) => {
      if (req.url === '/metrics') res.on('finish', () => floodAnswers++);
      else res.on('finish', () => (floodAnswersBeforeHealth = floodAnswers));
    });
    try {
      const flood = await RawConnection.open(url, { keep: false });
      const health = await RawConnection.open(url);
      await (await fetch(`${url}/metrics`)).text(); // the text is cached from here on: every flood answer is ready at once
      floodAnswers = 0;
      // Both at once: the server reads them in the same turn of the event loop, or in the next.
      flood.write(Buffer.concat(Array.from({ length: 400 }, () => rawRequest('GET', '/metrics'))));
      health.write(rawRequest('GET', '/v2/health/live'));
      await health.waitFor(1, 2000);
      // Answers chained without a turn between them ran hundreds ahead; with a turn each, the
      // health check is read within a few. Bound 50: generous for a loaded machine, far below the chain.
      expect(floodAnswersBeforeHealth).toBeLessThan(50);
      flood.destroy();
      health.destroy();
    } finally {
      await server.close();
    }
  });

  it('/v2/health/live (no token needed) behind a held infer: a client that goes away leaves no request held, and each request it sent is counted once', async () => {
    const fake = fakeSession({ maxBatch: 1 });
    fake.controls.hold = true;
    const { server, url } = await startServer({ sessions: [fake.session], token: 't' });
    let received = 0;
    server.http.on('request', () => received++);
    try {
      const client = await RawConnection.open(url);
      const LIVE = 500;
      const infer = rawRequest('POST', `/v2/models/${MODEL}/infer`, { Authorization: 'Bearer t' }, jsonInfer(imagesFilled([1]), [1, 3, 4, 4]));
      client.write(Buffer.concat([infer, ...Array.from({ length: LIVE }, () => rawRequest('GET', '/v2/health/live'))]));
      // Node parses what arrived (it may stop early once answers back up); a few hundred ms is plenty for 500 small requests.
      await until(() => received > 1, 2000, 'the pipelined requests received');
      await new Promise((resolve) => setTimeout(resolve, 300));
      client.destroy();
      await until(async () => (await counted(server, 'live')) + (await counted(server, 'infer')) === received, 2000, 'every received request counted once (answered or 499)');
      expect(server.requests).toEqual({ open: 0, waiting: 0 });
    } finally {
      fake.controls.hold = false;
      fake.releaseAll();
      await server.close();
    }
  });

  it(`a connection more than PIPELINE_DEPTH_LIMIT (${PIPELINE_DEPTH_LIMIT}) requests ahead of its answers is closed; each request it sent is counted once`, async () => {
    const fake = fakeSession({ maxBatch: 1 });
    fake.controls.hold = true;
    const { server, url } = await startServer({ sessions: [fake.session] });
    let received = 0;
    server.http.on('request', () => received++);
    try {
      const client = await RawConnection.open(url);
      // A held infer first, so that nothing behind it is answered: every request parsed waits.
      const requests = [inferBytes(1), ...Array.from({ length: PIPELINE_DEPTH_LIMIT + 500 }, () => rawRequest('GET', '/v2/health/live'))];
      client.write(Buffer.concat(requests));
      expect(await client.closesWithin(5000)).toBe(true);
      expect(received).toBeGreaterThan(PIPELINE_DEPTH_LIMIT);
      await until(async () => (await counted(server, 'live')) + (await counted(server, 'infer')) === received, 2000, 'every received request counted once (499)');
      expect(await requestCounts(server, 'infer')).toEqual({ ok: 0, byStatus: { '499': 1 } });
      expect(server.requests).toEqual({ open: 0, waiting: 0 });
      expect(client.received).toBe(0);
    } finally {
      fake.controls.hold = false;
      fake.releaseAll();
      await server.close();
    }
  });
});
