/**
 * Two real Node processes pull the same tag at the same moment (tests/weights/pull-child.ts
 * under vite-node; a go-file releases both at once) from a loopback hub whose CDN sends the
 * file slowly (~1.5 s), so the second arrives while the first downloads. The file must be
 * fetched once (one content request), one process must have waited on the lock, and both must
 * end with the same verified file. Exact counts; no tolerance.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startWeightsServer, testBytes, type WeightsServer } from '../helpers/weights-server';
import { tempDir } from './builders';

const root = path.resolve(__dirname, '../..');
const viteNode = path.join(root, 'node_modules', '.bin', 'vite-node');
const tmp = tempDir();
let server: WeightsServer | undefined;
afterAll(async () => {
  await server?.close();
  tmp.cleanup();
});

interface ChildResult {
  pid: number;
  path: string;
  sha256: string;
  fromCache: boolean;
  waited: boolean;
  error?: string;
}

function startChild(env: NodeJS.ProcessEnv): { ready: Promise<void>; done: Promise<ChildResult> } {
  const child = spawn(viteNode, [path.join(__dirname, 'pull-child.ts')], { cwd: root, env: { ...process.env, ...env } });
  let out = '';
  let err = '';
  let markReady: () => void = () => undefined;
  const ready = new Promise<void>((resolve) => (markReady = resolve));
  child.stdout.on('data', (chunk: Buffer) => {
    out += chunk.toString();
    if (out.includes('ready\n')) markReady();
  });
  child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
  const done = new Promise<ChildResult>((resolve, reject) => {
    const timer = setTimeout(() => child.kill(), 120_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      const last = out.trim().split('\n').pop() ?? '';
      try {
        resolve(JSON.parse(last) as ChildResult);
      } catch {
        reject(new Error(`child exited ${code}: ${out}\n${err}`));
      }
    });
  });
  return { ready, done };
}

describe('two processes pulling the same checkpoint', () => {
  it('download it once: one waits on the lock, both get the same verified file', async () => {
    expect(existsSync(viteNode), `${viteNode} (vitest's runner) is missing`).toBe(true);
    server = await startWeightsServer();
    const file = testBytes(320_000, 3);
    const sha = createHash('sha256').update(file).digest('hex');
    server.serve('/timm/inception_v4.tf_in1k/resolve/main/model.safetensors', file, 'hub');
    server.setChunkDelay(300); // 5 chunks of 64 kB: about 1.5 s per download
    const table = path.join(tmp.dir, 'table.json');
    writeFileSync(table, JSON.stringify({ 'inception_v4.tf_in1k': { sha256: sha } }));
    const go = path.join(tmp.dir, 'go');
    const env = {
      INCEPTION_CACHE_DIR: path.join(tmp.dir, 'cache'),
      INCEPTION_WEIGHTS_MIRROR: server.url,
      INCEPTION_WEIGHTS_TABLE: table,
      INCEPTION_TEST_GO: go,
      INCEPTION_TEST_SOURCE: 'inception_v4.tf_in1k',
    };
    const children = [startChild(env), startChild(env)];
    await Promise.all(children.map((c) => c.ready));
    writeFileSync(go, '');
    const results = await Promise.all(children.map((c) => c.done));

    for (const r of results) expect(r.error, r.error).toBeUndefined();
    expect(server.contentRequests()).toHaveLength(1);
    expect(results.map((r) => r.sha256)).toEqual([sha, sha]);
    expect(results[0]!.path).toBe(results[1]!.path);
    expect(readFileSync(results[0]!.path).equals(file)).toBe(true);
    expect(results.filter((r) => r.fromCache)).toHaveLength(1);
    expect(results.filter((r) => r.waited)).toHaveLength(1);
    expect(existsSync(`${results[0]!.path}.lock`)).toBe(false);
  }, 180_000);
});
