/**
 * pullWeights against loopback servers laid out like the Hugging Face hub and GitHub releases
 * (tests/helpers/weights-server.ts; no network). Known tags are pointed at them with
 * INCEPTION_WEIGHTS_MIRROR, and INCEPTION_WEIGHTS_TABLE pins the hashes of the files served
 * here (the real pinned hashes belong to files we cannot download in CI). Everything is exact:
 * bytes, hashes, request counts and Range headers; no tolerance is involved.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { WeightsDownloadError } from '../../src/errors';
import { effectiveUrl } from '../../src/weights/download-url';
import { KNOWN_CHECKPOINTS } from '../../src/weights/known-checkpoints';
import type { DownloadProgress } from '../../src/weights/progress';
import { bypassesProxy, proxyFor } from '../../src/weights/proxy';
import { pullWeights, type PullOptions } from '../../src/weights/pull';
import { startWeightsServer, testBytes, type WeightsServer } from '../helpers/weights-server';
import { tempDir } from './builders';

const tmp = tempDir();
let server: WeightsServer;
let cacheCounter = 0;

const HUB_V4 = '/timm/inception_v4.tf_in1k/resolve/main/model.safetensors';
const HUB_ENS_ADV = '/timm/inception_resnet_v2.tf_ens_adv_in1k/resolve/main/model.safetensors';
const GITHUB_VGGFACE2 = '/timesler/facenet-pytorch/releases/download/v2.2.9/20180402-114759-vggface2.pt';
const FILE = testBytes(300_000, 7);
const FILE_SHA = createHash('sha256').update(FILE).digest('hex');

afterAll(async () => {
  await server?.close();
  tmp.cleanup();
});

beforeEach(async () => {
  await server?.close();
  server = await startWeightsServer();
});

/** A fresh cache and an environment pointing known tags at the test server. */
function setup(table: Record<string, unknown> = { 'inception_v4.tf_in1k': { sha256: FILE_SHA } }): { env: NodeJS.ProcessEnv; cache: string; events: DownloadProgress[]; options: PullOptions } {
  const cache = path.join(tmp.dir, `cache-${cacheCounter++}`);
  const tablePath = path.join(tmp.dir, `table-${cacheCounter}.json`);
  writeFileSync(tablePath, JSON.stringify(table));
  const env = { INCEPTION_CACHE_DIR: cache, INCEPTION_WEIGHTS_MIRROR: server.url, INCEPTION_WEIGHTS_TABLE: tablePath };
  const events: DownloadProgress[] = [];
  return { env, cache, events, options: { env, onProgress: (p) => events.push(p), retryDelayMs: 10 } };
}

/** Every file under `dir`, relative. */
function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((d) => d.isFile())
    .map((d) => path.relative(dir, path.join(d.parentPath ?? (d as unknown as { path: string }).path, d.name)))
    .sort();
}

async function rejection(promise: Promise<unknown>): Promise<WeightsDownloadError> {
  const error = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(WeightsDownloadError);
  expect((error as WeightsDownloadError).code).toBe('E_WEIGHTS');
  return error as WeightsDownloadError;
}

describe('pullWeights: downloads', () => {
  it('a good download in the hub layout: pinned hash and X-Linked-Etag checked, record written, the second call uses the cache', async () => {
    server.serve(HUB_V4, FILE, 'hub');
    const { options, cache, events } = setup();
    const pulled = await pullWeights('pretrained', { ...options, model: 'inception_v4' });
    expect(pulled.path).toBe(path.join(cache, 'inception_v4.tf_in1k', 'model.safetensors'));
    expect(readFileSync(pulled.path).equals(FILE)).toBe(true);
    expect(pulled).toMatchObject({ tag: 'inception_v4.tf_in1k', sha256: FILE_SHA, bytes: FILE.length, verifiedBy: ['pinned', 'hub-etag'], fromCache: false });
    expect(pulled.url).toBe(`${server.url}${HUB_V4}`);
    expect(server.requests.map((r) => `${r.server} ${r.path.split('?')[0]}`)).toEqual([`origin ${HUB_V4}`, `cdn /blobs/${FILE_SHA}`]);
    const record = JSON.parse(readFileSync(`${pulled.path}.json`, 'utf8'));
    expect(record).toMatchObject({ url: pulled.url, tag: 'inception_v4.tf_in1k', bytes: FILE.length, sha256: FILE_SHA, verifiedBy: ['pinned', 'hub-etag'] });
    expect(filesUnder(cache)).toEqual(['inception_v4.tf_in1k/model.safetensors', 'inception_v4.tf_in1k/model.safetensors.json']);
    const downloading = events.filter((e) => e.phase === 'downloading');
    expect(downloading.at(-1)).toMatchObject({ receivedBytes: FILE.length, totalBytes: FILE.length });
    expect(events.at(-1)?.phase).toBe('done');

    const again = await pullWeights('inception_v4.tf_in1k', options);
    expect(again).toMatchObject({ path: pulled.path, sha256: FILE_SHA, fromCache: true });
    expect(server.requests).toHaveLength(2); // nothing fetched the second time
  });

  it('the GitHub release layout: no published hash, so the first download records one and later uses are checked against it', async () => {
    const pt = readFileSync(path.resolve(__dirname, '../fixtures/pt/small_state_zip.pt'));
    const sha = server.serve(GITHUB_VGGFACE2, pt, 'github');
    const { options, cache } = setup({});
    const pulled = await pullWeights('inception_resnet_v1.vggface2', options);
    expect(pulled).toMatchObject({ sha256: sha, verifiedBy: ['first-download'], fromCache: false });
    expect(pulled.path).toBe(path.join(cache, 'inception_resnet_v1.vggface2', '20180402-114759-vggface2.pt'));
    // The redirect went to the other (CDN) server.
    expect(server.requests.map((r) => r.server)).toEqual(['origin', 'cdn']);
    expect((await pullWeights('inception_resnet_v1.vggface2', options)).fromCache).toBe(true);
  });

  it("tf_ens_adv_in1k has no pinned hash: the hub's X-Linked-Etag is checked, and a wrong one is an error", async () => {
    server.serve(HUB_ENS_ADV, FILE, 'hub');
    const good = await pullWeights('inception_resnet_v2.tf_ens_adv_in1k', setup({}).options);
    expect(good.verifiedBy).toEqual(['hub-etag']);

    await server.close();
    server = await startWeightsServer();
    const wrong = 'f'.repeat(64);
    server.serve(HUB_ENS_ADV, FILE, 'hub', { linkedEtag: wrong });
    const { options, cache } = setup({});
    const error = await rejection(pullWeights('inception_resnet_v2.tf_ens_adv_in1k', options));
    expect(error.reason).toBe('checksum');
    expect(error.message).toContain(`has sha256 ${FILE_SHA}, but it must be hub-etag ${wrong}`);
    expect(filesUnder(cache)).toEqual([]);
  });

  it('a pinned-hash mismatch: an error naming both hashes, the URL and the fix; nothing left in the cache', async () => {
    server.serve(HUB_V4, FILE, 'hub');
    const pinned = 'a'.repeat(64);
    const { options, cache } = setup({ 'inception_v4.tf_in1k': { sha256: pinned } });
    const error = await rejection(pullWeights('inception_v4.tf_in1k', options));
    expect(error.reason).toBe('checksum');
    expect(error.url).toBe(`${server.url}${HUB_V4}`);
    expect(error.message).toContain(`has sha256 ${FILE_SHA}, but it must be the pinned one ${pinned}`);
    expect(error.message).toContain('It was deleted; nothing was cached');
    expect(filesUnder(cache)).toEqual([]); // no file, record, partial or lock
  });

  it('a connection cut mid-file is resumed with a Range request in the same call', async () => {
    server.serve(HUB_V4, FILE, 'hub');
    server.cutNext(100_000);
    const { options, events } = setup();
    const pulled = await pullWeights('inception_v4.tf_in1k', options);
    expect(readFileSync(pulled.path).equals(FILE)).toBe(true);
    const content = server.contentRequests();
    expect(content).toHaveLength(2);
    expect(content[0]!.range).toBeNull();
    const resumedAt = Number(/^bytes=(\d+)-$/.exec(content[1]!.range ?? '')?.[1]);
    expect(resumedAt).toBeGreaterThan(0);
    expect(resumedAt).toBeLessThanOrEqual(100_000);
    expect(content[1]!.ifRange).toBe(`"${FILE_SHA}"`); // the CDN's strong ETag guards the resume
    expect(events.some((e) => e.phase === 'notice' && /retrying \(1 of 5\)/.test(e.message ?? ''))).toBe(true);
  });

  it('a download cut with no retries left keeps its partial file, and the next call resumes it with Range', async () => {
    server.serve(HUB_V4, FILE, 'hub');
    const { options, cache } = setup();
    const partial = path.join(cache, 'inception_v4.tf_in1k/model.safetensors.partial');
    // Cut once the client has written some bytes: the resume below needs a non-empty partial file.
    server.cutNext(120_000, 1, () => existsSync(partial) && statSync(partial).size > 0);
    const error = await rejection(pullWeights('inception_v4.tf_in1k', { ...options, retries: 0 }));
    expect(error.reason).toBe('network');
    expect(error.message).toMatch(/bytes are kept in .*model\.safetensors\.partial; run the same command again to resume/);
    expect(filesUnder(cache)).toEqual(['inception_v4.tf_in1k/model.safetensors.partial', 'inception_v4.tf_in1k/model.safetensors.partial.json']);
    const kept = readFileSync(path.join(cache, 'inception_v4.tf_in1k/model.safetensors.partial')).length;
    expect(kept).toBeGreaterThan(0);

    const pulled = await pullWeights('inception_v4.tf_in1k', options);
    expect(readFileSync(pulled.path).equals(FILE)).toBe(true);
    const content = server.contentRequests();
    expect(content.at(-1)!.range).toBe(`bytes=${kept}-`);
    expect(filesUnder(cache)).toEqual(['inception_v4.tf_in1k/model.safetensors', 'inception_v4.tf_in1k/model.safetensors.json']);
  });

  it('a kept partial file the server cannot continue (416) starts again; a corrupted one is caught by the hash and deleted', async () => {
    server.serve(HUB_V4, FILE, 'hub');
    const { options, cache } = setup();
    const dir = path.join(cache, 'inception_v4.tf_in1k');
    const { mkdirSync } = await import('node:fs');
    mkdirSync(dir, { recursive: true });
    const url = `${server.url}${HUB_V4}`;
    const partialRecord = JSON.stringify({ url, totalBytes: FILE.length, etag: null, linkedSha256: FILE_SHA });
    writeFileSync(path.join(dir, 'model.safetensors.partial'), testBytes(FILE.length + 10, 9));
    writeFileSync(path.join(dir, 'model.safetensors.partial.json'), partialRecord);
    const restarted = await pullWeights('inception_v4.tf_in1k', options);
    expect(readFileSync(restarted.path).equals(FILE)).toBe(true);
    expect(server.contentRequests().map((r) => r.range)).toEqual([`bytes=${FILE.length + 10}-`, null]);

    const other = setup();
    const dir2 = path.join(other.cache, 'inception_v4.tf_in1k');
    mkdirSync(dir2, { recursive: true });
    writeFileSync(path.join(dir2, 'model.safetensors.partial'), testBytes(1000, 4)); // not FILE's first 1000 bytes
    writeFileSync(path.join(dir2, 'model.safetensors.partial.json'), partialRecord);
    const error = await rejection(pullWeights('inception_v4.tf_in1k', other.options));
    expect(error.reason).toBe('checksum');
    expect(filesUnder(other.cache)).toEqual([]);
    expect(readFileSync((await pullWeights('inception_v4.tf_in1k', other.options)).path).equals(FILE)).toBe(true);
  });

  it('404: an error naming the URL and what to check; nothing cached', async () => {
    const { options, cache } = setup();
    const error = await rejection(pullWeights('inception_v4.tf_in1k', options));
    expect(error.reason).toBe('http-status');
    expect(error.message).toContain(`HTTP 404 Not Found for ${server.url}${HUB_V4}: the file is not there`);
    expect(error.message).toContain('INCEPTION_WEIGHTS_MIRROR');
    expect(filesUnder(cache)).toEqual([]);
  });

  it('redirects: followed across hosts; a loop is cut after 10; a redirect to plain http elsewhere is refused', async () => {
    let hops = 0;
    server.route(HUB_V4, (_req, res) => {
      hops++;
      res.writeHead(302, { Location: HUB_V4 }).end();
    });
    const loop = await rejection(pullWeights('inception_v4.tf_in1k', setup().options));
    expect(loop.message).toContain('more than 10 redirects');
    expect(hops).toBe(11);

    server.route(HUB_V4, (_req, res) => res.writeHead(302, { Location: 'http://example.com/model.safetensors' }).end());
    const insecure = await rejection(pullWeights('inception_v4.tf_in1k', setup().options));
    expect(insecure.reason).toBe('url');
    expect(insecure.message).toContain('redirected to http://example.com/model.safetensors');
    expect(insecure.message).toContain('plain http to another machine');
  });

  it('offline mode: INCEPTION_OFFLINE=1 refuses to download; HF_HUB_OFFLINE=1 uses the cache without a request', async () => {
    server.serve(HUB_V4, FILE, 'hub');
    const { options, env } = setup();
    const refused = await rejection(pullWeights('inception_v4.tf_in1k', { ...options, env: { ...env, INCEPTION_OFFLINE: '1' } }));
    expect(refused.reason).toBe('offline');
    expect(refused.message).toContain("INCEPTION_OFFLINE=1 forbids downloading. Run 'inception-cudnn weights pull inception_v4.tf_in1k' where there is network");
    expect(server.requests).toHaveLength(0);

    await pullWeights('inception_v4.tf_in1k', options);
    const before = server.requests.length;
    const offline = await pullWeights('inception_v4.tf_in1k', { ...options, env: { ...env, HF_HUB_OFFLINE: 'true' } });
    expect(offline.fromCache).toBe(true);
    expect(server.requests).toHaveLength(before);

    const bad = await rejection(pullWeights('inception_v4.tf_in1k', { ...options, env: { ...env, INCEPTION_OFFLINE: 'maybe' } }));
    expect(bad.message).toContain('INCEPTION_OFFLINE=maybe is neither true');
  });

  it('a corrupted cached file is caught: an error offline, downloaded again online', async () => {
    server.serve(HUB_V4, FILE, 'hub');
    const { options, env, events } = setup();
    const pulled = await pullWeights('inception_v4.tf_in1k', options);
    const corrupted = Buffer.from(FILE);
    corrupted[12345] ^= 0x01; // one bit, same size
    writeFileSync(pulled.path, corrupted);

    const offline = await rejection(pullWeights('inception_v4.tf_in1k', { ...options, env: { ...env, INCEPTION_OFFLINE: '1' } }));
    expect(offline.message).toContain(`the cached ${pulled.path} is corrupted or out of date: its sha256 is ${createHash('sha256').update(corrupted).digest('hex')} but ${FILE_SHA} was recorded`);

    const again = await pullWeights('inception_v4.tf_in1k', options);
    expect(again.fromCache).toBe(false);
    expect(readFileSync(again.path).equals(FILE)).toBe(true);
    expect(server.contentRequests()).toHaveLength(2);
    expect(events.some((e) => e.phase === 'notice' && (e.message ?? '').includes('deleting it and downloading again'))).toBe(true);

    writeFileSync(again.path, FILE.subarray(0, 1000)); // truncated: caught by the size alone
    const offline2 = await rejection(pullWeights('inception_v4.tf_in1k', { ...options, env: { ...env, INCEPTION_OFFLINE: '1' } }));
    expect(offline2.message).toContain(`it has 1000 bytes but ${FILE.length} were recorded`);
  });

  it('a stale lock left by a process that died is broken; a fresh lock of a live process is waited for', async () => {
    server.serve(HUB_V4, FILE, 'hub');
    const { options, cache, events } = setup();
    const dir = path.join(cache, 'inception_v4.tf_in1k');
    const { mkdirSync } = await import('node:fs');
    mkdirSync(dir, { recursive: true });
    const { spawnSync } = await import('node:child_process');
    const deadPid = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' }).stdout;
    writeFileSync(path.join(dir, 'model.safetensors.lock'), JSON.stringify({ pid: Number(deadPid), host: (await import('node:os')).hostname(), token: 'dead', created: '' }));
    const pulled = await pullWeights('inception_v4.tf_in1k', options);
    expect(readFileSync(pulled.path).equals(FILE)).toBe(true);
    expect(existsSync(path.join(dir, 'model.safetensors.lock'))).toBe(false);
    expect(events.some((e) => e.phase === 'waiting')).toBe(false);

    // A lock of this (live) process that stops being refreshed is broken after lockStaleMs.
    const second = setup();
    const dir2 = path.join(second.cache, 'inception_v4.tf_in1k');
    mkdirSync(dir2, { recursive: true });
    writeFileSync(path.join(dir2, 'model.safetensors.lock'), JSON.stringify({ pid: process.pid, host: (await import('node:os')).hostname(), token: 'live', created: '' }));
    const started = Date.now();
    await pullWeights('inception_v4.tf_in1k', { ...second.options, lockStaleMs: 600 });
    expect(Date.now() - started).toBeGreaterThanOrEqual(500);
    expect(second.events.some((e) => e.phase === 'waiting' && (e.message ?? '').includes(`pid ${process.pid}`))).toBe(true);
  });

  it('a URL with the sha256 the user gives: cached under url/, checked; a wrong one is an error', async () => {
    server.serve('/files/weights.safetensors', FILE, 'github');
    const { options, cache } = setup();
    const url = `${server.url}/files/weights.safetensors`;
    const pulled = await pullWeights(url, { ...options, sha256: FILE_SHA.toUpperCase() });
    expect(pulled.verifiedBy).toEqual(['user']);
    expect(pulled.path.startsWith(path.join(cache, 'url'))).toBe(true);
    expect(path.basename(pulled.path)).toBe('weights.safetensors');

    const other = setup();
    const error = await rejection(pullWeights(url, { ...other.options, sha256: 'b'.repeat(64) }));
    expect(error.message).toContain(`but it must be the one you gave ${'b'.repeat(64)}`);
    expect(filesUnder(other.cache)).toEqual([]);
    await expect(pullWeights('http://example.com/x.pt', options)).rejects.toThrow(/plain http to another machine; use https:\/\//);
  });
});

describe('download URLs and proxies', () => {
  const v4 = KNOWN_CHECKPOINTS[0]!;
  const facenet = KNOWN_CHECKPOINTS.find((c) => c.tag === 'inception_resnet_v1.vggface2')!;

  it('HF_ENDPOINT moves hub URLs only; INCEPTION_WEIGHTS_MIRROR replaces scheme and host of every known URL', () => {
    expect(effectiveUrl(v4, {})).toBe('https://huggingface.co/timm/inception_v4.tf_in1k/resolve/main/model.safetensors');
    expect(effectiveUrl(v4, { HF_ENDPOINT: 'https://hf-mirror.example/' })).toBe('https://hf-mirror.example/timm/inception_v4.tf_in1k/resolve/main/model.safetensors');
    expect(effectiveUrl(facenet, { HF_ENDPOINT: 'https://hf-mirror.example' })).toBe(facenet.url);
    expect(effectiveUrl(facenet, { INCEPTION_WEIGHTS_MIRROR: 'https://mirror.example/weights' })).toBe('https://mirror.example/weights/timesler/facenet-pytorch/releases/download/v2.2.9/20180402-114759-vggface2.pt');
    expect(() => effectiveUrl(v4, { INCEPTION_WEIGHTS_MIRROR: 'http://mirror.example' })).toThrow(/inception_v4.tf_in1k \(via INCEPTION_WEIGHTS_MIRROR\): http:\/\/mirror.example.* is plain http to another machine/);
  });

  it('HTTPS_PROXY applies to https URLs unless NO_PROXY names the host', () => {
    const url = new URL('https://huggingface.co/x');
    expect(proxyFor(url, {})).toBeNull();
    expect(proxyFor(url, { HTTPS_PROXY: 'http://proxy.local:3128' })?.href).toBe('http://proxy.local:3128/');
    expect(proxyFor(url, { https_proxy: 'proxy.local:8080' })?.host).toBe('proxy.local:8080');
    expect(proxyFor(new URL('http://127.0.0.1:8000/x'), { HTTPS_PROXY: 'http://proxy.local:3128' })).toBeNull();
    for (const noProxy of ['huggingface.co', '.huggingface.co', '*.co', 'example.com, huggingface.co', '*', 'huggingface.co:443']) {
      expect(bypassesProxy(url, noProxy), noProxy).toBe(true);
    }
    for (const noProxy of ['', 'face.co', 'huggingface.co:8443', 'example.com']) expect(bypassesProxy(url, noProxy), noProxy).toBe(false);
    expect(() => proxyFor(url, { HTTPS_PROXY: 'https://proxy.local' })).toThrow(/only http:\/\/ proxies/);
  });
});
