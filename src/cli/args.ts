/** node:util parseArgs with usage errors, plus the option parsers shared by the commands. */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import type { DeviceName, SessionOptions } from '../runtime/options';
import { CONVOLUTION_ALGORITHMS, type ConvolutionAlgorithm, type Precision } from '../runtime/backend';
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

export function optionalInteger(parsed: Parsed, name: string, command: string): number | undefined {
  const value = parsed.values[name];
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || !/^[0-9]+$/.test(value) || Number(value) < 1) {
    throw new UsageError(`--${name} expects a positive integer, got '${String(value)}'`, command);
  }
  return Number(value);
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
    if (value === 'synthetic') return 'synthetic';
    const profile = value.slice('synthetic:'.length);
    if (profile !== 'dcfree' && profile !== 'plain') {
      throw new UsageError(`--weights ${value}: the synthetic profiles are 'synthetic:dcfree' and 'synthetic:plain'`, command);
    }
    return { synthetic: profile };
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

/** The SessionOptions common to run / predict / embed (validated again by createSession). */
export function sessionOptions(parsed: Parsed, command: string): Omit<SessionOptions, 'maxBatch'> & { maxBatch: number | undefined } {
  const optional = (name: string): string | undefined => {
    const v = parsed.values[name];
    return typeof v === 'string' ? v : undefined;
  };
  return {
    model: requireString(parsed, 'model', command) as SessionOptions['model'],
    weights: parseWeights(requireString(parsed, 'weights', command), command, optional('weights-sha256')),
    device: optional('device') as DeviceName | undefined,
    precision: optional('precision') as Precision | undefined,
    maxBatch: optionalInteger(parsed, 'max-batch', command),
    threads: optionalInteger(parsed, 'threads', command),
    convolution: optional('convolution') as ConvolutionAlgorithm | undefined,
    streams: optionalInteger(parsed, 'streams', command),
    benchmark: parsed.values['no-benchmark'] === true ? false : undefined,
  };
}

/** Drops undefined fields: createSession rejects nothing for them, but keeps options tidy. */
export function defined<T extends object>(options: T): T {
  return Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) as T;
}
