/**
 * Pipelined requests (HTTP/1.1: many requests on one connection without waiting for answers) over
 * raw sockets, on fake sessions (tests/batcher/fake-session.ts: row r = [sum of image r, batch
 * size, ...]) whose runs can be held. Node parses every pipelined request at once and answers them
 * in order; the server takes them one at a time per connection, so that one connection has at most
 * one request in the batcher or one /metrics render, and a client that goes away leaves nothing
 * behind: the requests it had waiting are dropped uncomputed and counted as 499. Every count here
 * is exact (no timing tolerance); the waits are bounded polls.
 */
import { describe, it, expect } from 'vitest';
import { fakeSession, imagesFilled } from '../batcher/fake-session';
import { jsonInfer, startServer } from './helpers';
import { RawConnection, rawRequest, until } from '../../bench/serve/raw-http';
import type { InferenceServer } from '../../src/serve';

const MODEL = 'inception_v4';
const IMAGE = 3 * 4 * 4;

function inferBytes(value: number): Buffer {
  return rawRequest('POST', `/v2/models/${MODEL}/infer`, { 'Content-Type': 'application/json' }, jsonInfer(imagesFilled([value]), [1, 3, 4, 4]));
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

  it('/v2/health/live (no token needed) behind a held infer: a client that goes away leaves no request held, and each request it sent is counted once', async () => {
    const fake = fakeSession({ maxBatch: 1 });
    fake.controls.hold = true;
    const { server, url } = await startServer({ sessions: [fake.session], token: 't' });
    let received = 0;
    server.http.on('request', () => received++);
    try {
      const client = await RawConnection.open(url);
      const LIVE = 2000;
      const infer = rawRequest('POST', `/v2/models/${MODEL}/infer`, { Authorization: 'Bearer t' }, jsonInfer(imagesFilled([1]), [1, 3, 4, 4]));
      client.write(Buffer.concat([infer, ...Array.from({ length: LIVE }, () => rawRequest('GET', '/v2/health/live'))]));
      // Node parses what arrived (it may stop early once answers back up); a few hundred ms is plenty for 2,000 small requests.
      await until(() => received > 1, 2000, 'the pipelined requests received');
      await new Promise((resolve) => setTimeout(resolve, 300));
      client.destroy();
      const counted = async (endpoint: string): Promise<number> => {
        const counts = await requestCounts(server, endpoint);
        return counts.ok + (counts.byStatus['499'] ?? 0);
      };
      await until(async () => (await counted('live')) === LIVE && (await counted('infer')) === 1, 2000, 'every received request counted once (answered or 499)');
      expect(server.requests).toEqual({ open: 0, waiting: 0 });
    } finally {
      fake.controls.hold = false;
      fake.releaseAll();
      await server.close();
    }
  });
});
