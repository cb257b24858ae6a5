/**
 * Small request checks: a string binary_data_size is named as such, percent-encoding cannot
 * change the route (raw paths over a socket: fetch would normalise them itself), and top_k is
 * refused by the embedding model. Fake sessions; real sockets.
 */
import { describe, it, expect } from 'vitest';
import sharp from 'sharp';
import type { Session } from '../../src/runtime/session';
import { fakeSession, imagesFilled } from '../batcher/fake-session';
import { binaryInfer, request, startServer } from './helpers';
import { RawConnection } from '../../bench/serve/raw-http';

const MODEL = 'inception_v4';

describe('small request checks', () => {
  it('a string binary_data_size is named as a string, not reported as a size mismatch', async () => {
    const fake = fakeSession();
    const { server, url } = await startServer({ sessions: [fake.session] });
    try {
      const { body, headers } = binaryInfer(imagesFilled([1]), [1, 3, 4, 4]);
      const header = Number(headers['Inference-Header-Content-Length']);
      const json = body.subarray(0, header).toString().replace('"binary_data_size":192', '"binary_data_size":"192"');
      const patched = Buffer.concat([Buffer.from(json), body.subarray(header)]);
      const reply = await request(`${url}/v2/models/${MODEL}/infer`, {
        method: 'POST',
        body: patched,
        headers: { ...headers, 'Inference-Header-Content-Length': String(Buffer.byteLength(json)) },
      });
      expect(reply.status).toBe(400);
      expect(reply.json().error).toBe("inputs[0].parameters.binary_data_size must be an integer number of bytes (192 for shape [1,3,4,4] of FP32); got the string '192'");
    } finally {
      await server.close();
    }
  });

  it('percent-encoded dots cannot change the route: /v2/models/%2e%2e is an unknown model, not /v2', async () => {
    const fake = fakeSession();
    const { server, url } = await startServer({ sessions: [fake.session] });
    try {
      const client = await RawConnection.open(url);
      // fetch would normalise these paths itself; the raw bytes reach the server as written.
      const paths: [string, number, RegExp][] = [
        ['/v2/models/%2e%2e', 404, /unknown model '\.\.'/],
        ['/v2/models/%2E%2E/ready', 404, /unknown model '\.\.'/],
        ['/v2/health/%2e%2e/health/live', 404, /no route/],
        ['/v2/models/x/%2e%2e', 404, /no route/],
      ];
      client.write(paths.map(([path]) => `GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`).join(''));
      const replies = await client.waitFor(paths.length, 2000);
      replies.forEach((reply, i) => {
        expect([paths[i][0], reply.status]).toEqual([paths[i][0], paths[i][1]]);
        expect(reply.json().error).toMatch(paths[i][2]);
      });
      client.destroy();
    } finally {
      await server.close();
    }
  });

  it('top_k on the embedding model is refused (400), not silently ignored', async () => {
    const fake = fakeSession({ outputSize: 512 });
    const embedding: Session = { ...fake.session, info: { ...fake.session.info, model: 'inception_resnet_v1', output: 'embedding' } };
    const { server, url } = await startServer({ sessions: [embedding] });
    try {
      const png = await sharp({ create: { width: 8, height: 8, channels: 3, background: '#fff' } }).png().toBuffer();
      const classify = `${url}/v2/models/inception_resnet_v1/classify`;
      const refused = await request(`${classify}?top_k=3`, { method: 'POST', body: png, headers: { 'Content-Type': 'image/png' } });
      expect(refused.status).toBe(400);
      expect(refused.json().error).toMatch(/top_k applies to classification models; inception_resnet_v1 answers with an embedding/);
      const plain = await request(classify, { method: 'POST', body: png, headers: { 'Content-Type': 'image/png' } });
      expect(plain.status).toBe(200);
      expect(plain.json().embedding.length).toBe(512);
    } finally {
      await server.close();
    }
    // A classification model still checks it.
    const logits = await startServer({ sessions: [fakeSession({ outputSize: 1000 }).session] });
    try {
      const png = await sharp({ create: { width: 8, height: 8, channels: 3, background: '#fff' } }).png().toBuffer();
      const bad = await request(`${logits.url}/v2/models/${MODEL}/classify?top_k=0`, { method: 'POST', body: png, headers: { 'Content-Type': 'image/png' } });
      expect(bad.status).toBe(400);
      expect(bad.json().error).toMatch(/top_k must be an integer in \[1, 1000\]; got '0'/);
    } finally {
      await logits.server.close();
    }
  });
});
