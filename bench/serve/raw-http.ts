/**
 * A raw HTTP/1.1 client over one TCP connection, for what fetch cannot send or show: pipelined
 * requests, malformed bytes, a request sent on a keep-alive connection at a chosen moment, and
 * whether the server closed the connection. Responses are parsed in order from the byte stream
 * (status, headers, a Content-Length or chunked body; HEAD is not supported: its response has a
 * Content-Length and no body). Used by tests/serve and by the adversarial bench, which counts
 * 20,000 answers a round without keeping them (`keep: false`).
 */
import { connect, type Socket } from 'node:net';

export interface RawResponse {
  readonly status: number;
  /** Header names in lower case. */
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Buffer;
  json(): any; // eslint-disable-line @typescript-eslint/no-explicit-any
}

export interface RawConnectionOptions {
  /** Keep every response in `responses` (default true); false only counts them and calls onResponse. */
  readonly keep?: boolean;
  readonly onResponse?: (response: RawResponse) => void;
}

export class RawConnection {
  readonly responses: RawResponse[] = [];
  /** Responses parsed so far (kept or not). */
  received = 0;
  /** Resolves once the server closed (or reset) the connection. */
  readonly closed: Promise<void>;
  private buffered: Buffer = Buffer.alloc(0);
  private waiters: (() => void)[] = [];
  private isClosed = false;
  private parseError: Error | undefined;

  private constructor(
    readonly socket: Socket,
    private readonly options: RawConnectionOptions,
  ) {
    socket.on('data', (chunk: Buffer) => {
      this.buffered = this.buffered.length === 0 ? chunk : Buffer.concat([this.buffered, chunk]);
      this.parse();
      this.wake();
    });
    socket.on('error', () => undefined); // a reset shows as 'close'
    this.closed = new Promise((resolve) =>
      socket.on('close', () => {
        this.isClosed = true;
        this.wake();
        resolve();
      }),
    );
  }

  static open(url: string, options: RawConnectionOptions = {}): Promise<RawConnection> {
    const { hostname, port } = new URL(url);
    return new Promise((resolve, reject) => {
      const socket = connect(Number(port), hostname, () => {
        socket.off('error', reject);
        resolve(new RawConnection(socket, options));
      });
      socket.once('error', reject);
    });
  }

  get isOpen(): boolean {
    return !this.isClosed;
  }

  write(bytes: string | Buffer): void {
    this.socket.write(bytes);
  }

  /** write(), then waits while the socket's send buffer is full (returns at once if the connection closes). */
  async send(bytes: string | Buffer): Promise<void> {
    if (this.socket.write(bytes) || this.isClosed) return;
    await new Promise<void>((resolve) => {
      const done = (): void => {
        this.socket.off('drain', done);
        this.socket.off('close', done);
        resolve();
      };
      this.socket.on('drain', done);
      this.socket.on('close', done);
    });
  }

  /** Resolves when `count` responses in all have arrived; rejects when the connection closes first or after `timeoutMs`. */
  async waitFor(count: number, timeoutMs: number): Promise<RawResponse[]> {
    const deadline = Date.now() + timeoutMs;
    while (this.received < count) {
      if (this.parseError !== undefined) throw this.parseError;
      if (this.isClosed) throw new Error(`the server closed the connection after ${this.received} of ${count} responses`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`${this.received} of ${count} responses after ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    return this.responses.slice(0, count);
  }

  /** True when the server closed the connection within `timeoutMs`. */
  async closesWithin(timeoutMs: number): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const outcome = await Promise.race([this.closed.then(() => true), new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), timeoutMs)))]);
    clearTimeout(timer);
    return outcome;
  }

  destroy(): void {
    this.socket.destroy();
  }

  private wake(): void {
    for (const wake of this.waiters.splice(0)) wake();
  }

  private parse(): void {
    for (;;) {
      const end = this.buffered.indexOf('\r\n\r\n');
      if (end < 0) return;
      const lines = this.buffered.subarray(0, end).toString('latin1').split('\r\n');
      const status = /^HTTP\/1\.1 (\d{3}) /.exec(lines[0]);
      if (status === null) {
        this.parseError = new Error(`not an HTTP/1.1 status line: ${JSON.stringify(lines[0])}`);
        return;
      }
      const headers: Record<string, string> = {};
      for (const line of lines.slice(1)) {
        const colon = line.indexOf(':');
        headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
      }
      const parsed = headers['transfer-encoding'] === 'chunked' ? chunkedBody(this.buffered, end + 4) : lengthBody(this.buffered, end + 4, headers['content-length']);
      if (parsed instanceof Error) {
        this.parseError = new Error(`${parsed.message}: ${JSON.stringify(lines)}`);
        return;
      }
      if (parsed === undefined) return;
      const keep = this.options.keep ?? true;
      const body = keep ? Buffer.from(parsed.body) : parsed.body;
      this.buffered = this.buffered.subarray(parsed.next);
      const response: RawResponse = { status: Number(status[1]), headers, body, json: () => JSON.parse(body.toString('utf8')) };
      this.received++;
      if (keep) this.responses.push(response);
      this.options.onResponse?.(response);
    }
  }
}

type Body = { body: Buffer; next: number } | undefined | Error;

function lengthBody(bytes: Buffer, start: number, contentLength: string | undefined): Body {
  if (contentLength === undefined) return new Error('a response with neither Content-Length nor chunked encoding');
  const end = start + Number(contentLength);
  return bytes.length < end ? undefined : { body: bytes.subarray(start, end), next: end };
}

function chunkedBody(bytes: Buffer, start: number): Body {
  const parts: Buffer[] = [];
  let at = start;
  for (;;) {
    const line = bytes.indexOf('\r\n', at);
    if (line < 0) return undefined;
    const size = parseInt(bytes.subarray(at, line).toString('latin1'), 16);
    if (!Number.isInteger(size)) return new Error('a malformed chunk size');
    if (bytes.length < line + 2 + size + 2) return undefined;
    if (size === 0) return { body: Buffer.concat(parts), next: line + 4 };
    parts.push(bytes.subarray(line + 2, line + 2 + size));
    at = line + 2 + size + 2;
  }
}

/** One request's bytes: method, path, headers, optional body (Content-Length added when there is a body). */
export function rawRequest(method: string, path: string, headers: Record<string, string> = {}, body?: string | Buffer): Buffer {
  const all: Record<string, string> = { Host: 'localhost', ...headers };
  if (body !== undefined && all['Content-Length'] === undefined) all['Content-Length'] = String(Buffer.byteLength(body));
  const head = `${method} ${path} HTTP/1.1\r\n${Object.entries(all)
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join('')}\r\n`;
  return body === undefined ? Buffer.from(head, 'latin1') : Buffer.concat([Buffer.from(head, 'latin1'), Buffer.from(body)]);
}

/** Polls `condition` every 10 ms until it holds; throws after `timeoutMs` naming `what`. */
export async function until(condition: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
