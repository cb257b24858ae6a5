/**
 * Loopback HTTP servers that lay out files as the Hugging Face hub and GitHub releases do, for
 * download tests (127.0.0.1 only, closed by the test):
 * - hub: GET /<repo>/resolve/main/<file> answers 302 to the CDN with X-Linked-Etag: "<sha256>",
 *   X-Linked-Size and ETag (as the hub does for LFS files);
 * - GitHub: GET /<owner>/<repo>/releases/download/<tag>/<file> answers 302 to the CDN, no hash;
 * - the CDN (a second server, another port: a redirect crosses hosts) serves the bytes with
 *   Accept-Ranges, Range (206 + Content-Range) and ETag.
 * Every request is logged (server, method, path, Range). A content response can be cut after
 * N bytes (the socket destroyed mid-body) and can be slowed down.
 */
import { createHash } from 'node:crypto';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface LoggedRequest {
  readonly server: 'origin' | 'cdn';
  readonly method: string;
  readonly path: string;
  readonly range: string | null;
  readonly ifRange: string | null;
}

export interface WeightsServer {
  /** http://127.0.0.1:<origin port> */
  readonly url: string;
  readonly cdnUrl: string;
  readonly requests: LoggedRequest[];
  /** Serves `bytes` under `path` with the hub's or GitHub's layout; returns its sha256. */
  serve(path: string, bytes: Uint8Array, layout: 'hub' | 'github', options?: { linkedEtag?: string }): string;
  /** Raw handler for a path on the origin (redirect loops, odd answers). */
  route(path: string, handler: (req: http.IncomingMessage, res: http.ServerResponse) => void): void;
  /**
   * The next `count` content responses are cut after `afterBytes` bytes of body. With `until`, the
   * cut waits (polling every 10 ms, at most 10 s) until it returns true, e.g. until the client has
   * written some of those bytes: a client that is behind loses the bytes still in its stream
   * buffers when the connection breaks, so without it what the client keeps depends on load.
   */
  cutNext(afterBytes: number, count?: number, until?: () => boolean): void;
  /** Content is sent in 64 kB chunks with this pause between them (0 = as fast as possible). */
  setChunkDelay(ms: number): void;
  /** Content GETs (to the CDN) so far, for `path`'s blob when given. */
  contentRequests(): LoggedRequest[];
  close(): Promise<void>;
}

function listen(server: http.Server): Promise<string> {
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`));
  });
}

export async function startWeightsServer(): Promise<WeightsServer> {
  const requests: LoggedRequest[] = [];
  const blobs = new Map<string, Uint8Array>();
  const routes = new Map<string, (req: http.IncomingMessage, res: http.ServerResponse) => void>();
  let cuts: number[] = [];
  let cutWhen: (() => boolean) | undefined;
  let chunkDelay = 0;
  const sockets = new Set<import('node:net').Socket>();

  const log = (server: 'origin' | 'cdn', req: http.IncomingMessage): void => {
    requests.push({ server, method: req.method ?? '', path: req.url ?? '', range: (req.headers.range as string | undefined) ?? null, ifRange: (req.headers['if-range'] as string | undefined) ?? null });
  };

  const cdn = http.createServer((req, res) => {
    log('cdn', req);
    const id = (req.url ?? '').split('?')[0]!.replace(/^\/blobs\//, '');
    const blob = blobs.get(id);
    if (blob === undefined) {
      res.writeHead(404).end('no such blob');
      return;
    }
    let start = 0;
    const headers: http.OutgoingHttpHeaders = { 'Accept-Ranges': 'bytes', ETag: `"${id}"`, 'Content-Type': 'application/octet-stream' };
    const range = /^bytes=(\d+)-$/.exec((req.headers.range as string | undefined) ?? '');
    if (range !== null) {
      start = Number(range[1]);
      if (start >= blob.length) {
        res.writeHead(416, { 'Content-Range': `bytes */${blob.length}` }).end();
        return;
      }
      res.writeHead(206, { ...headers, 'Content-Range': `bytes ${start}-${blob.length - 1}/${blob.length}`, 'Content-Length': blob.length - start });
    } else {
      res.writeHead(200, { ...headers, 'Content-Length': blob.length });
    }
    const cutAfter = cuts.shift();
    const body = blob.subarray(start);
    const end = cutAfter === undefined ? body.length : Math.min(cutAfter, body.length);
    let at = 0;
    const step = (): void => {
      if (at >= end) {
        if (cutAfter !== undefined) {
          // Let the written bytes leave (and, with `until`, reach the client), then break the connection mid-body.
          const when = cutWhen;
          const deadline = Date.now() + 10_000;
          const cut = (): void => {
            if (when === undefined || when() || Date.now() > deadline) res.socket?.destroy();
            else setTimeout(cut, 10);
          };
          setTimeout(cut, 20);
        } else {
          res.end();
        }
        return;
      }
      const next = Math.min(end, at + 65536);
      const ok = res.write(body.subarray(at, next));
      at = next;
      if (chunkDelay > 0) setTimeout(step, chunkDelay);
      else if (ok) setImmediate(step);
      else res.once('drain', step);
    };
    step();
  });

  const origin = http.createServer((req, res) => {
    log('origin', req);
    const path = (req.url ?? '').split('?')[0]!;
    const handler = routes.get(path);
    if (handler === undefined) {
      res.writeHead(404, { 'Content-Type': 'text/plain' }).end('Entry not found');
      return;
    }
    handler(req, res);
  });
  for (const s of [cdn, origin]) s.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });

  const url = await listen(origin);
  const cdnUrl = await listen(cdn);

  return {
    url,
    cdnUrl,
    requests,
    serve(path, bytes, layout, options = {}) {
      const sha256 = createHash('sha256').update(bytes).digest('hex');
      blobs.set(sha256, bytes);
      routes.set(path, (_req, res) => {
        const location = `${cdnUrl}/blobs/${sha256}?response-content-disposition=attachment`;
        const headers: http.OutgoingHttpHeaders = { Location: location, 'Content-Length': 0 };
        if (layout === 'hub') {
          headers['X-Linked-Etag'] = `"${options.linkedEtag ?? sha256}"`;
          headers['X-Linked-Size'] = String(bytes.length);
          headers.ETag = `"${options.linkedEtag ?? sha256}"`;
          headers['X-Repo-Commit'] = '0123456789abcdef0123456789abcdef01234567';
        }
        res.writeHead(302, headers).end();
      });
      return sha256;
    },
    route(path, handler) {
      routes.set(path, handler);
    },
    cutNext(afterBytes, count = 1, until) {
      cuts = new Array<number>(count).fill(afterBytes);
      cutWhen = until;
    },
    setChunkDelay(ms) {
      chunkDelay = ms;
    },
    contentRequests() {
      return requests.filter((r) => r.server === 'cdn');
    },
    async close() {
      for (const socket of sockets) socket.destroy();
      await Promise.all([new Promise((r) => origin.close(r)), new Promise((r) => cdn.close(r))]);
    },
  };
}

/** Deterministic bytes for a served file. */
export function testBytes(length: number, seed = 1): Uint8Array {
  const out = new Uint8Array(length);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}
