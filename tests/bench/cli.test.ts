/**
 * The bench / profile / export-onnx commands: their usage errors (exit 2, a message naming the
 * fix), and one small real run of each on the CPU backend (tiny input, one iteration) proving
 * they produce their files and reports.
 */
import { describe, expect, it } from 'vitest';
import { cli } from '../helpers/cli';
import { mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { BENCH_DEFAULTS } from '../../src/cli/bench';
import { resultsDir } from '../../bench/serve/results-dir';
import { onnx } from 'onnx-proto';
import sharp from 'sharp';
import type { CliIo } from '../../src/cli/io';
import { cpuBackendInfo } from '../../src/native/cpu-backend';
import type { CpuBenchResult } from '../../src/bench/cpu-bench';


let ortLoads = true;
try {
  require('onnxruntime-node');
} catch {
  ortLoads = false;
}
const cpu = cpuBackendInfo();
const skip = !cpu.available ? `CPU backend unavailable: ${cpu.reason}` : !ortLoads ? 'onnxruntime-node does not load' : '';
const dir = mkdtempSync(join(tmpdir(), 'inception-bench-'));

describe('where benchmarks write', () => {
  it('bench defaults to the current directory and bench:serve to a new temporary one; --out names another (never the package unless asked)', () => {
    expect(BENCH_DEFAULTS.out).toBe('.');
    const root = resolve(__dirname, '../..');
    const first = resultsDir(['node', 'serve.js'], 'bench-serve');
    const second = resultsDir(['node', 'serve.js', '--quick'], 'bench-serve');
    expect(first.startsWith(tmpdir())).toBe(true);
    expect(first).not.toBe(second);
    expect(first.startsWith(root)).toBe(false);
    const base = mkdtempSync(join(tmpdir(), 'bench-out-'));
    const saved = process.env.INIT_CWD;
    process.env.INIT_CWD = base;
    try {
      expect(resultsDir(['node', 'serve.js', '--out', 'results'], 'bench-serve')).toBe(join(base, 'results'));
    } finally {
      if (saved === undefined) delete process.env.INIT_CWD;
      else process.env.INIT_CWD = saved;
    }
    expect(() => resultsDir(['node', 'serve.js', '--out'], 'bench-serve')).toThrow('--out needs a directory');
  });
});

describe('bench, profile and export-onnx command lines', () => {
  it('help for each command exits 0', async () => {
    for (const command of ['bench', 'profile', 'export-onnx']) {
      const r = await cli(command, '--help');
      expect(r.code).toBe(0);
      expect(r.stdout).toContain(`usage: inception-cudnn ${command}`);
    }
    expect((await cli('--help')).stdout).toMatch(/export-onnx[\s\S]*bench[\s\S]*profile/);
  });

  it('usage errors exit 2 and name the fix', async () => {
    const cases: [string[], string][] = [
      [['bench', '--device', 'cuda'], "--device cuda: this benchmark is for the CPU (oneDNN vs onnxruntime-node); the GPU benchmark is 'npm run device-check'"],
      [['bench', '--models', 'inception_v5'], "--models: unknown model 'inception_v5'; use one or more of inception_v4, inception_resnet_v2, inception_resnet_v1"],
      [['bench', '--models', 'inception_v4,'], "--models expects a comma-separated list, got 'inception_v4,'"],
      [['bench', '--batches', '1,0'], "--batches expects integers from 1 to 1024 separated by commas, got '1,0'"],
      [['bench', '--iterations', 'many'], "--iterations expects a positive integer, got 'many'"],
      [['bench', '--warmup', 'x'], "--warmup expects a non-negative integer, got 'x'"],
      [['bench', '--threads', '0'], "--threads expects a positive integer, got '0'"],
      [['bench', '--bogus'], "Unknown option '--bogus'"],
      [['bench', '--settle-ms', 'soon'], "--settle-ms expects a non-negative integer, got 'soon'"],
      [['bench', '--runs-per-turn', '0'], "--runs-per-turn expects a positive integer, got '0'"],
      [['bench', '--convolution', 'winograd'], "--convolution expects 'auto' or 'direct', got 'winograd'"],
      [['bench', '--profile'], 'missing required option --model'],
      [['profile', '--model', 'inception_v4', '--convolution', 'fft'], "--convolution expects 'auto' or 'direct', got 'fft'"],
      [['profile', '--model', 'inception_v4', '--batch', 'x'], "--batch expects a positive integer, got 'x'"],
      [['profile', '--model', 'inception_v4', '--device', 'tpu'], '--device tpu: this benchmark is for the CPU'],
      [['export-onnx', '--weights', 'synthetic', '--output', 'x.onnx'], 'missing required option --model'],
      [['export-onnx', '--model', 'inception_v4', '--output', 'x.onnx'], 'missing required option --weights'],
      [['export-onnx', '--model', 'inception_v4', '--weights', 'synthetic'], 'missing required option --output'],
      [['export-onnx', '--model', 'inception_v4', '--weights', 'synthetic:foo', '--output', 'x.onnx'], "the synthetic profiles are 'synthetic:dcfree' and 'synthetic:plain'"],
      [['export-onnx', '--model', 'inception_v4', '--weights', 'synthetic', '--output', 'x.onnx', '--input-size', '0'], "--input-size expects a positive integer, got '0'"],
      // Values the command line got wrong exit 2 too, named by their flags.
      [['export-onnx', '--model', 'inception_v9', '--weights', 'synthetic', '--output', 'x.onnx'], '--model inception_v9: unknown model; use one of: inception_v4, inception_resnet_v2, inception_resnet_v1'],
      [['export-onnx', '--model', 'inception_v4', '--weights', 'synthetic', '--output', 'x.onnx', '--input-size', '40'], '--input-size 40: inception_v4 needs at least 75 (its default is 299)'],
      [['export-onnx', '--model', 'inception_resnet_v1', '--weights', 'synthetic', '--output', 'x.onnx', '--opset', '9'], '--opset 9: use 13 to 17 (default 17)'],
      [['profile', '--model', 'inception_v9'], '--model inception_v9: unknown model'],
    ];
    for (const [argv, message] of cases) {
      const r = await cli(...argv);
      expect(r.code, argv.join(' ')).toBe(2);
      expect(r.stderr, argv.join(' ')).toContain(message);
      expect(r.stderr).toContain('--help');
    }
  });

  it('errors at run time exit 1 with the typed message', async () => {
    const missing = join(dir, 'missing.safetensors');
    const r = await cli('export-onnx', '--model', 'inception_v4', '--weights', missing, '--output', join(dir, 'x.onnx'));
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(missing);
    expect(r.stderr).not.toContain('--help');
  });
});

describe.skipIf(Boolean(skip))(`bench, profile and export-onnx on the CPU${skip ? ` [SKIPPED: ${skip}]` : ''}`, () => {
  it('export-onnx writes a decodable folded model with the requested input size', async () => {
    const file = join(dir, 'irv1.onnx');
    const r = await cli('export-onnx', '--model', 'inception_resnet_v1', '--weights', 'synthetic:plain', '--output', file, '--fold', '--input-size', '96');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('folded, input [N,3,96,96]');
    const model = onnx.ModelProto.decode(readFileSync(file));
    expect((model.graph?.node ?? []).some((n) => n.opType === 'BatchNormalization' && (n.name ?? '').startsWith('repeat'))).toBe(false);
    expect(model.graph?.output?.[0]?.name).toBe('embedding');
  });

  it('bench writes JSON, Markdown and an SVG that renders, with a row per model and batch', async () => {
    const out = join(dir, 'results');
    const r = await cli('bench', '--device', 'cpu', '--models', 'inception_resnet_v1', '--batches', '1,2', '--iterations', '2', '--warmup', '0', '--input-size', '80', '--folded-only', '--settle-ms', '5', '--out', out);
    expect(r.code, r.stderr).toBe(0);
    const files = readdirSync(out).sort();
    expect(files.map((f) => f.replace(/cpu-\d{4}-\d\d-\d\d-\d{4}/, 'cpu-DATE'))).toEqual(['cpu-DATE.json', 'cpu-DATE.md', 'cpu-DATE.svg']);
    const result = JSON.parse(readFileSync(join(out, files[0]!), 'utf8')) as CpuBenchResult;
    expect(result.rows.map((row) => [row.model, row.batch, row.engines.map((e) => e.engine)])).toEqual([
      ['inception_resnet_v1', 1, ['ours', 'ort-folded']],
      ['inception_resnet_v1', 2, ['ours', 'ort-folded']],
    ]);
    for (const row of result.rows) {
      for (const e of row.engines) {
        expect(e.iterations).toBe(2);
        expect(e.p50Ms).toBeGreaterThan(0);
        expect(e.p90Ms).toBeGreaterThanOrEqual(e.p50Ms);
      }
      expect(row.oursOverOrt).toBeCloseTo(row.engines[0]!.imagesPerSecond / row.engines[1]!.imagesPerSecond, 10);
      expect(row.pairedOursOverOrt).toBeGreaterThan(0);
    }
    expect(result.machine.logicalCores).toBeGreaterThan(0);
    expect(r.stdout).toContain('| inception_resnet_v1 | 80 | 2 |');
    // Progress on stderr for the long silent steps (a log gets these lines, not the terminal's transient ones).
    expect(r.stderr).toContain('inception_resnet_v1 at 80x80: compiling ours for batches up to 2\n');
    expect(r.stderr).toContain('inception_resnet_v1: exporting the folded ONNX graph and creating its onnxruntime session\n');
    expect(r.stderr).toContain('inception_resnet_v1 batch 2: 0 warm-up and 2 timed turns of ours, ort-folded\n');
    const png = await sharp(join(out, files[2]!)).png().toBuffer();
    const meta = await sharp(png).metadata();
    expect(meta.width).toBe(900);
  });

  it('bench --runs-per-turn 3 times two back-to-back runs per turn and says so', async () => {
    const out = join(dir, 'turns');
    const r = await cli('bench', '--models', 'inception_resnet_v1', '--batches', '1', '--iterations', '2', '--warmup', '0', '--input-size', '80', '--folded-only', '--settle-ms', '5', '--runs-per-turn', '3', '--out', out);
    expect(r.code, r.stderr).toBe(0);
    const result = JSON.parse(readFileSync(join(out, readdirSync(out).find((f) => f.endsWith('.json'))!), 'utf8')) as CpuBenchResult;
    expect(result.settings.runsPerTurn).toBe(3);
    // 2 turns x (3 runs - 1 untimed) per engine.
    expect(result.rows[0]!.engines.map((e) => e.iterations)).toEqual([4, 4]);
    expect(r.stdout).toContain('0 warm-up + 2 timed turns per engine, interleaved (the order reversed every other iteration); each turn: 5 ms idle, 1 untimed run, then 2 timed runs back to back');
  });

  it('profile lists every step with its implementation, the peak, and the whole-network rate', async () => {
    const json = join(dir, 'profile.json');
    const r = await cli('profile', '--model', 'inception_resnet_v1', '--batch', '2', '--repeats', '1', '--input-size', '80', '--top', '5', '--json', json);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/measured fp32 peak: \d+\.\d GFLOP\/s/);
    // Each phase says it has started, on stderr.
    expect(r.stderr).toMatch(/ {2}compiling \d+ steps\.\.\.\n {2}timing every step \(1 runs after a warm-up\)\.\.\.\n {2}timing 1 whole runs\.\.\.\n {2}measuring this machine's fp32 peak/);
    expect(r.stdout).toMatch(/whole network: .* GFLOP\/s, \d+\.\d% of peak/);
    expect(r.stdout).toMatch(/whole runs: \d+\.\d\d ms, \d+\.\d\d images\/s \(median of 1 runs back to back/);
    const report = JSON.parse(readFileSync(json, 'utf8'));
    expect(report.runMs).toBeGreaterThan(0);
    // input reorder + one entry per plan step + output reorder; every conv has MACs and a rate.
    expect(report.steps[0].op).toBe('reorder');
    expect(report.steps[report.steps.length - 1].op).toBe('reorder');
    const convs = report.steps.filter((s: { op: string }) => s.op === 'conv2d');
    expect(convs.length).toBeGreaterThan(100);
    for (const c of convs) {
      expect(c.macs).toBeGreaterThan(0);
      expect(c.ms).toBeGreaterThanOrEqual(0);
      expect(c.impl.length).toBeGreaterThan(0);
    }
    expect(report.totalMacs).toBeGreaterThan(0);
    expect(report.peakGflops).toBeGreaterThan(0);
    expect(report.hotTotalMs).toBeUndefined();
    expect(r.stdout).not.toContain('hot ms');
  });

  it('profile --hot times every plan step again right after, and the run afterwards is still right', async () => {
    const json = join(dir, 'profile-hot.json');
    const r = await cli('profile', '--model', 'inception_resnet_v1', '--batch', '1', '--repeats', '1', '--input-size', '80', '--top', '5', '--hot', '--json', json);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/each step rerun right after its timed run .*: \d+\.\d\d ms over the steps; reading from memory costs -?\d+\.\d\d ms/);
    expect(r.stdout).toMatch(/step +op +impl +ms +hot ms/);
    expect(r.stdout).toContain('steps that pay most for reading from memory (ms - hot ms):');
    const report = JSON.parse(readFileSync(json, 'utf8'));
    const steps = report.steps as { op: string; ms: number; hotMs?: number }[];
    // Plan steps have a hot time; the input and output reorders are not rerun.
    expect(steps[0]!.hotMs).toBeUndefined();
    expect(steps[steps.length - 1]!.hotMs).toBeUndefined();
    for (const s of steps.slice(1, -1)) expect(s.hotMs).toBeGreaterThanOrEqual(0);
    const expected = steps.reduce((a, s) => a + (s.hotMs ?? s.ms), 0);
    expect(report.hotTotalMs).toBeCloseTo(expected, 9);
  });
});
