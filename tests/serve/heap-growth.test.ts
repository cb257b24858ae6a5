/**
 * `serve` widens V8's heap growing factor for its own process (src/serve/heap-growth.ts): under
 * requests of a few megabytes, V8's default ran a full mark-compact every 4-6 requests, because it
 * counts the external memory those requests pass through (socket buffers, joined messages)
 * against an old-generation limit sized from a small JS heap.
 *
 * The unit tests check the choices (node's own flag wins, the environment overrides, a malformed
 * value is an error). The process test runs the real `serve` command under `node --trace-gc` and
 * counts the mark-compacts V8 reports while the server answers 40 gRPC ModelInfer calls of eight
 * 160x160 images (2.4 MB each, two in flight), once as shipped and once with
 * INCEPTION_SERVE_HEAP_GROWING_PERCENT=0 (V8's own factor). Measured here (2-core EPYC, Node 20,
 * three runs): 8-11 with V8's factor, 0-2 as shipped. The assertion is a count, not a time: at
 * least 4 with V8's factor (the load is heavy enough to show the difference) and at most half of
 * that as shipped. It fails if the setting stops reaching V8, or V8 stops honouring it.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../src/errors';
import { cpuBackendInfo } from '../../src/native/cpu-backend';
import { HEAP_GROWING_ENV, SERVE_HEAP_GROWING_PERCENT, setServeHeapGrowth } from '../../src/serve/heap-growth';
import { productEnv } from '../helpers/suite-env';
import { grpc, rawInfer, TestClient } from './grpc/grpc-client';

const REPO = resolve(__dirname, '../..');
const CLI = resolve(REPO, 'lib/cli.js');

describe('setServeHeapGrowth', () => {
  it('leaves the factor alone when node was started with --heap-growing-percent', () => {
    expect(setServeHeapGrowth(['--heap-growing-percent=50'], {})).toMatch(/as node was started/);
    expect(setServeHeapGrowth(['--heap_growing_percent', '50'], {})).toMatch(/as node was started/);
  });

  it(`${HEAP_GROWING_ENV}=0 keeps V8's own factor; a percentage sets it`, () => {
    expect(setServeHeapGrowth([], { [HEAP_GROWING_ENV]: '0' })).toMatch(/V8's own heap growing factor/);
    expect(setServeHeapGrowth([], { [HEAP_GROWING_ENV]: '150' })).toMatch(/heap growing factor 2\.5 /);
    expect(setServeHeapGrowth([], {})).toMatch(new RegExp(`heap growing factor ${1 + SERVE_HEAP_GROWING_PERCENT / 100} `));
  });

  it('a malformed value is an InvalidArgumentError naming the variable, not a guess', () => {
    for (const bad of ['-1', '2.5', 'lots', '1000000']) {
      expect(() => setServeHeapGrowth([], { [HEAP_GROWING_ENV]: bad })).toThrow(InvalidArgumentError);
      expect(() => setServeHeapGrowth([], { [HEAP_GROWING_ENV]: bad })).toThrow(new RegExp(`${HEAP_GROWING_ENV} expects a whole percentage`));
    }
  });
});

function processSkipReason(): string | undefined {
  if (!existsSync(CLI)) return 'lib/ is not compiled (npm run build:ts)';
  const info = cpuBackendInfo();
  if (!info.available) return `no CPU module: ${info.reason?.split('\n')[0]}`;
  return undefined;
}

const SIZE = 160;
const BATCH = 8;
const CALLS = 40;

/** Mark-compacts V8 reported while a `serve` child answered CALLS gRPC ModelInfer calls of BATCH images (two at a time). */
async function markCompactsUnderLoad(extraEnv: Readonly<Record<string, string>>): Promise<{ markCompacts: number; startLine: string }> {
  const args = ['--trace-gc', CLI, 'serve', '--model', 'inception_resnet_v1', '--weights', 'synthetic', '--input-size', String(SIZE), '--max-batch', String(BATCH), '--port', '0', '--grpc-port', '0'];
  const child = spawn(process.execPath, args, { cwd: REPO, env: productEnv(extraEnv), stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<number | null>((resolveExit) => child.once('exit', resolveExit));
  let client: TestClient | undefined;
  try {
    let port: number | undefined;
    for (let i = 0; i < 2400 && port === undefined && child.exitCode === null; i++) {
      await new Promise((r) => setTimeout(r, 25));
      const match = /GRPCInferenceService on 127\.0\.0\.1:([0-9]+)/.exec(stderr);
      if (match !== null) port = Number(match[1]);
    }
    expect(port, `the server did not start:\n${stderr}`).toBeDefined();
    client = new TestClient(port as number);
    const values = new Float32Array(BATCH * 3 * SIZE * SIZE);
    for (let i = 0; i < values.length; i++) values[i] = ((i * 7919) % 1000) / 1000 - 0.5;
    const request = rawInfer('inception_resnet_v1', values, [BATCH, 3, SIZE, SIZE]);
    const infer = async (): Promise<void> => {
      const { code, details } = await (client as TestClient).call('ModelInfer', request);
      expect(code, details).toBe(grpc.status.OK);
    };
    await infer(); // the first call's allocations are not the steady state's
    const before = stdout.length;
    let sent = 0;
    const loop = async (): Promise<void> => {
      while (sent < CALLS) {
        sent++;
        await infer();
      }
    };
    await Promise.all([loop(), loop()]);
    const during = stdout.slice(before);
    return { markCompacts: during.split('\n').filter((line) => line.includes('Mark-Compact')).length, startLine: /^gc: .*$/m.exec(stderr)?.[0] ?? '' };
  } finally {
    client?.close();
    child.kill('SIGTERM');
    await exited;
  }
}

const reason = processSkipReason();

describe('serve under requests of megabytes', () => {
  it.skipIf(reason !== undefined)(
    `runs far fewer full collections than with V8's own growing factor${reason === undefined ? '' : ` (skipped: ${reason})`}`,
    async () => {
      const v8Own = await markCompactsUnderLoad({ [HEAP_GROWING_ENV]: '0' });
      const shipped = await markCompactsUnderLoad({});
      console.log(`mark-compacts during ${CALLS} gRPC calls of 2.4 MB: ${v8Own.markCompacts} with V8's own factor, ${shipped.markCompacts} as shipped ('${shipped.startLine}')`);
      expect(v8Own.startLine).toMatch(/V8's own heap growing factor/);
      expect(shipped.startLine).toMatch(/heap growing factor 5 /);
      expect(v8Own.markCompacts).toBeGreaterThanOrEqual(4);
      expect(shipped.markCompacts).toBeLessThanOrEqual(v8Own.markCompacts / 2);
    },
    120_000,
  );
});
