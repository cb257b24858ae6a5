/**
 * The request path without copies: readBody places the body so that the binary tensor (at body
 * byte Inference-Header-Content-Length) is 4-byte aligned, parseInferRequest then views it in
 * place (and copies once when it is not aligned), and a non-finite value is still refused per
 * request with the batcher's InvalidInputError text while the requests batched beside it get
 * their rows. Fake sessions (row r = [sum of image r, batch size, ...]); sums of 48 equal small
 * integers are exact in float32, and the tensor bytes are compared exactly.
 */
import { describe, it, expect, afterAll } from 'vitest';
import { EventEmitter } from 'node:events';
import { createServer as createHttpServer, request as httpRequest, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { BodyPool, readBody } from '../../src/serve/http';
import { parseInferRequest, type ModelSignature } from '../../src/serve/v2-tensors';
import { fakeSession, imagesFilled } from '../batcher/fake-session';
import { binaryInfer, binaryOutput, jsonInfer, request, startServer } from './helpers';

/** A server that reads each body with readBody(alignAt from a header) and answers what it got. */
const probe = createHttpServer((req, res) => {
  const alignAt = Number(req.headers['x-align-at'] ?? 0);
  readBody(req, 1 << 22, alignAt).then(
    (body) => res.end(JSON.stringify({ aligned: (body.byteOffset + alignAt) % 4 === 0, length: body.length, sum: body.reduce((s, b) => (s + b) % 65521, 0) })),
    (error: { status: number }) => res.writeHead(error.status).end(),
  );
});
const listening = new Promise<number>((resolve) => probe.listen(0, '127.0.0.1', () => resolve((probe.address() as AddressInfo).port)));
afterAll(() => new Promise<void>((resolve) => probe.close(() => resolve())));

function send(body: Buffer, alignAt: number, chunked: boolean): Promise<{ status: number; text: string }> {
  return listening.then(
    (port) =>
      new Promise((resolve, reject) => {
        const headers: Record<string, string> = { 'x-align-at': String(alignAt) };
        if (!chunked) headers['content-length'] = String(body.length);
        const req = httpRequest({ port, host: '127.0.0.1', method: 'POST', headers }, (res) => {
          let text = '';
          res.on('data', (c: Buffer) => (text += c.toString()));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
        });
        req.on('error', reject);
        // Several writes: the body arrives in more than one chunk.
        for (let i = 0; i < body.length; i += 50_000) req.write(body.subarray(i, i + 50_000));
        req.end();
      }),
  );
}

describe('readBody', () => {
  const body = Buffer.from(Array.from({ length: 300_001 }, (_, i) => (i * 31) & 0xff));
  const sum = body.reduce((s, b) => (s + b) % 65521, 0);

  it('with Content-Length, puts body byte alignAt at a 4-byte aligned address, whatever alignAt mod 4 is; the bytes are the ones sent', async () => {
    for (const alignAt of [0, 1, 2, 3, 5, 123, 4098]) {
      const reply = await send(body, alignAt, false);
      expect(JSON.parse(reply.text)).toEqual({ aligned: true, length: body.length, sum });
    }
  });

  it('without Content-Length (chunked) still returns the whole body', async () => {
    const reply = await send(body, 1, true);
    expect(JSON.parse(reply.text)).toMatchObject({ length: body.length, sum });
  });

  it('still refuses a body over the limit with 413', async () => {
    expect((await send(Buffer.alloc((1 << 22) + 1), 0, false)).status).toBe(413);
    expect((await send(Buffer.alloc((1 << 22) + 1), 0, true)).status).toBe(413);
  });
});

describe('BodyPool', () => {
  it('hands a released buffer out again (same memory), rounds sizes to 64 KiB, takes back only its own buffers, once each, up to its cap', () => {
    const pool = new BodyPool(3 * 65536);
    const a = pool.acquire(70_000);
    expect(a.byteOffset).toBe(0);
    expect(a.length).toBe(2 * 65536);
    pool.release(a.subarray(5, 100)); // a view on it counts as the buffer
    expect(pool.pooledBytes).toBe(2 * 65536);
    pool.release(a); // a second release is ignored
    expect(pool.pooledBytes).toBe(2 * 65536);
    const b = pool.acquire(100_000);
    expect(b.buffer).toBe(a.buffer);
    expect(pool.pooledBytes).toBe(0);
    expect(pool.acquire(10).buffer).not.toBe(a.buffer); // another size class: new memory
    pool.release(Buffer.alloc(65536)); // not the pool's: ignored
    expect(pool.pooledBytes).toBe(0);
    const c = pool.acquire(65536);
    const d = pool.acquire(65536);
    pool.release(b);
    pool.release(c);
    pool.release(d); // over the 3 x 64 KiB cap: dropped, not kept
    expect(pool.pooledBytes).toBe(3 * 65536);
  });
});

const MODEL: ModelSignature = { inputName: 'input', outputName: 'logits', height: 4, width: 4, outputSize: 8, maxBatch: 4 };

describe('parseInferRequest binary tensors', () => {
  const input = Float32Array.from({ length: 2 * 48 }, (_, i) => i - 0.5);
  const { body, headers } = binaryInfer(input, [2, 3, 4, 4]);
  const headerLength = headers['Inference-Header-Content-Length'];

  it('views the tensor in place when it is aligned, and copies it once when it is not; the values are the same', () => {
    const pad = (4 - (Number(headerLength) % 4)) % 4;
    const aligned = Buffer.alloc(body.length + pad).subarray(pad);
    body.copy(aligned);
    const view = parseInferRequest(aligned, headerLength, MODEL).input;
    expect(view.buffer).toBe(aligned.buffer);
    expect(view).toEqual(input);
    const unaligned = Buffer.alloc(body.length + pad + 1).subarray(pad + 1);
    body.copy(unaligned);
    const copy = parseInferRequest(unaligned, headerLength, MODEL).input;
    expect(copy.buffer).not.toBe(unaligned.buffer);
    expect(copy).toEqual(input);
  });
});

describe('server: pooled request bodies', () => {
  it('rounds of concurrent binary requests with different values, reusing body buffers, each get their own rows', async () => {
    const fake = fakeSession({ maxBatch: 4 });
    fake.controls.delayMs = 1;
    const { server, url } = await startServer({ sessions: [fake.session], maxQueueDelayMicroseconds: 1000 });
    try {
      const infer = `${url}/v2/models/inception_v4/infer`;
      for (let round = 0; round < 5; round++) {
        const values = Array.from({ length: 6 }, (_, i) => round * 10 + i + 1);
        const replies = await Promise.all(
          values.map((v) => {
            const { body, headers } = binaryInfer(imagesFilled([v, -v]), [2, 3, 4, 4], { parameters: { binary_data_output: true } });
            return request(infer, { method: 'POST', body, headers });
          }),
        );
        replies.forEach((reply, i) => {
          expect(reply.status).toBe(200);
          expect(Array.from(binaryOutput(reply).data.filter((_, j) => j % 8 === 0))).toEqual([values[i] * 48, -values[i] * 48]);
        });
      }
    } finally {
      await server.close();
    }
  });
});

describe('server: non-finite values are refused per request', () => {
  it('a NaN (binary) or 1e400 (JSON, = Infinity) answers 400 with the batcher text; the requests batched beside it get their own rows', async () => {
    const fake = fakeSession({ maxBatch: 4 });
    const { server, url } = await startServer({ sessions: [fake.session], maxQueueDelayMicroseconds: 50_000 });
    try {
      const infer = `${url}/v2/models/inception_v4/infer`;
      const nan = imagesFilled([1]);
      nan[5] = NaN;
      const bad = binaryInfer(nan, [1, 3, 4, 4]);
      const good = binaryInfer(imagesFilled([2, 3]), [2, 3, 4, 4], { parameters: { binary_data_output: true } });
      const infinite = jsonInfer(imagesFilled([1]), [1, 3, 4, 4]).replace('"data":[1,', '"data":[1e400,');
      const [a, b, c, d] = await Promise.all([
        request(infer, { method: 'POST', body: bad.body, headers: bad.headers }),
        request(infer, { method: 'POST', body: good.body, headers: good.headers }),
        request(infer, { method: 'POST', body: infinite }),
        request(infer, { method: 'POST', body: jsonInfer(imagesFilled([4]), [1, 3, 4, 4]) }),
      ]);
      expect(a.status).toBe(400);
      expect(a.json()).toEqual({ error: 'Input value at index 5 is NaN; every value must be finite (check the preprocessing)' });
      expect(c.status).toBe(400);
      expect(c.json()).toEqual({ error: 'Input value at index 0 is Infinity; every value must be finite (check the preprocessing)' });
      expect(b.status).toBe(200);
      expect(Array.from(binaryOutput(b).data.filter((_, i) => i % 8 === 0))).toEqual([2 * 48, 3 * 48]);
      expect(d.status).toBe(200);
      expect(d.json().outputs[0].data[0]).toBe(4 * 48);
    } finally {
      await server.close();
    }
  });
});

/** A stand-in IncomingMessage: headers plus the events readBody listens to. */
function fakeRequest(contentLength: number): IncomingMessage & EventEmitter {
  const req = new EventEmitter() as IncomingMessage & EventEmitter;
  (req as { headers: Record<string, string> }).headers = { 'content-length': String(contentLength) };
  return req;
}

class RecordingPool extends BodyPool {
  readonly acquired: number[] = [];
  override acquire(bytes: number): Buffer {
    this.acquired.push(bytes);
    return super.acquire(bytes);
  }
}

describe('readBody reservation', () => {
  it('a declared body larger than the reservation grows as bytes arrive; the bytes and the alignment are right', async () => {
    const body = Buffer.from(Array.from({ length: 10_000 }, (_, i) => (i * 7 + 3) & 0xff));
    for (const alignAt of [0, 1, 2, 3]) {
      const req = fakeRequest(body.length);
      const pool = new RecordingPool(1 << 20);
      const read = readBody(req, 1 << 20, alignAt, pool, 256);
      for (let i = 0; i < body.length; i += 999) req.emit('data', body.subarray(i, i + 999));
      req.emit('end');
      const got = await read;
      expect(got.equals(body)).toBe(true);
      expect((got.byteOffset + alignAt) % 4).toBe(0);
      // 256 reserved, then doubled as data arrived, never past the declared length (+ alignment pad).
      expect(pool.acquired[0]).toBeLessThanOrEqual(256 + 3);
      expect(Math.max(...pool.acquired)).toBeLessThanOrEqual(body.length + 3);
    }
  });

  it('a client that declares 64 MiB and sends one byte holds only the reservation', async () => {
    const req = fakeRequest(64 << 20);
    const pool = new RecordingPool(1 << 20);
    const read = readBody(req, 64 << 20, 0, pool, 4096);
    req.emit('data', Buffer.from([1]));
    req.emit('aborted');
    await expect(read).rejects.toMatchObject({ status: 400 });
    expect(pool.acquired).toEqual([4096]);
  });
});
