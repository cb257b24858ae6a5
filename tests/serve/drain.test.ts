/**
 * Graceful close with keep-alive clients, over raw sockets, on fake sessions whose runs are held
 * so that the order of events is exact: once close() has begun every response says
 * `Connection: close` (so no client reuses a connection the server is about to close), and a
 * connection is never closed under a request the server has received and not answered: a client
 * that sends its next request on an idle keep-alive connection during the drain gets an answer.
 */
import { describe, it, expect } from 'vitest';
import { fakeSession, imagesFilled } from '../batcher/fake-session';
import { jsonInfer, startServer } from './helpers';
import { RawConnection, rawRequest, until } from '../../bench/serve/raw-http';

const MODEL = 'inception_v4';
const IMAGE = 3 * 4 * 4;
const wait = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function inferBytes(value: number): Buffer {
  return rawRequest('POST', `/v2/models/${MODEL}/infer`, { 'Content-Type': 'application/json' }, jsonInfer(imagesFilled([value]), [1, 3, 4, 4]));
}

describe('close() with keep-alive connections', () => {
  it('answers every request received before or during the drain, each with Connection: close, then closes the connections', async () => {
    const fake = fakeSession({ maxBatch: 1 });
    const { server, url } = await startServer({ sessions: [fake.session] });
    // An idle keep-alive connection: its first answer came before close() and did not say close.
    const idle = await RawConnection.open(url);
    idle.write(inferBytes(9));
    const [before] = await idle.waitFor(1, 10_000);
    expect(before.status).toBe(200);
    expect(before.headers.connection).toBe('keep-alive');

    fake.controls.hold = true;
    const busy = await Promise.all([1, 2, 3].map(() => RawConnection.open(url)));
    busy.forEach((c, i) => c.write(inferBytes(i + 1)));
    await until(() => server.batcher.stats.accepted === 4, 10_000, 'the three held requests accepted');

    const closing = server.close();
    await wait(100);
    // A request on the idle connection during the drain: received, so it is answered (503, not a reset).
    idle.write(inferBytes(10));
    const [during] = await idle.waitFor(2, 10_000).then((r) => r.slice(1));
    expect(during.status).toBe(503);
    expect(during.headers.connection).toBe('close');
    expect(during.json().error).toMatch(/shutting down/);
    expect(await idle.closesWithin(2000)).toBe(true);

    fake.controls.hold = false;
    fake.releaseAll();
    for (const [i, c] of busy.entries()) {
      const [reply] = await c.waitFor(1, 10_000);
      expect(reply.status).toBe(200);
      expect(reply.json().outputs[0].data[0]).toBe((i + 1) * IMAGE);
      // Accepted before close() began, answered after: it must still say close.
      expect(reply.headers.connection).toBe('close');
      expect(await c.closesWithin(2000)).toBe(true);
    }
    await closing;
  });

  it('a keep-alive connection idle through the drain is closed after it, and close() still resolves promptly', async () => {
    const fake = fakeSession({ maxBatch: 1 });
    const { server, url } = await startServer({ sessions: [fake.session] });
    const idle = await RawConnection.open(url);
    idle.write(rawRequest('GET', '/v2/health/ready'));
    expect((await idle.waitFor(1, 10_000))[0].status).toBe(200);
    const started = Date.now();
    await server.close();
    // Bound: the quiet period for idle connections plus the connection grace (well under 2 s), with slack for a loaded machine.
    expect(Date.now() - started).toBeLessThan(3000);
    expect(await idle.closesWithin(1000)).toBe(true);
  });
});
