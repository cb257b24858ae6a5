/**
 * HTTPS_PROXY and NO_PROXY, end to end: a loopback HTTPS server (tests/fixtures/tls, trusted by
 * the child through NODE_EXTRA_CA_CERTS) serves a checkpoint, and a loopback CONNECT proxy
 * records what it tunnels. With HTTPS_PROXY set, the child's download must go through exactly
 * one CONNECT to the server's host:port (TLS end to end: the proxy sees only that); with
 * NO_PROXY naming the host, through none. Exact counts and bytes.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import * as net from 'node:net';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testBytes } from '../helpers/weights-server';
import { tempDir } from './builders';

const root = path.resolve(__dirname, '../..');
const viteNode = path.join(root, 'node_modules', '.bin', 'vite-node');
const TLS = path.resolve(__dirname, '../fixtures/tls');
const tmp = tempDir();
const FILE = testBytes(150_000, 5);
const SHA = createHash('sha256').update(FILE).digest('hex');
const connects: string[] = [];
let origin: https.Server;
let proxy: http.Server;
let originPort = 0;
let proxyPort = 0;
const sockets = new Set<net.Socket>();

beforeAll(async () => {
  origin = https.createServer({ key: readFileSync(path.join(TLS, 'key.pem')), cert: readFileSync(path.join(TLS, 'cert.pem')) }, (req, res) => {
    if (req.url !== '/files/model.safetensors') return void res.writeHead(404).end();
    res.writeHead(200, { 'Content-Length': FILE.length }).end(FILE);
  });
  proxy = http.createServer((_req, res) => res.writeHead(405).end());
  proxy.on('connect', (req: http.IncomingMessage, client: net.Socket, head: Buffer) => {
    connects.push(req.url ?? '');
    const [host, port] = (req.url ?? '').split(':');
    const upstream = net.connect(Number(port), host, () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
    });
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', () => undefined);
    }
  });
  await new Promise<void>((r) => origin.listen(0, '127.0.0.1', r));
  await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
  originPort = (origin.address() as net.AddressInfo).port;
  proxyPort = (proxy.address() as net.AddressInfo).port;
});

afterAll(async () => {
  for (const s of sockets) s.destroy();
  await Promise.all([new Promise((r) => origin.close(r)), new Promise((r) => proxy.close(r))]);
  tmp.cleanup();
});

function pullInChild(env: NodeJS.ProcessEnv): Promise<{ sha256?: string; error?: string }> {
  const go = path.join(tmp.dir, 'go');
  writeFileSync(go, '');
  return new Promise((resolve, reject) => {
    const clean = { ...process.env };
    for (const k of ['HTTPS_PROXY', 'https_proxy', 'NO_PROXY', 'no_proxy', 'INCEPTION_OFFLINE', 'HF_HUB_OFFLINE']) delete clean[k];
    const child = spawn(viteNode, [path.join(__dirname, 'pull-child.ts')], {
      cwd: root,
      env: { ...clean, NODE_EXTRA_CA_CERTS: path.join(TLS, 'cert.pem'), INCEPTION_TEST_GO: go, INCEPTION_TEST_SOURCE: `https://127.0.0.1:${originPort}/files/model.safetensors`, ...env },
    });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.on('close', (code) => {
      try {
        resolve(JSON.parse(out.trim().split('\n').pop() ?? '') as { sha256?: string; error?: string });
      } catch {
        reject(new Error(`child exited ${code}: ${out}`));
      }
    });
  });
}

describe('downloads through HTTPS_PROXY', () => {
  it('an https download goes through one CONNECT to the server; NO_PROXY naming the host bypasses the proxy', async () => {
    const viaProxy = await pullInChild({ HTTPS_PROXY: `http://127.0.0.1:${proxyPort}`, INCEPTION_CACHE_DIR: path.join(tmp.dir, 'a') });
    expect(viaProxy.error, viaProxy.error).toBeUndefined();
    expect(viaProxy.sha256).toBe(SHA);
    expect(connects).toEqual([`127.0.0.1:${originPort}`]);

    const bypass = await pullInChild({ HTTPS_PROXY: `http://127.0.0.1:${proxyPort}`, NO_PROXY: 'localhost,127.0.0.1', INCEPTION_CACHE_DIR: path.join(tmp.dir, 'b') });
    expect(bypass.sha256).toBe(SHA);
    expect(connects).toHaveLength(1);

    const dead = await pullInChild({ HTTPS_PROXY: 'http://127.0.0.1:1', INCEPTION_CACHE_DIR: path.join(tmp.dir, 'c') });
    expect(dead.error).toMatch(/the proxy 127\.0\.0\.1:1 \(HTTPS_PROXY\) could not be reached: .*ECONNREFUSED.*; check HTTPS_PROXY and NO_PROXY/);
  }, 120_000);
});
