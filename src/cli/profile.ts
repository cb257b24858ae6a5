/**
 * `profile` (also `bench --profile`): per-layer CPU times, MACs, GFLOP/s, implementations and the
 * measured peak; with --device cuda[:N], per-layer GPU times (cudaEvents), MACs, TFLOP/s, the conv
 * path and cuDNN algorithm, totals per kind (--precision, --streams).
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { defaultCpuThreads } from '../system/cpu-threads';
import path from 'node:path';
import { formatCudaProfile, profileCuda } from '../bench/cuda-profile';
import { formatProfile, profileCpu } from '../bench/profile';
import { COMMON_OPTIONS, parseDeviceFlag, type Parsed, optionalInputSize, optionalInteger, parse, parseConvolution, printedHelp, requireModel } from './args';
import { checkDevice } from './bench-options';
import { EXIT_OK, UsageError, type CliIo } from './io';
import type { ModelName } from '../models/types';
import { MAX_STREAMS } from '../plan/schedule';
import type { Precision } from '../runtime/backend';
import { parseDevice } from '../runtime/options';

export async function profileCommand(argv: readonly string[], io: CliIo, command = 'profile'): Promise<number> {
  const parsed = parse(
    command,
    argv,
    {
      device: { type: 'string', short: 'd' },
      model: { type: 'string', short: 'm' },
      batch: { type: 'string', short: 'b' },
      threads: { type: 'string' },
      repeats: { type: 'string', short: 'n' },
      'input-size': { type: 'string' },
      top: { type: 'string' },
      json: { type: 'string' },
      precision: { type: 'string' },
      streams: { type: 'string' },
      convolution: { type: 'string' },
      hot: { type: 'boolean' },
      ...COMMON_OPTIONS,
    },
    false,
  );
  if (printedHelp(parsed, 'profile', io)) return EXIT_OK;
  const deviceText = parsed.values.device;
  if (typeof deviceText === 'string' && deviceText.startsWith('cuda')) return profileCudaCommand(parsed, io, command, deviceText);
  if (parsed.values.streams !== undefined) throw new UsageError('--streams applies to --device cuda only', command);
  const cpuPrecision = parsed.values.precision ?? 'fp32';
  if (cpuPrecision !== 'fp32' && cpuPrecision !== 'bf16') {
    throw new UsageError(`--precision ${String(cpuPrecision)}: the CPU profile runs fp32 (default) or bf16 (tf32 and fp16 are cuda precisions)`, command);
  }
  const hot = parsed.values.hot === true;
  checkDevice(parsed, command);
  const modelDefinition = requireModel(parsed, command);
  const model = modelDefinition.name;
  const batch = optionalInteger(parsed, 'batch', command) ?? 1;
  const threads = optionalInteger(parsed, 'threads', command) ?? defaultCpuThreads().threads;
  const repeats = optionalInteger(parsed, 'repeats', command) ?? 5;
  const inputSize = optionalInputSize(parsed, modelDefinition, command);
  const top = optionalInteger(parsed, 'top', command) ?? 25;
  const convolution = parseConvolution(typeof parsed.values.convolution === 'string' ? parsed.values.convolution : undefined, command);
  io.stderr(`profiling ${model} batch ${batch} (${repeats} timed runs after a warm-up), then the fp32 peak...\n`);
  const progress = (line: string): void => io.stderr(`  ${line}...\n`);
  const report = await profileCpu({ model, batch, threads, repeats, convolution, hot, progress, precision: cpuPrecision, ...(inputSize === undefined ? {} : { inputSize }) });
  io.stdout(formatProfile(report, top));
  await writeJson(parsed.values.json, report, io);
  return EXIT_OK;
}

async function writeJson(json: unknown, report: unknown, io: CliIo): Promise<void> {
  if (typeof json !== 'string') return;
  await mkdir(path.dirname(path.resolve(json)), { recursive: true });
  await writeFile(json, `${JSON.stringify(report, null, 2)}\n`);
  io.stderr(`wrote ${json}\n`);
}

const PRECISIONS: readonly Precision[] = ['fp32', 'tf32', 'fp16'];

/** profile --device cuda[:N]: the per-layer GPU profile (BackendUnavailableError without a usable GPU and cuDNN). */
async function profileCudaCommand(parsed: Parsed, io: CliIo, command: string, deviceText: string): Promise<number> {
  const deviceIndex = parseDevice(parseDeviceFlag(deviceText, command)).index;
  if (parsed.values.threads !== undefined) throw new UsageError('--threads applies to --device cpu only', command);
  if (parsed.values.convolution !== undefined) throw new UsageError('--convolution applies to --device cpu only (cuDNN chooses its own algorithms)', command);
  const modelDefinition = requireModel(parsed, command);
  const model: ModelName = modelDefinition.name;
  const batch = optionalInteger(parsed, 'batch', command) ?? 1;
  const repeats = optionalInteger(parsed, 'repeats', command) ?? 20;
  const inputSize = optionalInputSize(parsed, modelDefinition, command);
  const top = optionalInteger(parsed, 'top', command) ?? 25;
  const precisionText = parsed.values.precision ?? 'fp32';
  if (typeof precisionText !== 'string' || !(PRECISIONS as readonly string[]).includes(precisionText)) {
    throw new UsageError(`--precision ${String(precisionText)}: use fp32, tf32 or fp16`, command);
  }
  const precision = precisionText as Precision;
  const streamsValue = optionalInteger(parsed, 'streams', command, MAX_STREAMS) ?? 1;
  io.stderr(`profiling ${model} batch ${batch} ${precision} on cuda:${deviceIndex} (${repeats} timed runs after a warm-up)...\n`);
  const report = await profileCuda({ model, batch, repeats, precision, streams: streamsValue, deviceIndex, ...(inputSize === undefined ? {} : { inputSize }) });
  io.stdout(formatCudaProfile(report, top));
  await writeJson(parsed.values.json, report, io);
  return EXIT_OK;
}
