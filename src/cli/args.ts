/** node:util parseArgs with usage errors, plus the option parsers shared by the commands. */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { MODEL_NAMES, getModel, isModelName } from '../models/registry';
import type { ModelDefinition, ModelName } from '../models/types';
import { InceptionError, InvalidArgumentError } from '../errors';
import { parseWeightsReference } from '../weights/weights-reference';
import { MAX_BATCH_LIMIT, MAX_INPUT_SIDE, MAX_THREADS, parseSyntheticWeights, type DeviceName, type SessionOptions } from '../runtime/options';
import { CONVOLUTION_ALGORITHMS, type ConvolutionAlgorithm, type Precision } from '../runtime/backend';
import { MAX_STREAMS } from '../plan/schedule';
import { HELP } from './help';
import { UsageError, type CliIo } from './io';

export type OptionSpec = NonNullable<ParseArgsConfig['options']>;

/** Options every command accepts. */
export const COMMON_OPTIONS = {
  help: { type: 'boolean', short: 'h' },
  verbose: { type: 'boolean', short: 'v' },
} as const satisfies OptionSpec;

/** Options every session-creating command accepts. */
export const SESSION_OPTIONS = {
  model: { type: 'string', short: 'm' },
  weights: { type: 'string', short: 'w' },
  'weights-sha256': { type: 'string' },
  device: { type: 'string', short: 'd' },
  precision: { type: 'string' },
  'max-batch': { type: 'string' },
  threads: { type: 'string' },
  convolution: { type: 'string' },
  streams: { type: 'string' },
  'no-benchmark': { type: 'boolean' },
  deterministic: { type: 'boolean' },
  ...COMMON_OPTIONS,
} as const satisfies OptionSpec;

export interface Parsed {
  values: Record<string, string | boolean | undefined>;
  positionals: string[];
}

export function parse(command: string, argv: readonly string[], options: OptionSpec, allowPositionals: boolean): Parsed {
  try {
    const { values, positionals } = parseArgs({ args: [...argv], options, allowPositionals, strict: true });
    return { values: values as Parsed['values'], positionals };
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    if (typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS')) throw new UsageError((error as Error).message, command);
    throw error;
  }
}

/** With --help, prints the command's usage and returns true: the command stops there. */
export function printedHelp(parsed: Parsed, command: string, io: CliIo): boolean {
  if (parsed.values.help !== true) return false;
  io.stdout(HELP[command] ?? HELP.main!);
  return true;
}

export function requireString(parsed: Parsed, name: string, command: string): string {
  const value = parsed.values[name];
  if (typeof value !== 'string' || value.length === 0) throw new UsageError(`missing required option --${name}`, command);
  return value;
}

export function optionalInteger(parsed: Parsed, name: string, command: string, max?: number): number | undefined {
  const value = parsed.values[name];
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || !/^[0-9]+$/.test(value) || Number(value) < 1) {
    throw new UsageError(`--${name} expects a positive integer, got '${String(value)}'`, command);
  }
  if (max !== undefined && Number(value) > max) throw new UsageError(`--${name} expects an integer from 1 to ${max}, got '${value}'`, command);
  return Number(value);
}

/** --input-size S: a square side from the model's minimum to MAX_INPUT_SIDE. */
export function optionalInputSize(parsed: Parsed, model: ModelDefinition, command: string): number | undefined {
  const side = optionalInteger(parsed, 'input-size', command, MAX_INPUT_SIDE);
  if (side !== undefined && side < model.minSize) {
    throw new UsageError(`--input-size ${side}: ${model.name} needs at least ${model.minSize} (its default is ${model.preprocessing.inputSize})`, command);
  }
  return side;
}

/** --model NAME, required, as a model definition. */
export function requireModel(parsed: Parsed, command: string): ModelDefinition {
  const name = requireString(parsed, 'model', command);
  if (!isModelName(name)) throw new UsageError(`--model ${name}: unknown model; use one of: ${MODEL_NAMES.join(', ')}`, command);
  return getModel(name);
}

/** --convolution auto | direct (default auto), for commands that compile without a session. */
export function parseConvolution(value: string | undefined, command: string): ConvolutionAlgorithm {
  if (value === undefined) return 'auto';
  if ((CONVOLUTION_ALGORITHMS as readonly string[]).includes(value)) return value as ConvolutionAlgorithm;
  throw new UsageError(`--convolution expects 'auto' or 'direct', got '${value}'`, command);
}

/**
 * --weights pretrained | TAG | URL | PATH | synthetic | synthetic:dcfree | synthetic:plain, and
 * --weights-sha256 HEX, which goes with a URL (a tag's hash is pinned or recorded: pin another
 * with 'weights pull TAG --weights-sha256 HEX').
 */
export function parseWeights(value: string, command: string, sha256?: string): SessionOptions['weights'] {
  if (value === 'synthetic' || value.startsWith('synthetic:')) {
    if (sha256 !== undefined) throw new UsageError('--weights-sha256 checks a downloaded file; synthetic weights have none', command);
    let profile: ReturnType<typeof parseSyntheticWeights>;
    try {
      profile = parseSyntheticWeights(value);
    } catch {
      throw new UsageError(`--weights ${value}: the synthetic profiles are 'synthetic:dcfree' and 'synthetic:plain'`, command);
    }
    return value === 'synthetic' ? 'synthetic' : { synthetic: profile ?? 'dcfree' };
  }
  if (sha256 === undefined) return value;
  if (!/^[A-Za-z][A-Za-z0-9+.-]*:\/\//.test(value)) {
    throw new UsageError(
      `--weights-sha256 goes with --weights URL; for a tag, pin a hash once with 'inception-cudnn weights pull ${value} --weights-sha256 HEX', and for a file compare 'sha256sum ${value}'`,
      command,
    );
  }
  if (!/^[0-9a-fA-F]{64}$/.test(sha256)) throw new UsageError(`--weights-sha256 expects 64 hex digits, got '${sha256}'`, command);
  return { url: value, sha256: sha256.toLowerCase() };
}

const PRECISIONS: readonly Precision[] = ['fp32', 'tf32', 'fp16', 'bf16'];

/** A tag of another model, an unknown tag that is no file, or a URL that is not https: a bad command line. */
export function checkWeightsReference(weights: SessionOptions['weights'], model: ModelName, command: string): void {
  const value = typeof weights === 'string' ? weights : 'url' in weights ? weights.url : null;
  if (value === null || value === 'synthetic') return;
  try {
    parseWeightsReference(value, model);
  } catch (error) {
    if (!(error instanceof InceptionError)) throw error;
    throw new UsageError(`--weights: ${error.message.replace(/^weights:? /, '')}`, command);
  }
}

/** --device cpu | cuda | cuda:N (default cpu). */
export function parseDeviceFlag(value: string | undefined, command: string): DeviceName {
  if (value === undefined || value === 'cpu' || value === 'cuda' || /^cuda:(0|[1-9][0-9]{0,3})$/.test(value)) return (value ?? 'cpu') as DeviceName;
  throw new UsageError(`--device ${value}: use cpu, cuda or cuda:N (N = the GPU's ordinal, e.g. cuda:1)`, command);
}

/**
 * The SessionOptions common to run / predict / embed / serve. Every value is checked here, in
 * the command line's own terms (flags, not option fields), so that a wrong value exits 2 before
 * anything loads; createSession checks them again.
 */
export function sessionOptions(parsed: Parsed, command: string): Omit<SessionOptions, 'maxBatch'> & { maxBatch: number | undefined } {
  const optional = (name: string): string | undefined => {
    const v = parsed.values[name];
    return typeof v === 'string' ? v : undefined;
  };
  const model = requireModel(parsed, command).name;
  const weights = parseWeights(requireString(parsed, 'weights', command), command, optional('weights-sha256'));
  checkWeightsReference(weights, model, command);
  const device = parseDeviceFlag(optional('device'), command);
  const cpu = device === 'cpu';
  const precision = optional('precision');
  if (precision !== undefined && !(PRECISIONS as readonly string[]).includes(precision)) {
    throw new UsageError(`--precision ${precision}: use fp32, bf16 (CPU), tf32 or fp16 (cuda)`, command);
  }
  if (cpu && precision !== undefined && precision !== 'fp32' && precision !== 'bf16') {
    throw new UsageError(`--precision ${precision} needs --device cuda; the CPU backend runs fp32 or bf16`, command);
  }
  if (!cpu && precision === 'bf16') {
    throw new UsageError('--precision bf16 is for --device cpu (CPUs with AVX512-BF16 or AMX); on cuda use fp16, tf32 or fp32', command);
  }
  const convolution = optional('convolution');
  if (convolution !== undefined) {
    parseConvolution(convolution, command);
    if (!cpu) throw new UsageError('--convolution applies to --device cpu only (cuDNN chooses its own algorithms)', command);
  }
  const threads = optionalInteger(parsed, 'threads', command, MAX_THREADS);
  if (threads !== undefined && !cpu) throw new UsageError('--threads applies to --device cpu only', command);
  const streams = optionalInteger(parsed, 'streams', command, MAX_STREAMS);
  if (streams !== undefined && streams !== 1 && cpu) {
    throw new UsageError('--streams applies to --device cuda only (the CPU backend runs the steps in order)', command);
  }
  return {
    model,
    weights,
    device,
    precision: precision as Precision | undefined,
    maxBatch: optionalInteger(parsed, 'max-batch', command, MAX_BATCH_LIMIT),
    threads,
    convolution: convolution as ConvolutionAlgorithm | undefined,
    streams,
    benchmark: parsed.values['no-benchmark'] === true ? false : undefined,
    deterministic: parsed.values.deterministic === true ? true : undefined,
  };
}

/** Drops undefined fields: createSession rejects nothing for them, but keeps options tidy. */
export function defined<T extends object>(options: T): T {
  return Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) as T;
}

/** The flags of option fields that a command passes on to the API (for flagTermsError). */
export const OPTION_FLAGS: Readonly<Record<string, string>> = {
  model: '--model',
  weights: '--weights',
  device: '--device',
  precision: '--precision',
  maxBatch: '--max-batch',
  inputSize: '--input-size',
  threads: '--threads',
  convolution: '--convolution',
  streams: '--streams',
  topK: '--top-k',
  instances: '--instances',
  maxQueueDelayMicroseconds: '--max-queue-delay-us',
  preferredBatchSizes: '--preferred-batch-sizes',
  maxQueueSize: '--max-queue-size',
  host: '--host',
  port: '--port',
  token: '--token',
  maxBodyBytes: '--max-body-bytes',
  maxInputPixels: '--max-input-pixels',
  requestTimeoutMs: '--request-timeout-ms',
  modelName: '--model-name',
};

/**
 * An API error about an option value, told in the command line's terms: a UsageError (exit 2)
 * whose message names the flag ("--max-queue-size expects ..., got 0") instead of the option
 * field. Other errors are returned unchanged.
 */
export function flagTermsError(error: unknown, command: string): unknown {
  if (!(error instanceof InvalidArgumentError)) return error;
  const flagged = (text: string): string =>
    text.replace(/\b[a-z][A-Za-z]+\b/g, (word) => (/[A-Z]/.test(word) && Object.hasOwn(OPTION_FLAGS, word) ? OPTION_FLAGS[word] : word));
  const expected = /^Expected (.+) for (\S+) but received (.+)$/.exec(error.message);
  if (expected !== null && Object.hasOwn(OPTION_FLAGS, expected[2])) {
    const shown = expected[3].replace(/ of type (string|number)$/, '');
    return new UsageError(`${OPTION_FLAGS[expected[2]]} expects ${flagged(expected[1])}, got ${shown}`, command);
  }
  return new UsageError(flagged(error.message), command);
}
