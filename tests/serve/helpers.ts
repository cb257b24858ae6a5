/** Loopback helpers for the server tests: start on a free port, JSON/binary requests, V2 bodies. */
import { createServer, type InferenceServer } from '../../src/serve';
import type { ServeOptions } from '../../src/serve/options';

/** Warm-up is off unless a test asks for it: it would add its runs to a fake session's record, and a held fake session would hold it. */
export async function startServer(options: ServeOptions): Promise<{ server: InferenceServer; url: string; grpcPort: number | undefined }> {
  const server = await createServer({ port: 0, log: () => undefined, warmup: false, ...options });
  const { url, grpcPort } = await server.listen();
  return { server, url, grpcPort };
}

export interface Reply {
  status: number;
  headers: Headers;
  body: Buffer;
  json(): any; // eslint-disable-line @typescript-eslint/no-explicit-any
}

export async function request(url: string, init: RequestInit = {}): Promise<Reply> {
  const res = await fetch(url, init);
  const body = Buffer.from(await res.arrayBuffer());
  return { status: res.status, headers: res.headers, body, json: () => JSON.parse(body.toString('utf8')) };
}

/** A V2 JSON infer body for one FP32 input. */
export function jsonInfer(input: Float32Array, shape: number[], extra: Record<string, unknown> = {}): string {
  return JSON.stringify({ inputs: [{ name: 'input', shape, datatype: 'FP32', data: Array.from(input) }], ...extra });
}

/** A V2 binary-extension infer body: JSON header then the raw little-endian input. */
export function binaryInfer(input: Float32Array, shape: number[], extra: Record<string, unknown> = {}): { body: Buffer; headers: Record<string, string> } {
  const header = Buffer.from(
    JSON.stringify({ inputs: [{ name: 'input', shape, datatype: 'FP32', parameters: { binary_data_size: input.byteLength } }], ...extra }),
  );
  const body = Buffer.concat([header, Buffer.from(input.buffer, input.byteOffset, input.byteLength)]);
  return { body, headers: { 'Content-Type': 'application/octet-stream', 'Inference-Header-Content-Length': String(header.length) } };
}

/** The output of a binary infer response as float32. */
export function binaryOutput(reply: Reply): { header: any; data: Float32Array } { // eslint-disable-line @typescript-eslint/no-explicit-any
  const length = Number(reply.headers.get('inference-header-content-length'));
  const header = JSON.parse(reply.body.subarray(0, length).toString('utf8'));
  const bytes = reply.body.subarray(length);
  const data = new Float32Array(bytes.length / 4);
  new Uint8Array(data.buffer).set(bytes);
  return { header, data };
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Infinity;
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i] - b[i]));
  return max;
}
