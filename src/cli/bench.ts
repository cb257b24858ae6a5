/**
 * `bench --device cpu`: ours vs onnxruntime-node, interleaved, written to --out DIR (default the
 * current directory; the repository's results: --out bench/results) as JSON, Markdown and an SVG chart. `bench --profile` is the per-layer profile (see profile.ts).
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { defaultCpuThreads } from '../system/cpu-threads';
import path from 'node:path';
import { benchmarkSvg } from '../bench/chart';
import { runCpuBenchmark } from '../bench/cpu-bench';
import { markdownReport, resultBaseName } from '../bench/report';
import { MODEL_NAMES } from '../models/registry';
import { COMMON_OPTIONS, optionalInteger, parse, parseConvolution, printedHelp } from './args';
import { checkDevice, parseBatches, parseModels, stringOption as str } from './bench-options';
import { EXIT_OK, UsageError, type CliIo } from './io';
import { profileCommand } from './profile';

export const BENCH_DEFAULTS = { batches: [1, 8], iterations: 10, warmup: 2, out: '.' } as const;

/** Transient statuses overwrite each other on a terminal ('\r', padded) and are dropped in a log. */
export function progressPrinter(io: CliIo, terminal: boolean): (text: string, transient: boolean) => void {
  let shown = 0;
  return (text, transient) => {
    if (!terminal) {
      if (!transient) io.stderr(text);
      return;
    }
    const clear = shown > 0 ? `\r${' '.repeat(shown)}\r` : '';
    shown = transient ? text.length : 0;
    io.stderr(`${clear}${text}`);
  };
}

export async function benchCommand(argv: readonly string[], io: CliIo): Promise<number> {
  if (argv.includes('--profile')) return profileCommand(argv.filter((a) => a !== '--profile'), io, 'bench --profile');
  const parsed = parse(
    'bench',
    argv,
    {
      device: { type: 'string', short: 'd' },
      models: { type: 'string' },
      batches: { type: 'string', short: 'b' },
      iterations: { type: 'string', short: 'n' },
      warmup: { type: 'string' },
      threads: { type: 'string' },
      convolution: { type: 'string' },
      precision: { type: 'string' },
      'input-size': { type: 'string' },
      'settle-ms': { type: 'string' },
      'runs-per-turn': { type: 'string' },
      'folded-only': { type: 'boolean' },
      out: { type: 'string' },
      ...COMMON_OPTIONS,
    },
    false,
  );
  if (printedHelp(parsed, 'bench', io)) return EXIT_OK;
  checkDevice(parsed, 'bench');
  const models = parseModels(str(parsed, 'models') ?? MODEL_NAMES.join(','), 'bench');
  const batches = parseBatches(str(parsed, 'batches') ?? BENCH_DEFAULTS.batches.join(','), 'bench');
  const iterations = optionalInteger(parsed, 'iterations', 'bench') ?? BENCH_DEFAULTS.iterations;
  const warmupText = str(parsed, 'warmup');
  if (warmupText !== undefined && !/^[0-9]+$/.test(warmupText)) throw new UsageError(`--warmup expects a non-negative integer, got '${warmupText}'`, 'bench');
  const warmup = warmupText === undefined ? BENCH_DEFAULTS.warmup : Number(warmupText);
  const threads = optionalInteger(parsed, 'threads', 'bench') ?? defaultCpuThreads().threads;
  const inputSize = optionalInteger(parsed, 'input-size', 'bench');
  const out = str(parsed, 'out') ?? BENCH_DEFAULTS.out;
  const runsPerTurn = optionalInteger(parsed, 'runs-per-turn', 'bench');
  const settleText = str(parsed, 'settle-ms');
  if (settleText !== undefined && !/^[0-9]+$/.test(settleText)) throw new UsageError(`--settle-ms expects a non-negative integer, got '${settleText}'`, 'bench');

  const precision = str(parsed, 'precision') ?? 'fp32';
  if (precision !== 'fp32' && precision !== 'bf16') {
    throw new UsageError(`--precision ${precision}: the CPU benchmark runs fp32 (default) or bf16 (ours in bf16 next to ours and onnxruntime in fp32)`, 'bench');
  }
  const result = await runCpuBenchmark({
    precision,
    models,
    batches,
    iterations,
    warmup,
    threads,
    convolution: parseConvolution(str(parsed, 'convolution'), 'bench'),
    unfolded: parsed.values['folded-only'] !== true,
    ...(settleText === undefined ? {} : { settleMs: Number(settleText) }),
    ...(runsPerTurn === undefined ? {} : { runsPerTurn }),
    ...(inputSize === undefined ? {} : { inputSize }),
    progress: progressPrinter(io, process.stderr.isTTY === true),
  });
  await mkdir(out, { recursive: true });
  const base = path.join(out, resultBaseName(new Date(result.machine.date)));
  await writeFile(`${base}.json`, `${JSON.stringify(result, null, 2)}\n`);
  await writeFile(`${base}.md`, markdownReport(result));
  await writeFile(`${base}.svg`, benchmarkSvg(result));
  io.stdout(markdownReport(result));
  io.stderr(`wrote ${base}.json, ${base}.md and ${base}.svg\n`);
  return EXIT_OK;
}
