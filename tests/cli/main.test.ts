/**
 * The CLI through its exported main(argv, io) (same code as lib/cli.js, without a process),
 * plus one spawn of the compiled lib/cli.js when it has been built.
 */
import { describe, it, expect, beforeAll } from 'vitest';
import { cli } from '../helpers/cli';
import { mkdtempSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { spawnSync } from 'node:child_process';
import { main } from '../../src/cli/main';
import type { CliIo } from '../../src/cli/io';
import { cpuBackendInfo } from '../../src/native/cpu-backend';
import { readNpy, writeNpy } from '../../src/io/npy';
import { generateInput } from '../../src/weights/synthetic';
import { createSession } from '../../src/runtime/session';
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
    ];
    for (const [argv, message] of cases) {
      const r = await cli(...argv);
      expect(r.code, argv.join(' ')).toBe(2);
      expect(r.stderr).toContain(message);
      expect(r.stdout).toBe('');
    }
  });

  it('other errors exit 1 with "error: <message>", stacks only with --verbose', async () => {
    const r = await cli('predict', '--model', 'resnet50', '--weights', 'synthetic', 'a.jpg');
    expect(r).toEqual({ code: 1, stdout: '', stderr: "error: Unknown model 'resnet50'; use one of: inception_v4, inception_resnet_v2, inception_resnet_v1\n" });
    const v = await cli('predict', '--verbose', '--model', 'resnet50', '--weights', 'synthetic', 'a.jpg');
    expect(v.code).toBe(1);
    expect(v.stderr).toContain('[E_UNKNOWN_MODEL]');
    expect(v.stderr).toMatch(/UnknownModelError: Unknown model 'resnet50'.*\n\s+at /);
    const precision = await cli('predict', '--model', 'inception_v4', '--weights', 'synthetic', '--precision', 'fp16', 'a.jpg');
    expect(precision.stderr).toBe("error: precision 'fp16' needs device 'cuda'; the CPU backend runs 'fp32' or 'bf16'\n");
    // The CUDA-only session flag reaches createSession, which names the device it needs.
    const streams = await cli('predict', '--model', 'inception_v4', '--weights', 'synthetic', '--streams', '2', 'a.jpg');
    expect(streams.stderr).toBe("error: streams applies to device 'cuda' only (the CPU backend runs the steps in order); remove it for 'cpu'\n");
    const convolution = await cli('predict', '--model', 'inception_v4', '--weights', 'synthetic', '--convolution', 'fft', 'a.jpg');
    expect(convolution.stderr).toBe("error: Expected 'auto' or 'direct' for convolution but received 'fft' of type string\n");
    const device = await cli('predict', '--model', 'inception_v4', '--weights', 'synthetic', '--device', 'gpu', 'a.jpg');
    expect(device.stderr).toContain("error: Unknown device 'gpu' of type string");
    const embedModel = await cli('predict', '--model', 'inception_resnet_v1', '--weights', 'synthetic', 'a.jpg');
    expect(embedModel.stderr).toBe("error: inception_resnet_v1 outputs face embeddings, not classes; use 'inception-cudnn embed'\n");
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
  async function referenceRows(model: 'inception_v4' | 'inception_resnet_v1', weights: 'synthetic' | { synthetic: 'plain' }, files: readonly string[], batch: number): Promise<Float32Array[]> {
    const session = await createSession({ model, weights, maxBatch: batch });
    try {
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
    } finally {
      await session.dispose();
    }
  }

  it('predict prints one JSON line per image, the top-k of session.run on the preprocessed tensor, and a synthetic-weights notice', async () => {
    const r = await cli('predict', '--model', 'inception_v4', '--weights', 'synthetic', '--max-batch', '2', '--top-k', '3', ...images);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/^notice: synthetic fixture weights \(profile 'dcfree'\): outputs are meaningless/);
    const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { file: string; top: { index: number; label: string; probability: number }[] });
    expect(lines.map((l) => l.file)).toEqual(images);
    // Same weights, inputs, batch sizes (2 then 1) and primitives: the same logits bit for bit, and
    // JSON round-trips the float64 probabilities exactly.
    const labels = imagenetLabels();
    const rows = await referenceRows('inception_v4', 'synthetic', images, 2);
    lines.forEach((l, i) => expect(l.top).toEqual(topK(rows[i], 3, (index) => labels[index])));
  });

  it('predict names an undecodable or missing file', async () => {
    const bad = await cli('predict', '--model', 'inception_v4', '--weights', 'synthetic', images[0], join(dir, 'broken.jpg'));
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain(`error: cannot decode ${join(dir, 'broken.jpg')}: `);
    const missing = await cli('predict', '--model', 'inception_v4', '--weights', 'synthetic', join(dir, 'nope.jpg'));
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain(`error: cannot read image file ${join(dir, 'nope.jpg')}: ENOENT`);
  });

  it('run splits a batch larger than --max-batch and writes [N,K]', async () => {
    const input = join(dir, 'x.npy');
    const output = join(dir, 'y.npy');
    const x = generateInput(3, 160, 160);
    await writeNpy(input, x, [3, 3, 160, 160]);
    const r = await cli('run', '--model', 'inception_resnet_v1', '--weights', 'synthetic', '--input', input, '--output', output, '--max-batch', '2');
    expect(r.code).toBe(0);
    expect(r.stderr).toContain(`wrote ${output}: float32 [3,512]`);
    const y = readNpy(output);
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
    const written = readNpy(output);
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
  });
});
