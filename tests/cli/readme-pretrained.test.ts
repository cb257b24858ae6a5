/**
 * From a fresh clone, the README's first command, run as written (the line is read from
 * README.md, so the README cannot drift from what is tested), against a test mirror:
 * INCEPTION_WEIGHTS_MIRROR points at a loopback server laid out like the Hugging Face hub that
 * serves a recipe-made inception_v4 checkpoint as timm/inception_v4.tf_in1k/model.safetensors.
 * The real file cannot be downloaded here, so INCEPTION_WEIGHTS_TABLE pins this file's sha256
 * instead of the real one (the mechanism docs/weights.md describes). Then the same command
 * again, offline: nothing fetched, the same top class. The served file is compared exactly.
 * The two runs' probabilities agree within 1e-2 relative, not bitwise: each process times
 * oneDNN's Winograd kernels afresh (benchmark: true) and may pick another kernel, i.e. another
 * summation order (observed: up to 1.2e-4 relative on these synthetic weights); 1e-2 is the
 * fixtures' bound for inception_v4 against the float64 reference (../shared/fixtures/tolerances.json),
 * and the top-1 class leads the second by ~8% here, far outside that.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { getModel } from '../../src/models/registry';
import { cpuBackendInfo } from '../../src/native/cpu-backend';
import { writeSyntheticCheckpoint } from '../../src/weights/synthetic';
import { startWeightsServer, type WeightsServer } from '../helpers/weights-server';
import { tempDir } from '../weights/builders';

const root = path.resolve(__dirname, '../..');
const compiled = path.join(root, 'lib', 'cli.js');
const cpu = cpuBackendInfo();
const skip = !existsSync(compiled) ? 'lib/ not built; run npm run build' : !cpu.available ? `CPU backend unavailable: ${cpu.reason}` : '';

const tmp = tempDir();
let server: WeightsServer | undefined;
afterAll(async () => {
  await server?.close();
  tmp.cleanup();
});

/**
 * The README's first `node lib/cli.js predict ... --weights pretrained` (from a clone) or
 * `npx inception-cudnn predict ... --weights pretrained` (from an install) line, as the node
 * arguments and working directory that run it: the npx form runs lib/cli.js (the package's bin)
 * in a folder whose node_modules/inception-cudnn is this clone, so its paths resolve as in an install.
 */
function readmeCommand(): { args: string[]; cwd: string; imageArg: string } {
  const line = readFileSync(path.join(root, 'README.md'), 'utf8')
    .split('\n')
    .find((l) => /^(node lib\/cli\.js|npx inception-cudnn) predict .*--weights pretrained/.test(l));
  expect(line, 'README.md has no `node lib/cli.js predict ... --weights pretrained` (or npx inception-cudnn) line').toBeDefined();
  const words = line!.trim().split(/\s+/);
  if (words[0] === 'node') return { args: words.slice(1), cwd: root, imageArg: words.at(-1)! };
  const cwd = path.join(tmp.dir, 'app');
  mkdirSync(path.join(cwd, 'node_modules'), { recursive: true });
  symlinkSync(root, path.join(cwd, 'node_modules', 'inception-cudnn'), 'dir');
  return { args: [compiled, ...words.slice(2)], cwd, imageArg: words.at(-1)! };
}

/** Runs node asynchronously (the mirror answers from this process, so nothing may block it). */
function runNode(args: readonly string[], cwd: string, env: NodeJS.ProcessEnv): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, args, { cwd, env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const timer = setTimeout(() => child.kill(), 300_000);
    child.on('close', (status) => {
      clearTimeout(timer);
      resolve({ status, stdout, stderr });
    });
  });
}

describe.skipIf(skip !== '')(`the README's first command${skip ? ` [SKIPPED: ${skip}]` : ''}`, () => {
  it('downloads the pretrained checkpoint from the mirror with progress, verifies it, predicts; then runs offline from the cache', async () => {
    const { args, cwd, imageArg } = readmeCommand();
    const checkpoint = path.join(tmp.dir, 'model.safetensors');
    await writeSyntheticCheckpoint(getModel('inception_v4').checkpoint, 'dcfree', checkpoint);
    const bytes = readFileSync(checkpoint);
    const sha = createHash('sha256').update(bytes).digest('hex');
    server = await startWeightsServer();
    server.serve('/timm/inception_v4.tf_in1k/resolve/main/model.safetensors', bytes, 'hub');
    const table = path.join(tmp.dir, 'table.json');
    writeFileSync(table, JSON.stringify({ 'inception_v4.tf_in1k': { sha256: sha } }));
    const cache = path.join(tmp.dir, 'cache');
    const env: NodeJS.ProcessEnv = { ...process.env, INCEPTION_CACHE_DIR: cache, INCEPTION_WEIGHTS_MIRROR: server.url, INCEPTION_WEIGHTS_TABLE: table };
    delete env.INCEPTION_OFFLINE;
    delete env.HF_HUB_OFFLINE;

    const first = await runNode(args, cwd, env);
    expect(first.status, first.stderr).toBe(0);
    const lines = first.stdout.trim().split('\n');
    expect(lines).toHaveLength(1);
    const result = JSON.parse(lines[0]!) as { file: string; top: Array<{ index: number; label: string; probability: number }> };
    expect(result.file).toBe(imageArg);
    expect(result.top).toHaveLength(5);
    expect(result.top.every((c) => typeof c.label === 'string' && c.probability > 0 && c.probability <= 1)).toBe(true);
    expect(first.stderr).toContain(`downloading inception_v4.tf_in1k: `);
    expect(first.stderr).toContain(`from ${server.url}/timm/inception_v4.tf_in1k/resolve/main/model.safetensors`);
    expect(first.stderr).toContain(`sha256 ${sha} verified (pinned, hub-etag)`);
    expect(first.stderr).toContain('notice: INCEPTION_WEIGHTS_TABLE=');
    expect(first.stderr).not.toContain('synthetic fixture weights');
    expect(server.contentRequests()).toHaveLength(1);
    expect(readFileSync(path.join(cache, 'inception_v4.tf_in1k', 'model.safetensors')).equals(bytes)).toBe(true);

    const offline = await runNode(args, cwd, { ...env, INCEPTION_OFFLINE: '1' });
    expect(offline.status, offline.stderr).toBe(0);
    const offlineResult = JSON.parse(offline.stdout) as typeof result;
    expect(offlineResult.file).toBe(result.file);
    expect(offlineResult.top).toHaveLength(5);
    expect(offlineResult.top[0]!.index).toBe(result.top[0]!.index);
    const p0 = result.top[0]!.probability;
    expect(Math.abs(offlineResult.top[0]!.probability - p0)).toBeLessThan(1e-2 * p0);
    expect(offline.stderr).not.toContain('downloading');
    expect(server.requests).toHaveLength(2); // the first run's resolve + CDN requests only
  }, 600_000);
});
