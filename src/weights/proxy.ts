/**
 * HTTPS_PROXY / NO_PROXY for checkpoint downloads, as curl reads them: https:// URLs go through
 * an http:// proxy with CONNECT (TLS stays end to end: the proxy sees only the host and port),
 * unless NO_PROXY lists the host ('*', exact hosts or IPs, domain suffixes with or without a
 * leading '.', each optionally with ':port'). http:// downloads only ever go to this machine
 * and are never proxied.
 */
import * as http from 'node:http';
import type { Socket } from 'node:net';
import { WeightsDownloadError } from '../errors';

/** The proxy to use for `url`, or null. */
export function proxyFor(url: URL, env: NodeJS.ProcessEnv): URL | null {
  if (url.protocol !== 'https:') return null;
  const value = env.https_proxy ?? env.HTTPS_PROXY;
  if (value === undefined || value === '') return null;
  if (bypassesProxy(url, env.no_proxy ?? env.NO_PROXY ?? '')) return null;
  let proxy: URL;
  try {
    proxy = new URL(value.includes('://') ? value : `http://${value}`);
  } catch {
    throw new WeightsDownloadError(`HTTPS_PROXY=${value} is not a URL; set it to http://host:port`, 'url', url.href, null);
  }
  if (proxy.protocol !== 'http:') {
    throw new WeightsDownloadError(`HTTPS_PROXY=${value}: only http:// proxies are supported (CONNECT over plain http, TLS end to end)`, 'url', url.href, null);
  }
  return proxy;
}

/** Whether NO_PROXY (comma- or space-separated) names the URL's host. */
export function bypassesProxy(url: URL, noProxy: string): boolean {
  const host = url.hostname.replace(/^\[|\]$/g, '').toLowerCase();
  const port = url.port || (url.protocol === 'https:' ? '443' : '80');
  for (const raw of noProxy.split(/[\s,]+/)) {
    const entry = raw.trim().toLowerCase();
    if (entry === '') continue;
    if (entry === '*') return true;
    const match = /^(.*?)(?::(\d+))?$/.exec(entry.replace(/^\[(.*)\](:\d+)?$/, '$1$2'))!;
    const name = match[1]!.replace(/^\*?\./, '');
    if (match[2] !== undefined && match[2] !== port) continue;
    if (host === name || host.endsWith(`.${name}`)) return true;
  }
  return false;
}

/** A socket to host:port tunnelled through the proxy with CONNECT. */
export function connectThroughProxy(proxy: URL, host: string, port: number, timeoutMs: number, targetUrl: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const target = `${host.includes(':') ? `[${host}]` : host}:${port}`;
    const headers: Record<string, string> = { Host: target };
    if (proxy.username !== '') {
      const credentials = `${decodeURIComponent(proxy.username)}:${decodeURIComponent(proxy.password)}`;
      headers['Proxy-Authorization'] = `Basic ${Buffer.from(credentials).toString('base64')}`;
    }
    const request = http.request({ host: proxy.hostname, port: proxy.port || 80, method: 'CONNECT', path: target, headers, agent: false });
    const fail = (problem: string, cause?: unknown): void =>
      reject(new WeightsDownloadError(`${targetUrl}: the proxy ${proxy.host} (HTTPS_PROXY) ${problem}; check HTTPS_PROXY and NO_PROXY`, 'network', targetUrl, null, { cause }));
    request.setTimeout(timeoutMs, () => request.destroy(new Error(`no answer in ${timeoutMs} ms`)));
    request.once('connect', (response, socket) => {
      request.setTimeout(0);
      if (response.statusCode !== 200) {
        socket.destroy();
        fail(`refused CONNECT ${target}: HTTP ${response.statusCode} ${response.statusMessage ?? ''}`.trim());
        return;
      }
      resolve(socket);
    });
    request.once('error', (error) => fail(`could not be reached: ${error.message}`, error));
    request.end();
  });
}
