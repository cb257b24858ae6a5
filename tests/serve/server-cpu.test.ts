/**
 * The server over loopback on the real oneDNN CPU backend: inception_resnet_v1 (synthetic
 * weights) at 80x80, maxBatch 4. Skipped, with the reason in the title, when the CPU module
 * is not built. Outputs served for a lone request run as a batch of 1 on the same session as
 * the reference session.run, so they must match bit for bit (JSON numbers are the float32
 * values printed as doubles, which round-trip exactly).
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import sharp from 'sharp';
import { createSession, type Session } from '../../src/runtime/session';
import { cpuBackendInfo } from '../../src/native/cpu-backend';
import type { InferenceServer } from '../../src/serve';
import { binaryInfer, binaryOutput, jsonInfer, maxAbsDiff, request, startServer } from './helpers';

const cpu = cpuBackendInfo();
const skipReason = cpu.available ? '' : ` [SKIPPED: CPU backend not built: ${cpu.reason?.split('\n')[0]}; run npm run build]`;
const SIZE = 80;
const IMAGE = 3 * SIZE * SIZE;
const MODEL = 'inception_resnet_v1';

function randomImages(n: number, seed: number): Float32Array {
  const out = new Float32Array(n * IMAGE);
  let s = seed;
  for (let i = 0; i < out.length; i++) {
    s = (s * 1103515245 + 12345) % 2147483648;
    out[i] = s / 2147483648 - 0.5;
  }
  return out;
}

describe.skipIf(!cpu.available)(`server on the CPU backend${skipReason}`, () => {
  let session: Session;
  let open: { server: InferenceServer; url: string };
  let guarded: { server: InferenceServer; url: string };
  let base: string;

  beforeAll(async () => {
    session = await createSession({ model: MODEL, weights: 'synthetic', maxBatch: 4, inputSize: SIZE, threads: 1 });
    open = await startServer({ sessions: [session], maxQueueDelayMicroseconds: 2000 });
    guarded = await startServer({ sessions: [session], token: 's3cret', maxBodyBytes: 64 * 1024, maxInputPixels: 100 * 100 });
    base = `${open.url}/v2/models/${MODEL}`;
  });
  afterAll(async () => {
    await open?.server.close();
    await guarded?.server.close();
    await session?.dispose();
  });

  it('server, health and model metadata', async () => {
    expect((await request(`${open.url}/v2`)).json()).toMatchObject({ name: 'inception-cudnn', extensions: ['binary_tensor_data', 'classify', 'statistics'] });
    expect((await request(`${open.url}/v2/health/live`)).status).toBe(200);
    expect((await request(`${open.url}/v2/health/ready`)).status).toBe(200);
    const meta = await request(base);
    expect(meta.json()).toEqual({
      name: MODEL,
      versions: ['1'],
      platform: 'inception-cudnn',
      inputs: [{ name: 'input', datatype: 'FP32', shape: [-1, 3, SIZE, SIZE] }],
      outputs: [{ name: 'embedding', datatype: 'FP32', shape: [-1, 512] }],
    });
    expect((await request(`${base}/versions/1`)).json()).toEqual(meta.json());
    expect((await request(`${base}/ready`)).json()).toEqual({ name: MODEL, ready: true });
  });

  it('infer with JSON tensors (flat and nested) equals session.run, id echoed', async () => {
    const input = randomImages(2, 7);
    const expected = await session.run(input, [2, 3, SIZE, SIZE]);
    const flat = await request(`${base}/infer`, { method: 'POST', body: jsonInfer(input, [2, 3, SIZE, SIZE], { id: 'req-1' }) });
    expect(flat.status).toBe(200);
    const body = flat.json();
    expect(body).toMatchObject({ model_name: MODEL, model_version: '1', id: 'req-1', outputs: [{ name: 'embedding', datatype: 'FP32', shape: [2, 512] }] });
    expect(maxAbsDiff(body.outputs[0].data, expected)).toBe(0);

    const nested: number[][][][] = [];
    for (let n = 0; n < 2; n++) {
      nested.push([]);
      for (let c = 0; c < 3; c++) {
        nested[n].push([]);
        for (let h = 0; h < SIZE; h++) nested[n][c].push(Array.from(input.subarray(((n * 3 + c) * SIZE + h) * SIZE, ((n * 3 + c) * SIZE + h + 1) * SIZE)));
      }
    }
    const body2 = JSON.stringify({ inputs: [{ name: 'input', shape: [2, 3, SIZE, SIZE], datatype: 'FP32', data: nested }] });
    const viaNested = await request(`${base}/infer`, { method: 'POST', body: body2 });
    expect(maxAbsDiff(viaNested.json().outputs[0].data, expected)).toBe(0);
  });

  it('binary tensor extension: binary in and out equals JSON in and out', async () => {
    const input = randomImages(3, 11);
    const json = (await request(`${base}/infer`, { method: 'POST', body: jsonInfer(input, [3, 3, SIZE, SIZE]) })).json();
    const { body, headers } = binaryInfer(input, [3, 3, SIZE, SIZE], { id: 'b', parameters: { binary_data_output: true } });
    const reply = await request(`${base}/infer`, { method: 'POST', body, headers });
    expect(reply.status).toBe(200);
    expect(reply.headers.get('content-type')).toBe('application/octet-stream');
    const { header, data } = binaryOutput(reply);
    expect(header).toMatchObject({ id: 'b', outputs: [{ name: 'embedding', datatype: 'FP32', shape: [3, 512], parameters: { binary_data_size: 3 * 512 * 4 } }] });
    expect(maxAbsDiff(data, json.outputs[0].data)).toBe(0);

    // Binary in, JSON out; and JSON in with a per-output binary_data request.
    const jsonOut = await request(`${base}/infer`, { method: 'POST', ...binaryInfer(input, [3, 3, SIZE, SIZE]) });
    expect(maxAbsDiff(jsonOut.json().outputs[0].data, json.outputs[0].data)).toBe(0);
    const perOutput = await request(`${base}/infer`, {
      method: 'POST',
      body: jsonInfer(input, [3, 3, SIZE, SIZE], { outputs: [{ name: 'embedding', parameters: { binary_data: true } }] }),
    });
    expect(maxAbsDiff(binaryOutput(perOutput).data, json.outputs[0].data)).toBe(0);
  });

  it('classify: JPEG and PNG bytes give the same embedding as session.embed', async () => {
    const raw = Buffer.alloc(120 * 90 * 3);
    for (let i = 0; i < raw.length; i++) raw[i] = (i * 7) % 251;
    const png = await sharp(raw, { raw: { width: 120, height: 90, channels: 3 } }).png().toBuffer();
    const jpeg = await sharp(raw, { raw: { width: 120, height: 90, channels: 3 } }).jpeg().toBuffer();
    for (const [bytes, type] of [[png, 'image/png'], [jpeg, 'image/jpeg']] as const) {
      const [expected] = await session.embed([bytes]);
      const reply = await request(`${base}/classify`, { method: 'POST', body: bytes, headers: { 'Content-Type': type } });
      expect(reply.status).toBe(200);
      expect(reply.json()).toMatchObject({ model_name: MODEL, model_version: '1' });
      expect(maxAbsDiff(reply.json().embedding, expected)).toBe(0);
    }
  });

  it('bad requests answer 400/404/405/415 with {"error": ...} and no stack trace', async () => {
    const one = randomImages(1, 3);
    const cases: [string, RequestInit, number, RegExp][] = [
      [`${open.url}/nope`, {}, 404, /no route \/nope/],
      [`${open.url}/v2/models/other/infer`, { method: 'POST', body: '{}' }, 404, /unknown model 'other'/],
      [`${base}/versions/2`, {}, 404, /unknown version '2'/],
      [`${open.url}/v2/models/%E0%A4%A/infer`, { method: 'POST', body: '{}' }, 400, /cannot be parsed/],
      [`${base}/infer`, {}, 405, /GET is not allowed/],
      [`${base}/infer`, { method: 'POST', body: '{not json' }, 400, /not valid JSON/],
      [`${base}/infer`, { method: 'POST', body: jsonInfer(one, [1, 3, SIZE, SIZE + 1]) }, 400, /needs shape \[N,3,80,80\]/],
      [`${base}/infer`, { method: 'POST', body: jsonInfer(randomImages(5, 1), [5, 3, SIZE, SIZE]) }, 400, /split the batch/],
      [`${base}/infer`, { method: 'POST', body: jsonInfer(one.subarray(1), [1, 3, SIZE, SIZE]) }, 400, /has 19199 numbers but its shape needs 19200/],
      [`${base}/infer`, { method: 'POST', body: jsonInfer(one, [1, 3, SIZE, SIZE]).replace('"FP32"', '"FP16"') }, 400, /only FP32/],
      [`${base}/infer`, { method: 'POST', body: jsonInfer(one, [1, 3, SIZE, SIZE]).replace('"input"', '"x"') }, 400, /unknown input 'x'/],
      [`${base}/infer`, { method: 'POST', body: jsonInfer(one, [1, 3, SIZE, SIZE], { outputs: [{ name: 'logits' }] }) }, 400, /unknown output 'logits'/],
      [`${base}/classify`, { method: 'POST', body: 'hello', headers: { 'Content-Type': 'text/plain' } }, 415, /Content-Type image\/jpeg/],
      [`${base}/classify`, { method: 'POST', body: 'hello', headers: { 'Content-Type': 'image/png' } }, 415, /is not a JPEG, PNG or WebP file/],
      [`${base}/classify`, { method: 'POST', body: Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 1, 2]), headers: { 'Content-Type': 'image/png' } }, 400, /cannot decode the image/],
      [`${base}/classify?top_k=0`, { method: 'POST', body: 'x', headers: { 'Content-Type': 'image/png' } }, 400, /top_k applies to classification models/],
    ];
    const wrongSize = binaryInfer(one, [1, 3, SIZE, SIZE]);
    wrongSize.headers['Inference-Header-Content-Length'] = String(Number(wrongSize.headers['Inference-Header-Content-Length']) + 4);
    cases.push([`${base}/infer`, { method: 'POST', ...wrongSize }, 400, /./]);
    for (const [url, init, status, message] of cases) {
      const reply = await request(url, init);
      expect([url, reply.status]).toEqual([url, status]);
      const body = reply.json();
      expect(Object.keys(body)).toEqual(['error']);
      expect(body.error).toMatch(message);
      expect(body.error).not.toMatch(/\n\s+at /);
    }
    expect((await request(`${base}/infer`)).headers.get('allow')).toBe('POST');
  });

  it('token auth: health open, everything else needs the bearer token', async () => {
    const g = `${guarded.url}/v2/models/${MODEL}`;
    expect((await request(`${guarded.url}/v2/health/live`)).status).toBe(200);
    expect((await request(`${guarded.url}/v2/health/ready`)).status).toBe(200);
    for (const url of [`${guarded.url}/v2`, g, `${guarded.url}/metrics`, `${guarded.url}/nope`]) {
      const reply = await request(url);
      expect(reply.status).toBe(401);
      expect(reply.headers.get('www-authenticate')).toBe('Bearer');
    }
    expect((await request(g, { headers: { Authorization: 'Bearer wrong' } })).status).toBe(401);
    expect((await request(g, { headers: { Authorization: 'Bearer s3cret' } })).status).toBe(200);
  });

  it('oversized bodies and images answer 413', async () => {
    const auth = { Authorization: 'Bearer s3cret' };
    const g = `${guarded.url}/v2/models/${MODEL}`;
    const big = await request(`${g}/infer`, { method: 'POST', body: jsonInfer(randomImages(1, 5), [1, 3, SIZE, SIZE]), headers: auth });
    expect(big.status).toBe(413);
    expect(big.json().error).toMatch(/exceeds the limit of 65536 bytes/);
    // 200x200 = 40,000 pixels > maxInputPixels 10,000; a tiny PNG, refused from its header.
    const image = await sharp({ create: { width: 200, height: 200, channels: 3, background: '#fff' } }).png().toBuffer();
    const bomb = await request(`${g}/classify`, { method: 'POST', body: image, headers: { ...auth, 'Content-Type': 'image/png' } });
    expect(bomb.status).toBe(413);
    expect(bomb.json().error).toMatch(/40000 pixels, over the limit of 10000/);
  });

  it('/metrics: request counters, inference and batch counts, memory gauges', async () => {
    await request(`${base}/infer`, { method: 'POST', body: jsonInfer(randomImages(2, 9), [2, 3, SIZE, SIZE]) });
    const reply = await request(`${open.url}/metrics`);
    expect(reply.status).toBe(200);
    const text = reply.body.toString();
    const value = (pattern: string): number => {
      const line = text.split('\n').find((l) => l.startsWith(pattern));
      return line === undefined ? NaN : Number(line.slice(line.lastIndexOf(' ') + 1));
    };
    expect(value(`inception_request_success_total{model="${MODEL}",endpoint="infer"}`)).toBeGreaterThanOrEqual(1);
    expect(value(`inception_request_failure_total{model="${MODEL}",endpoint="infer",status="400"}`)).toBeGreaterThanOrEqual(1);
    expect(value(`inception_inference_count_total{model="${MODEL}"}`)).toBeGreaterThanOrEqual(2);
    expect(value(`inception_batch_execution_count_total{model="${MODEL}"}`)).toBeGreaterThanOrEqual(1);
    expect(value(`inception_arena_bytes{model="${MODEL}",instance="0"}`)).toBe(session.memory.arenaBytes);
    expect(value(`inception_weight_bytes{model="${MODEL}",instance="0"}`)).toBe(session.memory.weightBytes);
    expect(value(`inception_queue_depth{model="${MODEL}"}`)).toBe(0);
    expect(text).toMatch(/inception_batch_size_bucket\{le="4",model="inception_resnet_v1"\}/);
    expect(text).toMatch(/inception_compute_duration_us_count/);
    expect(text).toMatch(/process_resident_memory_bytes/);
  });
});
