/** Small HTTP helpers: a status-carrying error, a size-limited body reader, JSON and error replies. */
import type { IncomingMessage, ServerResponse } from 'node:http';

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

/** Reads the whole body, refusing (413) a declared or actual size over `limit` bytes. */
export function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > limit) {
    return Promise.reject(tooLarge(Number(declared), limit));
  }
  return new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let failed = false;
    req.on('data', (chunk: Buffer) => {
      if (failed) return;
      size += chunk.length;
      if (size > limit) {
        failed = true;
        chunks.length = 0;
        reject(tooLarge(size, limit));
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      if (!failed) resolve(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, size));
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
