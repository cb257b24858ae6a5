/**
 * Bearer-token auth over loopback on a fake session (tests/batcher/fake-session.ts), so that it
 * runs wherever the TypeScript does, with or without the native CPU module: health stays open,
 * every other route answers 401 before anything reaches the session, and only the exact token
 * passes. Row values are exact (sums of 48 small integers in float32).
 */
import { afterAll, beforeAll, describe, it, expect } from 'vitest';
import { InvalidArgumentError } from '../../src/errors';
import { createServer, type InferenceServer } from '../../src/serve';
import { fakeSession, imagesFilled } from '../batcher/fake-session';
import { jsonInfer, request, startServer } from './helpers';

const MODEL = 'inception_v4';
const TOKEN = 's3cret';
const IMAGE = 3 * 4 * 4;

describe('token auth (fake session)', () => {
  const fake = fakeSession({ maxBatch: 2 });
  fake.controls.delayMs = 1;
  let server: InferenceServer;
  let url: string;
  beforeAll(async () => {
    ({ server, url } = await startServer({ sessions: [fake.session], token: TOKEN }));
  });
  afterAll(() => server.close());

  const infer = (headers: Record<string, string> = {}): ReturnType<typeof request> =>
    request(`${url}/v2/models/${MODEL}/infer`, { method: 'POST', body: jsonInfer(imagesFilled([7]), [1, 3, 4, 4]), headers });

  it('health is open without a token', async () => {
    expect((await request(`${url}/v2/health/live`)).status).toBe(200);
    expect((await request(`${url}/v2/health/ready`)).status).toBe(200);
  });

  it('every other route answers 401 with WWW-Authenticate: Bearer, before routing and before the session', async () => {
    const m = `${url}/v2/models/${MODEL}`;
    const routes: [string, RequestInit][] = [
      [`${url}/v2`, {}],
      [m, {}],
      [`${m}/ready`, {}],
      [`${url}/metrics`, {}],
      [`${url}/nope`, {}], // an unknown route is not revealed as 404 either
      [`${m}/infer`, { method: 'POST', body: jsonInfer(imagesFilled([1]), [1, 3, 4, 4]) }],
      [`${m}/classify`, { method: 'POST', body: Buffer.from('not an image'), headers: { 'Content-Type': 'image/png' } }],
    ];
    for (const [route, init] of routes) {
      const reply = await request(route, init);
      expect(reply.status, route).toBe(401);
      expect(reply.headers.get('www-authenticate'), route).toBe('Bearer');
      expect(reply.json().error).toMatch(/missing or wrong bearer token; send Authorization: Bearer <token>/);
    }
    expect(fake.controls.batches).toEqual([]);
  });

  it('a wrong token, another scheme, a prefix or an extension of the token: 401', async () => {
    for (const authorization of ['Bearer wrong', `Basic ${TOKEN}`, `Bearer ${TOKEN.slice(0, -1)}`, `Bearer ${TOKEN}x`, `Bearer  ${TOKEN}`, TOKEN, 'Bearer ']) {
      expect((await infer({ Authorization: authorization })).status, authorization).toBe(401);
    }
    expect(fake.controls.batches).toEqual([]);
  });

  it('the token passes (the scheme is case-insensitive) and the request gets its own row', async () => {
    for (const scheme of ['Bearer', 'bearer']) {
      const reply = await infer({ Authorization: `${scheme} ${TOKEN}` });
      expect(reply.status).toBe(200);
      expect(reply.json().outputs[0].data[0]).toBe(7 * IMAGE);
    }
    expect((await request(`${url}/v2/models/${MODEL}`, { headers: { Authorization: `Bearer ${TOKEN}` } })).status).toBe(200);
  });
});

describe('token option', () => {
  it('without a token every route is open (the control for the 401s above)', async () => {
    const fake = fakeSession();
    fake.controls.delayMs = 1;
    const { server, url } = await startServer({ sessions: [fake.session] });
    expect((await request(`${url}/v2/models/${MODEL}`)).status).toBe(200);
    expect((await request(`${url}/metrics`)).status).toBe(200);
    await server.close();
  });

  it('an empty or non-string token is refused when the server is created', async () => {
    const { session } = fakeSession();
    await expect(createServer({ sessions: [session], token: '' })).rejects.toThrow(InvalidArgumentError);
    await expect(createServer({ sessions: [session], token: 42 as never })).rejects.toThrow('Expected a non-empty string for token but received 42 of type number');
  });
});
