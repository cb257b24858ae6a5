/**
 * /classify hands a body to the image decoder only when its first bytes are a JPEG, PNG or WebP
 * signature (src/preprocess/image-format.ts): SVG reached librsvg and libxml2 before. Fake session
 * with 1000 logits; real sockets.
 */
import { describe, it, expect } from 'vitest';
import sharp from 'sharp';
import { fakeSession } from '../batcher/fake-session';
import { request, startServer } from './helpers';

const MODEL = 'inception_v4';

describe('/classify checks the image format from its first bytes before any decoder sees it', () => {
  it('SVG (with entities), GIF and plain text answer 415; JPEG, PNG and WebP pass', async () => {
    const fake = fakeSession({ outputSize: 1000 });
    const { server, url } = await startServer({ sessions: [fake.session] });
    try {
      const classify = `${url}/v2/models/${MODEL}/classify`;
      const svg = '<?xml version="1.0"?><!DOCTYPE svg [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]><svg xmlns="http://www.w3.org/2000/svg" width="8" height="8"><text>&b;</text></svg>';
      const gif = await sharp({ create: { width: 8, height: 8, channels: 3, background: '#fff' } }).gif().toBuffer();
      for (const [body, type] of [[Buffer.from(svg), 'image/svg+xml'], [gif, 'image/gif'], [Buffer.from('hello'), 'image/png']] as const) {
        const reply = await request(classify, { method: 'POST', body, headers: { 'Content-Type': type } });
        expect([type, reply.status]).toEqual([type, 415]);
        expect(reply.json().error).toMatch(/is not a JPEG, PNG or WebP file/);
      }
      const base = sharp({ create: { width: 8, height: 8, channels: 3, background: '#fff' } });
      for (const image of [await base.clone().jpeg().toBuffer(), await base.clone().png().toBuffer(), await base.clone().webp().toBuffer()]) {
        const reply = await request(classify, { method: 'POST', body: image, headers: { 'Content-Type': 'application/octet-stream' } });
        expect(reply.status).toBe(200);
      }
    } finally {
      await server.close();
    }
  });
});
