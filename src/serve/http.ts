/** Small HTTP helpers: a status-carrying error, a size-limited body reader, JSON and error replies, closing a server's listener. */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';

/** An error that becomes an HTTP reply: `{"error": message}` with `status` and optional headers. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly headers: Readonly<Record<string, string>> = {},
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

/**
 * Reusable body buffers: a fresh multi-megabyte buffer per request costs page faults (about
 * 0.6 ms per MiB on the JS thread) and garbage-collector pressure; one handed back after its
 * request is answered costs neither. Only buffers this pool made are taken back, each once, and
 * at most `maxFreeBytes` wait for reuse. Sizes are rounded up to 64 KiB so that bodies of one
 * tensor shape (their JSON headers differ by a few bytes) share buffers.
 */
export class BodyPool {
  private readonly free = new Map<number, ArrayBuffer[]>();
  private readonly issued = new WeakSet<ArrayBuffer>();
  private freeBytes = 0;

  constructor(private readonly maxFreeBytes: number) {}

  /** A buffer of at least `bytes` bytes, at offset 0 of its own ArrayBuffer (contents undefined). */
  acquire(bytes: number): Buffer {
    const size = Math.ceil(Math.max(bytes, 1) / POOL_GRAIN) * POOL_GRAIN;
    const list = this.free.get(size);
    let memory = list?.pop();
    if (memory !== undefined) {
      this.freeBytes -= size;
      if (list?.length === 0) this.free.delete(size);
    } else {
      memory = Buffer.allocUnsafeSlow(size).buffer as ArrayBuffer;
    }
    this.issued.add(memory);
    return Buffer.from(memory);
  }

  /** Takes back the memory under `body` if this pool issued it; the caller must not use it afterwards. */
  release(body: Uint8Array): void {
    const memory = body.buffer;
    if (!(memory instanceof ArrayBuffer) || !this.issued.has(memory)) return;
    this.issued.delete(memory);
    if (this.freeBytes + memory.byteLength > this.maxFreeBytes) return;
    const list = this.free.get(memory.byteLength) ?? [];
    list.push(memory);
    this.free.set(memory.byteLength, list);
    this.freeBytes += memory.byteLength;
  }

  /** Bytes waiting for reuse. */
  get pooledBytes(): number {
    return this.freeBytes;
  }
}

const POOL_GRAIN = 64 * 1024;

/**
 * How much of a declared Content-Length is reserved before any byte arrives. A client that
 * declares a large body and sends slowly (or never) holds only this much; larger bodies grow
 * the buffer by doubling as their bytes arrive (about one extra copy of the body in all).
 * 4 MiB holds a 3-image 299x299 float32 request whole.
 */
export const BODY_RESERVE_BYTES = 4 * 1024 * 1024;

/**
 * Reads the whole body, refusing (413) a declared or actual size over `limit` bytes.
 * With a Content-Length the body goes straight into one buffer as it arrives (no list of
 * chunks to concatenate; `reserveBytes` reserved up front, grown up to Content-Length), placed
 * so that body byte `alignAt` (where binary tensor data starts) has a 4-byte aligned address:
 * the tensor can then be viewed as a Float32Array in place. With a `pool` that buffer comes from
 * it; hand the body back with pool.release once nothing reads it any more.
 */
export function readBody(
  req: IncomingMessage,
  limit: number,
  alignAt = 0,
  pool?: BodyPool,
  reserveBytes = BODY_RESERVE_BYTES,
): Promise<Buffer> {
  try {
    checkDeclaredLength(req, limit);
  } catch (error) {
    return Promise.reject(error);
  }
  const declared = req.headers['content-length'];
  const expected = declared !== undefined && /^[0-9]+$/.test(declared) ? Number(declared) : undefined;
  return new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    const pad = (4 - (alignAt % 4)) % 4;
    const reserve = (bytes: number): Buffer =>
      (pool?.acquire(pad + bytes) ?? Buffer.allocUnsafeSlow(pad + bytes)).subarray(pad, pad + bytes);
    let into: Buffer | undefined;
    if (expected !== undefined && expected > 0) into = reserve(Math.min(expected, Math.max(reserveBytes, 1)));
    let size = 0;
    let failed = false;
    req.on('data', (chunk: Buffer) => {
      if (failed) return;
      if (into !== undefined && size + chunk.length > into.length) {
        if (expected !== undefined && size + chunk.length <= expected) {
          // The declared body is bigger than the reservation: double it (at most to Content-Length).
          const bigger = reserve(Math.min(expected, Math.max(2 * into.length, size + chunk.length)));
          into.copy(bigger, 0, 0, size);
          pool?.release(into);
          into = bigger;
        } else {
          // More than Content-Length said (Node's parser does not let this happen): collect chunks instead.
          chunks.push(into.subarray(0, size));
          into = undefined;
        }
      }
      size += chunk.length;
      if (size > limit) {
        failed = true;
        chunks.length = 0;
        into = undefined;
        reject(tooLarge(size, limit));
        return;
      }
      if (into !== undefined) chunk.copy(into, size - chunk.length);
      else chunks.push(chunk);
    });
    req.on('end', () => {
      if (failed) return;
      if (into !== undefined) resolve(into.subarray(0, size));
      else resolve(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, size));
    });
    req.on('error', (error) => {
      if (!failed) {
        failed = true;
        reject(new HttpError(400, `reading the request body failed: ${error.message}`));
      }
    });
    req.on('aborted', () => {
      if (!failed) {
        failed = true;
        reject(new HttpError(400, 'the client closed the connection before sending the whole body'));
      }
    });
  });
}

/** Refuses (413) a request whose Content-Length says its body is over `limit` bytes, before any of it is read. */
export function checkDeclaredLength(req: IncomingMessage, limit: number): void {
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > limit) throw tooLarge(Number(declared), limit);
}

/**
 * Refuses (415) a body with a Content-Encoding: gzip or deflate bytes were parsed as JSON and
 * answered "not valid JSON" with the garbled bytes echoed. Decoding them would need its own limit
 * on the decoded size (a few KiB of gzip can inflate to gigabytes); clients can send identity.
 */
export function checkNoContentEncoding(req: IncomingMessage): void {
  const encoding = req.headers['content-encoding'];
  if (encoding === undefined || encoding.trim().toLowerCase() === 'identity') return;
  const shown = encoding.length > 40 ? `${encoding.slice(0, 40)}...` : encoding;
  throw new HttpError(415, `Content-Encoding '${shown}' is not accepted; send the body uncompressed (identity)`, { 'Accept-Encoding': 'identity' });
}

function tooLarge(size: number, limit: number): HttpError {
  // Connection: close: the rest of an oversized body is not read.
  return new HttpError(413, `the request body (${size} bytes or more) exceeds the limit of ${limit} bytes; send fewer images per request or raise --max-body-bytes`, {
    Connection: 'close',
  });
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Readonly<Record<string, string>> = {}): void {
  if (res.headersSent || res.destroyed) return;
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

/** `{"error": message}`: never a stack trace. */
export function sendError(res: ServerResponse, status: number, message: string, headers: Readonly<Record<string, string>> = {}): void {
  sendJson(res, status, { error: message }, headers);
}

export function sendBinary(res: ServerResponse, status: number, body: Buffer, headers: Readonly<Record<string, string>>): void {
  if (res.headersSent || res.destroyed) return;
  res.writeHead(status, { 'Content-Length': body.length, ...headers });
  res.end(body);
}

/**
 * Stops accepting connections: http.Server.close() without its first step (Node >= 19), which
 * destroys every keep-alive connection that has no request on it at that moment. A client that
 * had its answer just before may be sending its next request on one of them; it would meet a
 * closed socket and no reply. Those connections are closed after the drain (see shutdown() in server.ts).
 * close() calls closeIdleConnections() on the server object, so an own no-op shadows it for
 * the call.
 */
export function stopAccepting(http: Server): Promise<void> {
  return new Promise((resolve) => {
    if (!http.listening) {
      resolve();
      return;
    }
    Object.defineProperty(http, 'closeIdleConnections', { value: () => undefined, configurable: true, writable: true });
    try {
      http.close(() => resolve());
    } finally {
      Reflect.deleteProperty(http, 'closeIdleConnections');
    }
  });
}
