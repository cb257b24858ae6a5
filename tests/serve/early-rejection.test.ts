/**
 * What the server refuses from the headers alone, before it reads a request's body: a full queue
 * answers 429 as soon as the headers are in (no body byte needed), and a compressed body is 415
 * (it was parsed as garbled JSON). Fake sessions (tests/batcher/fake-session.ts) whose runs can be
 * held, so the queue is exactly full; real sockets.
 */
import { describe, it, expect } from 'vitest';
import { deflateSync, gzipSync } from 'node:zlib';
import sharp from 'sharp';
import { fakeSession, imagesFilled } from '../batcher/fake-session';
import { jsonInfer, request, startServer } from './helpers';
import { RawConnection, until } from '../../bench/serve/raw-http';

const MODEL = 'inception_v4';

describe('a full queue answers 429 before the body is read', () => {
  it('429 with Retry-After and a JSON body from the headers alone; counted as a queue-full rejection', async () => {
    const fake = fakeSession({ maxBatch: 1 });
    fake.controls.hold = true;
    const { server, url } = await startServer({ sessions: [fake.session], maxQueueSize: 1 });
    try {
      const infer = `${url}/v2/models/${MODEL}/infer`;
      const body = jsonInfer(imagesFilled([1]), [1, 3, 4, 4]);
      const held = [request(infer, { method: 'POST', body }), request(infer, { method: 'POST', body })];
      await until(() => server.batcher.stats.runningBatches === 1 && server.batcher.stats.queuedRequests === 1, 10_000, 'one running, one queued');
      const client = await RawConnection.open(url);
      // Headers of an 8 MB body, and not one byte of it: any reply at all was decided from the headers
      // alone (a server that read the body first would answer 408 after its request timeout, or
      // nothing). How fast it comes is the adversarial bench's measurement (target 50 ms), not a test's.
      client.write(`POST /v2/models/${MODEL}/infer HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\nContent-Length: 8000000\r\n\r\n`);
      const [reply] = await client.waitFor(1, 10_000);
      expect(reply.status).toBe(429);
      expect(reply.headers['retry-after']).toBe('1');
      expect(reply.json().error).toMatch(/queue is full/);
      expect(server.batcher.stats.rejectedQueueFull).toBe(1);
      client.destroy();
      fake.controls.hold = false;
      fake.releaseAll();
      expect((await Promise.all(held)).map((r) => r.status)).toEqual([200, 200]);
    } finally {
      fake.controls.hold = false;
      fake.releaseAll();
      await server.close();
    }
  });
});

describe('Content-Encoding', () => {
  it('gzip or deflate bodies answer 415 naming the encoding, without echoing the bytes; infer and classify', async () => {
    const fake = fakeSession();
    const { server, url } = await startServer({ sessions: [fake.session] });
    try {
      const json = Buffer.from(jsonInfer(imagesFilled([1]), [1, 3, 4, 4]));
      const png = await sharp({ create: { width: 8, height: 8, channels: 3, background: '#fff' } }).png().toBuffer();
      const cases: [string, string, Buffer, string][] = [
        ['infer', 'gzip', gzipSync(json), 'application/json'],
        ['infer', 'deflate', deflateSync(json), 'application/json'],
        ['classify', 'gzip', gzipSync(png), 'image/png'],
      ];
      for (const [endpoint, encoding, body, type] of cases) {
        const reply = await request(`${url}/v2/models/${MODEL}/${endpoint}`, { method: 'POST', body, headers: { 'Content-Type': type, 'Content-Encoding': encoding } });
        expect([endpoint, encoding, reply.status]).toEqual([endpoint, encoding, 415]);
        expect(reply.headers.get('accept-encoding')).toBe('identity');
        expect(reply.json().error).toMatch(new RegExp(`Content-Encoding '${encoding}' is not accepted`));
        expect(reply.body.length).toBeLessThan(300);
      }
      // identity is no encoding.
      const plain = await request(`${url}/v2/models/${MODEL}/infer`, { method: 'POST', body: json, headers: { 'Content-Encoding': 'identity' } });
      expect(plain.status).toBe(200);
    } finally {
      await server.close();
    }
  });
});
