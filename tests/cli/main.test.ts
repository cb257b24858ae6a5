/**
 * The CLI through its exported main(argv, io) (same code as lib/cli.js, without a process),
 * plus one spawn of the compiled lib/cli.js when it has been built.
 */
import { describe, it, expect, afterAll, beforeAll } from 'vitest';
import { cli } from '../helpers/cli';
import { mkdtempSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { main } from '../../src/cli/main';
import type { CliIo } from '../../src/cli/io';
import { UsageError } from '../../src/cli/io';
import { flagTermsError } from '../../src/cli/args';
import { InvalidArgumentError, WeightsError, invalidParam } from '../../src/errors';
import { cpuBackendInfo } from '../../src/native/cpu-backend';
import { readNpySync, writeNpy } from '../../src/io/npy';
import { generateInput } from '../../src/weights/synthetic';
import { createSession, type Session } from '../../src/runtime/session';
import { imagesToTensor } from '../../src/preprocess/image';
import { getModel } from '../../src/models/registry';
import { imagenetLabels } from '../../src/models/labels';
import { topK } from '../../src/runtime/scores';
import { PIL_FIXTURES } from '../preprocess/pil-references';


const cpu = cpuBackendInfo();
const cpuSkip = cpu.available ? '' : ` [SKIPPED: CPU backend not built: ${cpu.reason?.split('\n')[0]}]`;
const dir = mkdtempSync(join(tmpdir(), 'inception-cli-'));

describe('CLI usage and errors', () => {
  it('--help and per-command help exit 0', async () => {
    const top = await cli('--help');
    expect(top.code).toBe(0);
    expect(top.stdout).toContain('usage: inception-cudnn <command> [options]');
    for (const command of ['run', 'predict', 'embed', 'info']) {
      const r = await cli(command, '--help');
      expect(r.code).toBe(0);
      expect(r.stdout).toContain(`usage: inception-cudnn ${command}`);
    }
  });

  it('usage errors exit 2 with a pointer to --help', async () => {
    const cases: [string[], string][] = [
      [[], 'commands:'],
      [['frobnicate'], "error: unknown command 'frobnicate'; the commands are: predict, embed, run, info"],
      // Names of Object.prototype members are unknown commands too (they used to return a non-number exit code).
      [['constructor'], "error: unknown command 'constructor'"],
      [['toString'], "error: unknown command 'toString'"],
      [['__proto__'], "error: unknown command '__proto__'"],
      [['run', '--weights', 'synthetic', '--input', 'x.npy', '--output', 'y.npy'], 'error: missing required option --model'],
      [['predict', '--model', 'inception_v4', '--weights', 'synthetic', '--bogus', 'a.jpg'], "error: Unknown option '--bogus'"],
      [['predict', '--model', 'inception_v4', '--weights', 'synthetic', '--max-batch', '0', 'a.jpg'], "error: --max-batch expects a positive integer, got '0'"],
      [['predict', '--model', 'inception_v4', '--weights', 'synthetic:foo', 'a.jpg'], "error: --weights synthetic:foo: the synthetic profiles are 'synthetic:dcfree' and 'synthetic:plain'"],
      [['predict', '--model', 'inception_v4', '--weights', 'synthetic'], 'error: no images given; pass one or more image files'],
      // Any value the command line got wrong exits 2, in the flags' own terms (not the API's field names).
      [['predict', '--model', 'inception_v5', '--weights', 'synthetic', 'a.jpg'], 'error: --model inception_v5: unknown model; use one of: inception_v4, inception_resnet_v2, inception_resnet_v1'],
      [['predict', '--model', 'inception_v4', '--weights', 'synthetic', '--device', 'gpu', 'a.jpg'], "error: --device gpu: use cpu, cuda or cuda:N (N = the GPU's ordinal, e.g. cuda:1)"],
      [['predict', '--model', 'inception_v4', '--weights', 'synthetic', '--precision', 'fp16', 'a.jpg'], 'error: --precision fp16 needs --device cuda; the CPU backend runs fp32 or bf16'],
      [['predict', '--model', 'inception_v4', '--weights', 'synthetic', '--device', 'cuda', '--precision', 'bf16', 'a.jpg'], 'error: --precision bf16 is for --device cpu (CPUs with AVX512-BF16 or AMX); on cuda use fp16, tf32 or fp32'],
      [['predict', '--model', 'inception_v4', '--weights', 'synthetic', '--precision', 'fp8', 'a.jpg'], 'error: --precision fp8: use fp32, bf16 (CPU), tf32 or fp16 (cuda)'],
      [['predict', '--model', 'inception_v4', '--weights', 'synthetic', '--convolution', 'fast', 'a.jpg'], "error: --convolution expects 'auto' or 'direct', got 'fast'"],
      [['predict', '--model', 'inception_v4', '--weights', 'synthetic', '--top-k', '2000', 'a.jpg'], "error: --top-k expects an integer from 1 to 1000, got '2000'"],
      [['predict', '--model', 'inception_v4', '--weights', 'synthetic', '--top-k', '0', 'a.jpg'], "error: --top-k expects a positive integer, got '0'"],
      [['predict', '--model', 'inception_v4', '--weights', 'synthetic', '--max-batch', '5000', 'a.jpg'], "error: --max-batch expects an integer from 1 to 4096, got '5000'"],
      [['predict', '--model', 'inception_v4', '--weights', 'synthetic', '--streams', '2', 'a.jpg'], 'error: --streams applies to --device cuda only (the CPU backend runs the steps in order)'],
      [['predict', '--model', 'inception_v4', '--weights', 'synthetic', '--device', 'cuda', '--threads', '2', 'a.jpg'], 'error: --threads applies to --device cpu only'],
      [['predict', '--model', 'inception_v4', '--weights', 'inception_v4.nope', 'a.jpg'], "error: --weights: 'inception_v4.nope' is neither a known tag nor an existing file"],
      [['predict', '--model', 'inception_v4', '--weights', 'inception_resnet_v1.vggface2', 'a.jpg'], "error: --weights: 'inception_resnet_v1.vggface2' is a checkpoint of inception_resnet_v1, not inception_v4"],
      [['predict', '--model', 'inception_resnet_v1', '--weights', 'synthetic', 'a.jpg'], "error: inception_resnet_v1 outputs face embeddings, not classes; use 'inception-cudnn embed'"],
      [['embed', '--model', 'inception_v4', '--weights', 'synthetic', 'a.jpg'], "error: inception_v4 outputs ImageNet classes, not embeddings; use 'inception-cudnn predict'"],
      [['run', '--model', 'inception_v4', '--weights', 'synthetic', '--device', 'cuda:x', '--input', 'x.npy', '--output', 'y.npy'], 'error: --device cuda:x: use cpu, cuda or cuda:N'],
      [['plan', '--model', 'inception_v5'], 'error: --model inception_v5: unknown model'],
      [['export-onnx', '--model', 'inception_v4', '--weights', 'synthetic', '--output', 'x.onnx', '--opset', '9'], 'error: --opset 9: use 13 to 17 (default 17)'],
    ];
    for (const [argv, message] of cases) {
      const r = await cli(...argv);
      expect(r.code, argv.join(' ')).toBe(2);
      expect(r.stderr).toContain(message);
      expect(r.stdout).toBe('');
    }
  });

  it('failures at run time exit 1 with "error: <message>", stacks only with --verbose', async () => {
    const missing = join(dir, 'missing.safetensors');
    const r = await cli('predict', '--model', 'inception_v4', '--weights', missing, 'a.jpg');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`^setting up inception_v4 on cpu for batches up to 1 \\(weights, plan, kernels\\)\\.\\.\\.\\nerror: .*${missing.replace(/[.]/g, '\\.')}`));
    const v = await cli('predict', '--verbose', '--model', 'inception_v4', '--weights', missing, 'a.jpg');
    expect(v.code).toBe(1);
    expect(v.stderr).toMatch(/\[E_[A-Z_]+\]/);
    expect(v.stderr).toMatch(/Error: .*\n\s+at /);
  });

  it('flagTermsError tells an API option error in flag terms (exit 2); other errors pass through', () => {
    const usage = flagTermsError(invalidParam('preferredBatchSizes', 'an array of integers in [1, 2] (maxBatch)', [4]), 'serve');
    expect(usage).toBeInstanceOf(UsageError);
    expect((usage as Error).message).toBe('--preferred-batch-sizes expects an array of integers in [1, 2] (--max-batch), got an array of length 1');
    expect((flagTermsError(new InvalidArgumentError('maxQueueSize must be at least maxBatch'), 'serve') as Error).message).toBe('--max-queue-size must be at least --max-batch');
    const runtime = new WeightsError('x');
    expect(flagTermsError(runtime, 'serve')).toBe(runtime);
  });

  it('info never fails and lists both backends', async () => {
    const r = await cli('info');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^inception-cudnn \d+\.\d+\.\d+/);
    expect(r.stdout).toMatch(/\n {2}cpu: (available|unavailable)/);
    expect(r.stdout).toMatch(/\n {2}cuda: (available|unavailable)/);
    const json = JSON.parse((await cli('info', '--json')).stdout) as { backends: { name: string }[]; models: unknown[] };
    expect(json.backends.map((b) => b.name)).toEqual(['cpu', 'cuda']);
    expect(json.models.length).toBe(3);
  });
});

describe.skipIf(!cpu.available)(`CLI commands on the CPU backend${cpuSkip}`, () => {
  // Images with structure (tests/fixtures/preprocess), so that preprocessing mistakes change the outputs.
  const images = (['landscape', 'portrait', 'small'] as const).map((shape) => join(PIL_FIXTURES, `image_${shape}.png`));
  beforeAll(() => {
    writeFileSync(join(dir, 'broken.jpg'), Buffer.from('not a jpeg'));
  });

  /** session.run on the preprocessed images, in batches of `batch` like the CLI; one row per image. */
  // Reference sessions shared by the tests of this block (creating an inception_v4 session costs seconds).
  const referenceSessions = new Map<string, Promise<Session>>();
  afterAll(async () => {
    for (const session of referenceSessions.values()) await (await session).dispose();
  });

  async function referenceRows(model: 'inception_v4' | 'inception_resnet_v1', weights: 'synthetic' | { synthetic: 'plain' }, files: readonly string[], batch: number): Promise<Float32Array[]> {
    const key = `${model} ${JSON.stringify(weights)} ${batch}`;
    if (!referenceSessions.has(key)) referenceSessions.set(key, createSession({ model, weights, maxBatch: batch }));
    const session = await referenceSessions.get(key)!;
    const [, , height, width] = session.info.inputShape;
    const k = session.info.outputShape[1];
    const rows: Float32Array[] = [];
    for (let start = 0; start < files.length; start += batch) {
      const group = files.slice(start, start + batch).map((f) => readFileSync(f));
      const tensor = await imagesToTensor(group, { height, width, preprocessing: getModel(model).preprocessing });
      const out = await session.run(tensor, [group.length, 3, height, width]);
      for (let i = 0; i < group.length; i++) rows.push(out.slice(i * k, (i + 1) * k));
    }
    return rows;
  }

  // One predict run covers both the good path and failed files: each inception_v4 session costs
  // seconds on two cores. The exit-0 path is run's and embed's below.
  it('predict: a JSON line per file (the top-k of session.run for a good one, an error line for a bad or missing one), a synthetic-weights notice, exit 1 at the end', async () => {
    const broken = join(dir, 'broken.jpg');
    const missing = join(dir, 'nope.jpg');
    const files = [images[0], images[1], broken, missing, images[2]];
    const r = await cli('predict', '--model', 'inception_v4', '--weights', 'synthetic', '--max-batch', '2', '--top-k', '3', ...files);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^setting up inception_v4 on cpu for batches up to 2 \(weights, plan, kernels\)\.\.\.\nnotice: synthetic fixture weights \(profile 'dcfree'\): outputs are meaningless; pass --weights pretrained \(or a tag, URL or checkpoint\) for real ones\n/);
    const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { file: string; top?: { index: number; label: string; probability: number }[]; error?: string });
    expect(lines.map((l) => l.file)).toEqual(files);
    expect(lines[2].error).toMatch(new RegExp(`^cannot decode ${broken.replace(/[.]/g, '\\.')}: it is not a JPEG, PNG or WebP file`));
    expect(lines[3].error).toMatch(new RegExp(`^cannot read image file ${missing.replace(/[.]/g, '\\.')}: ENOENT`));
    // The three good files ran as batches of 2 then 1 (the two bad files make a chunk of their own,
    // whether the CLI chunks the files before or after reading them): the same weights, inputs, batch sizes and
    // primitives as session.run here, so the same logits bit for bit, and JSON round-trips the
    // float64 probabilities exactly.
    const labels = imagenetLabels();
    const rows = await referenceRows('inception_v4', 'synthetic', images, 2);
    expect(lines[0].top).toEqual(topK(rows[0], 3, (index) => labels[index]));
    expect(lines[1].top).toEqual(topK(rows[1], 3, (index) => labels[index]));
    expect(lines[4].top).toEqual(topK(rows[2], 3, (index) => labels[index]));
    expect(r.stderr).toContain(`error: 2 of 5 image file(s) failed (${broken}, ${missing})`);
  });

  it('embed --output: a failed file gets a NaN row (rows stay aligned with the files), exit 1', async () => {
    const output = join(dir, 'e-partial.npy');
    const broken = join(dir, 'broken.jpg');
    const r = await cli('embed', '--model', 'inception_resnet_v1', '--weights', 'synthetic:plain', '--output', output, broken, images[0]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`error: cannot decode ${broken}: `);
    expect(r.stderr).toContain(`wrote ${output}: float32 [2,512]; the rows of the 1 failed file(s) are NaN`);
    const written = readNpySync(output);
    expect(Array.from(written.data.subarray(0, 512)).every(Number.isNaN)).toBe(true);
    const rows = await referenceRows('inception_resnet_v1', { synthetic: 'plain' }, [images[0]], 1);
    expect(Array.from(written.data.subarray(512))).toEqual(Array.from(rows[0]));
  });

  it('run splits a batch larger than --max-batch and writes [N,K]', async () => {
    const input = join(dir, 'x.npy');
    const output = join(dir, 'y.npy');
    const x = generateInput(3, 160, 160);
    await writeNpy(input, x, [3, 3, 160, 160]);
    const r = await cli('run', '--model', 'inception_resnet_v1', '--weights', 'synthetic', '--input', input, '--output', output, '--max-batch', '2');
    expect(r.code).toBe(0);
    expect(r.stderr).toContain(`wrote ${output}: float32 [3,512]`);
    const y = readNpySync(output);
    expect(y.shape).toEqual([3, 512]);
    // The last chunk is a batch of 1: the same primitives as a batch-1 API run, so bitwise equal.
    const session = await createSession({ model: 'inception_resnet_v1', weights: 'synthetic', maxBatch: 2 });
    const last = await session.run(x.subarray(2 * 3 * 160 * 160), [1, 3, 160, 160]);
    await session.dispose();
    expect(Array.from(y.data.subarray(1024))).toEqual(Array.from(last));
  });

  it('run rejects an input that is not [N,3,H,W]', async () => {
    const input = join(dir, 'bad.npy');
    await writeNpy(input, new Float32Array(3 * 8 * 8), [3, 8, 8]);
    const r = await cli('run', '--model', 'inception_resnet_v1', '--weights', 'synthetic', '--input', input, '--output', join(dir, 'o.npy'));
    expect(r).toEqual({ code: 1, stdout: '', stderr: `error: ${input} has shape [3,8,8]; run expects a preprocessed batch [N,3,H,W] with N >= 1\n` });
  });

  it('embed writes [N,512] with --output', async () => {
    const output = join(dir, 'e.npy');
    const r = await cli('embed', '--model', 'inception_resnet_v1', '--weights', 'synthetic:plain', '--output', output, ...images.slice(0, 2));
    expect(r.code).toBe(0);
    const written = readNpySync(output);
    expect(written.shape).toEqual([2, 512]);
    // One batch of 2 in both: bitwise the rows of session.run on the preprocessed images.
    const rows = await referenceRows('inception_resnet_v1', { synthetic: 'plain' }, images.slice(0, 2), 2);
    expect(Array.from(written.data)).toEqual([...rows[0], ...rows[1]]);
  });
});

const compiled = resolve(__dirname, '../../lib/cli.js');
describe.skipIf(!existsSync(compiled))(`compiled lib/cli.js${existsSync(compiled) ? '' : ' [SKIPPED: lib/ not built; run npm run build]'}`, () => {
  it('runs as a process: --help exits 0, a usage error exits 2, info exits 0', () => {
    const help = spawnSync(process.execPath, [compiled, '--help'], { encoding: 'utf8' });
    expect(help.status).toBe(0);
    expect(help.stdout).toContain('usage: inception-cudnn');
    const usage = spawnSync(process.execPath, [compiled, 'predict'], { encoding: 'utf8' });
    expect(usage.status).toBe(2);
    expect(usage.stderr).toContain('error: missing required option --model');
    const info = spawnSync(process.execPath, [compiled, 'info'], { encoding: 'utf8' });
    expect(info.status).toBe(0);
    expect(info.stdout).toContain('backends:');
    const model = spawnSync(process.execPath, [compiled, 'predict', '--model', 'inception_v5', '--weights', 'synthetic', 'a.jpg'], { encoding: 'utf8' });
    expect(model.status).toBe(2);
  });

  it('export-onnx without the optional onnx-proto: exit 1 and the install command', () => {
    // A preload makes require('onnx-proto') fail as it does where the optional peer is not installed.
    const hide = join(dir, 'hide-onnx-proto.cjs');
    writeFileSync(
      hide,
      "const M = require('node:module'); const resolve = M._resolveFilename; M._resolveFilename = function (request, ...rest) { if (request === 'onnx-proto') { const e = new Error(\"Cannot find module 'onnx-proto'\"); e.code = 'MODULE_NOT_FOUND'; throw e; } return resolve.call(this, request, ...rest); };\n",
    );
    const r = spawnSync(process.execPath, ['--require', hide, compiled, 'export-onnx', '--model', 'inception_resnet_v1', '--weights', 'synthetic', '--output', join(dir, 'never.onnx')], { encoding: 'utf8' });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('error: ONNX export needs the optional package onnx-proto: npm install onnx-proto\n');
    expect(existsSync(join(dir, 'never.onnx'))).toBe(false);
  });

  it.skipIf(!cpu.available)(`--deterministic: two processes give bitwise-equal outputs${cpuSkip}`, async () => {
    // inception_resnet_v1 at batch 1: the case where the timed Winograd choice (benchmark: true)
    // can differ between processes; deterministic chooses without timing. Tolerance: none (bytes).
    const input = join(dir, 'det-x.npy');
    await writeNpy(input, generateInput(1, 160, 160), [1, 3, 160, 160]);
    const runOnce = (output: string): Promise<number | null> =>
      new Promise((done, fail) => {
        const child = spawn(process.execPath, [compiled, 'run', '--model', 'inception_resnet_v1', '--weights', 'synthetic:plain', '--deterministic', '--max-batch', '1', '--input', input, '--output', output], { stdio: 'ignore' });
        child.on('error', fail);
        child.on('exit', (code) => done(code));
      });
    const outputs = [join(dir, 'det-y1.npy'), join(dir, 'det-y2.npy')];
    expect(await Promise.all(outputs.map(runOnce))).toEqual([0, 0]);
    const [a, b] = outputs.map((f) => readFileSync(f));
    expect(a.length).toBe(128 + 512 * 4);
    expect(a.equals(b)).toBe(true);
  });
});
