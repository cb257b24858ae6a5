/**
 * One GET with its redirects: every hop must pass checkDownloadUrl (https://, or http:// to
 * this machine), at most MAX_REDIRECTS hops, through HTTPS_PROXY where it applies. The hub's
 * X-Linked-Etag (an LFS file's sha256) and X-Linked-Size come on its resolve redirect, not on
 * the CDN's answer, so they are collected along the chain.
 */
import * as http from 'node:http';
import * as https from 'node:https';
import { isIP } from 'node:net';
import * as tls from 'node:tls';
import { WeightsDownloadError } from '../errors';
import { checkDownloadUrl } from './download-url';
import { connectThroughProxy, proxyFor } from './proxy';

export const MAX_REDIRECTS = 10;

export interface HttpResponse {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  /** The URL that answered (after redirects). */
  readonly finalUrl: string;
  /** sha256 hex from an X-Linked-Etag along the chain, or null. */
  readonly linkedSha256: string | null;
  /** X-Linked-Size along the chain, or null. */
  readonly linkedSize: number | null;
  readonly body: http.IncomingMessage;
}

export interface HttpGetOptions {
  readonly headers: Readonly<Record<string, string>>;
  readonly env: NodeJS.ProcessEnv;
  /** The socket may be idle this long (connecting, waiting, reading) before the request fails. */
  readonly timeoutMs: number;
}

function header(headers: http.IncomingHttpHeaders, name: string): string | null {
  const value = headers[name];
  return typeof value === 'string' ? value : Array.isArray(value) ? (value[0] ?? null) : null;
}

/** GET `url`, following redirects; resolves with the first non-redirect response (any status). */
export async function httpGet(url: string, options: HttpGetOptions): Promise<HttpResponse> {
  let current = checkDownloadUrl(url, url);
  let linkedSha256: string | null = null;
  let linkedSize: number | null = null;
  for (let hop = 0; ; hop++) {
    const response = await requestOnce(current, options);
    const etag = header(response.headers, 'x-linked-etag');
    const unquoted = etag?.replace(/^W\//, '').replace(/"/g, '').toLowerCase() ?? null;
    if (linkedSha256 === null && unquoted !== null && /^[0-9a-f]{64}$/.test(unquoted)) linkedSha256 = unquoted;
    const size = header(response.headers, 'x-linked-size');
    if (linkedSize === null && size !== null && /^\d+$/.test(size)) linkedSize = Number(size);
    const status = response.statusCode ?? 0;
    const location = header(response.headers, 'location');
    if (status >= 300 && status < 400 && status !== 304 && location !== null) {
      response.resume();
      if (hop + 1 > MAX_REDIRECTS) {
        throw new WeightsDownloadError(`${url}: more than ${MAX_REDIRECTS} redirects (last to ${location}); the server or mirror is misconfigured`, 'http-status', url, null);
      }
      const next = new URL(location, current).href;
      current = checkDownloadUrl(next, `${url} redirected to ${next}`);
      continue;
    }
    return { status, headers: response.headers, finalUrl: current.href, linkedSha256, linkedSize, body: response };
  }
}

async function requestOnce(url: URL, options: HttpGetOptions): Promise<http.IncomingMessage> {
  const proxy = proxyFor(url, options.env);
  const port = Number(url.port || (url.protocol === 'https:' ? 443 : 80));
  let createConnection: (() => tls.TLSSocket) | undefined;
  if (proxy !== null) {
    const tunnel = await connectThroughProxy(proxy, url.hostname.replace(/^\[|\]$/g, ''), port, options.timeoutMs, url.href);
    const host = url.hostname.replace(/^\[|\]$/g, '');
    const secure = tls.connect({ socket: tunnel, host, servername: isIP(host) === 0 ? host : undefined });
    createConnection = () => secure;
  }
  return new Promise((resolve, reject) => {
    const client = url.protocol === 'https:' ? https : http;
    const request = client.request(url, {
      method: 'GET',
      headers: options.headers,
      ...(createConnection === undefined ? { agent: false } : { createConnection }),
    });
    request.setTimeout(options.timeoutMs, () => request.destroy(new Error(`no data for ${options.timeoutMs} ms`)));
    request.once('response', resolve);
    request.once('error', reject);
    request.end();
  });
}
