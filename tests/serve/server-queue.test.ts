/**
 * The server's overload, timeout, abort, shutdown and internal-error behaviour over loopback,
 * on fake sessions (tests/batcher/fake-session.ts: row r = [sum of image r, batch size,
 * instance, ...]) whose runs can be held, so that the timing is exact rather than a race
 * with a real network. Sums of 48 equal small integers are exact in float32.
 */
import { describe, it, expect } from 'vitest';
import { connect, type Socket } from 'node:net';
import { InvalidArgumentError } from '../../src/errors';
import { imagenetLabels } from '../../src/models/labels';
import { createServer } from '../../src/serve';
import sharp from 'sharp';
import { fakeSession, imagesFilled } from '../batcher/fake-session';
import { until } from '../../bench/serve/raw-http';
import { jsonInfer, request, startServer } from './helpers';

const MODEL = 'inception_v4';
const IMAGE = 3 * 4 * 4;
const wait = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function infer(url: string, value: number, init: RequestInit = {}): ReturnType<typeof request> {
  return request(`${url}/v2/models/${MODEL}/infer`, { method: 'POST', body: jsonInfer(imagesFilled([value]), [1, 3, 4, 4]), ...init });
}

describe('server queueing (fake sessions)', () => {
  it('overload answers 429 with Retry-After and loses no accepted request', async () => {
    const fake = fakeSession({ maxBatch: 1 });
    fake.controls.hold = true;
    const { server, url } = await startServer({ sessions: [fake.session], maxQueueSize: 4 });
    const replies = Array.from({ length: 12 }, (_, i) => infer(url, i + 1));
    // Wait for all 12 to have arrived (1 running, 4 queued, 7 refused) rather than for a fixed time:
    // on a loaded machine some requests are still connecting after hundreds of milliseconds.
    await until(() => server.batcher.stats.rejectedQueueFull === 7, 20_000, 'the 7 requests beyond the queue refused');
    expect(server.batcher.stats).toMatchObject({ runningBatches: 1, queuedRequests: 4 });
    fake.controls.hold = false;
    fake.releaseAll();
    const done = await Promise.all(replies);
    const ok = done.filter((r) => r.status === 200);
    const full = done.filter((r) => r.status === 429);
    expect(ok.length).toBe(5);
    expect(full.length).toBe(7);
    for (const r of full) {
      expect(r.headers.get('retry-after')).toBe('1');
      expect(r.json().error).toMatch(/queue is full/);
    }
    // Every accepted request got its own row back.
    done.forEach((r, i) => {
      if (r.status === 200) expect(r.json().outputs[0].data[0]).toBe((i + 1) * IMAGE);
    });
    expect(server.batcher.stats).toMatchObject({ accepted: 5, succeeded: 5, rejectedQueueFull: 7 });
    await server.close();
  });

  it('a request over its timeout answers 504; the server stays healthy', async () => {
    const fake = fakeSession({ maxBatch: 1 });
    fake.controls.delayMs = 300;
    const { server, url } = await startServer({ sessions: [fake.session], requestTimeoutMs: 50 });
    const reply = await infer(url, 1);
    expect(reply.status).toBe(504);
    expect(reply.json().error).toMatch(/timed out after 50 ms/);
    fake.controls.delayMs = 1;
    // The timed-out request's 300 ms run must end first, or the next one would queue behind it past 50 ms.
    await until(() => server.batcher.stats.runningBatches === 0, 20_000, 'the timed-out run ended');
    expect((await infer(url, 2)).status).toBe(200);
    await server.close();
  });

  it('a client that disconnects while queued is removed from the queue', async () => {
    const fake = fakeSession({ maxBatch: 1 });
    fake.controls.hold = true;
    const { server, url } = await startServer({ sessions: [fake.session] });
    const first = infer(url, 1);
    const controller = new AbortController();
    const second = infer(url, 2, { signal: controller.signal }).catch((e: unknown) => e);
    await until(() => server.batcher.stats.runningBatches === 1 && server.batcher.stats.queuedRequests === 1, 20_000, 'one running, one queued');
    controller.abort();
    expect(await second).toBeInstanceOf(Error);
    await until(() => server.batcher.stats.aborted === 1, 20_000, 'the disconnected request aborted');
    expect(server.batcher.stats).toMatchObject({ queuedRequests: 0, aborted: 1 });
    fake.controls.hold = false;
    fake.releaseAll();
    expect((await first).json().outputs[0].data[0]).toBe(IMAGE);
    expect(fake.controls.batches).toEqual([1]); // the aborted request never ran
    const metrics = await (await fetch(`${url}/metrics`)).text();
    expect(metrics).toMatch(/inception_request_failure_total\{model="inception_v4",endpoint="infer",status="499"\} 1/);
    await server.close();
  });

  it('close() stops accepting, answers every accepted request, then resolves', async () => {
    const fake = fakeSession({ maxBatch: 2 });
    fake.controls.hold = true;
    const { server, url } = await startServer({ sessions: [fake.session], maxQueueDelayMicroseconds: 60_000_000 });
    const accepted = [1, 2, 3, 4, 5].map((v) => infer(url, v));
    await until(() => server.batcher.stats.accepted === 5, 20_000, 'all 5 requests accepted');
    let closed = false;
    const closing = server.close().then(() => (closed = true));
    await wait(50);
    expect(server.ready).toBe(false);
    expect(closed).toBe(false);
    // New connections are refused while draining.
    await expect(fetch(`${url}/v2/health/live`)).rejects.toThrow();
    fake.controls.hold = false;
    fake.releaseAll();
    const replies = await Promise.all(accepted);
    expect(replies.map((r) => r.status)).toEqual([200, 200, 200, 200, 200]);
    expect(replies.map((r) => r.json().outputs[0].data[0])).toEqual([1, 2, 3, 4, 5].map((v) => v * IMAGE));
    await closing;
    expect(closed).toBe(true);
  });

  it('an internal error answers 500 without details; the log gets them', async () => {
    const fake = fakeSession();
    const lines: string[] = [];
    const { server, url } = await startServer({ sessions: [fake.session], log: (line) => lines.push(line) });
    fake.controls.failNext = new Error('secret detail /home/x');
    const reply = await infer(url, 1);
    expect(reply.status).toBe(500);
    expect(reply.json()).toEqual({ error: 'internal server error (logged on the server)' });
    expect(lines.join('\n')).toMatch(/secret detail/);
    await server.close();
  });

  it('classify on a logits model returns top-k ImageNet labels', async () => {
    const fake = fakeSession({ outputSize: 1000 });
    const { server, url } = await startServer({ sessions: [fake.session] });
    const png = await sharp({ create: { width: 30, height: 20, channels: 3, background: '#ffffff' } }).png().toBuffer();
    const reply = await request(`${url}/v2/models/${MODEL}/classify?top_k=3`, { method: 'POST', body: png, headers: { 'Content-Type': 'image/png' } });
    expect(reply.status).toBe(200);
    const top = reply.json().top;
    expect(top.length).toBe(3);
    // A white image normalises to 1.0 everywhere, so row[0] = 48 is the largest logit.
    expect(top[0]).toMatchObject({ index: 0, label: imagenetLabels()[0] });
    expect(top[0].probability).toBeGreaterThan(0.99);
    await server.close();
  });

  it('several instances share one queue, each running one batch at a time', async () => {
    const fakes = [0, 1, 2].map((instance) => fakeSession({ maxBatch: 2, instance }));
    fakes.forEach((f) => (f.controls.delayMs = 20));
    const { server, url } = await startServer({ sessions: fakes.map((f) => f.session) });
    const replies = await Promise.all(Array.from({ length: 12 }, (_, i) => infer(url, i)));
    expect(replies.every((r) => r.status === 200)).toBe(true);
    const used = new Set(replies.map((r) => r.json().outputs[0].data[2]));
    expect(used.size).toBeGreaterThan(1);
    for (const f of fakes) expect(f.controls.maxActive).toBeLessThanOrEqual(1);
    await server.close();
  });

  it('close() does not wait for a client still sending its body: it gets 503 within the grace period', async () => {
    const fake = fakeSession({ maxBatch: 1 });
    const { server, url } = await startServer({ sessions: [fake.session] });
    const { port, hostname } = new URL(url);
    // Headers and 1 of the 100 declared body bytes; the rest never comes (Node would wait up to requestTimeout, >= 60 s).
    const socket: Socket = await new Promise((resolve) => {
      const s = connect(Number(port), hostname, () => resolve(s));
    });
    let received = '';
    socket.on('data', (d: Buffer) => (received += d.toString()));
    const socketClosed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
    socket.write('POST /v2/models/inception_v4/infer HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{');
    await wait(100);
    const started = Date.now();
    const outcome = await Promise.race([server.close().then(() => 'closed'), wait(5000).then(() => 'still closing after 5 s')]);
    expect(outcome).toBe('closed');
    // Bound: the 500 ms grace for open requests plus the 500 ms connection grace, with slack for a loaded CI machine.
    expect(Date.now() - started).toBeLessThan(3000);
    await socketClosed;
    expect(received).toMatch(/^HTTP\/1\.1 503 /);
    expect(received).toMatch(/shut down before this request was accepted/);
  });

  it('an error event of the listening server (e.g. accept EMFILE) is logged, not thrown out of the process', async () => {
    const fake = fakeSession();
    const lines: string[] = [];
    const { server, url } = await startServer({ sessions: [fake.session], log: (line) => lines.push(line) });
    // What net.Server does when accept() fails: emit 'error'; with no listener, emit throws.
    const accept = Object.assign(new Error('accept EMFILE'), { code: 'EMFILE', syscall: 'accept' });
    expect(() => server.http.emit('error', accept)).not.toThrow();
    expect(lines.join('\n')).toMatch(/accept EMFILE/);
    expect((await infer(url, 1)).status).toBe(200);
    await server.close();
  });

  it('idle sockets time out (a client that stops reading its response cannot hold it forever), after longer than any request takes', async () => {
    const fake = fakeSession();
    const { server } = await startServer({ sessions: [fake.session], requestTimeoutMs: 90_000 });
    // Node's default is 0 (never). It must exceed both the body timeout and the inference timeout.
    expect(server.http.timeout).toBeGreaterThan(0);
    expect(server.http.timeout).toBeGreaterThan(server.http.requestTimeout);
    expect(server.http.timeout).toBeGreaterThan(90_000);
    await server.close();
  });

  it('createServer({ sessions }) with no sessions or non-sessions is an InvalidArgumentError, not a TypeError', async () => {
    for (const sessions of [[], null, 'x', [{}], [fakeSession().session, 42]]) {
      await expect(createServer({ sessions: sessions as never, port: 0 })).rejects.toBeInstanceOf(InvalidArgumentError);
    }
    await expect(createServer({ sessions: [] as never, port: 0 })).rejects.toThrow(/a Session or a non-empty array of Sessions/);
  });
});
