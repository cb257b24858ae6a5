/**
 * Session options: the public shape, and their validation into a fully defaulted
 * `ResolvedOptions` (sharp-style messages; unknown keys rejected, nothing guessed).
 */
import { DeviceError, InvalidArgumentError, describe, invalidParam } from '../errors';
import { getModel } from '../models/registry';
import type { ModelDefinition, ModelName } from '../models/types';
import { sessionStreams } from '../plan/schedule';
import { CONVOLUTION_ALGORITHMS, type ConvolutionAlgorithm, type DeviceKind, type Precision } from './backend';
import { parseSha256 } from '../weights/known-checkpoints';
import type { ProgressListener } from '../weights/progress';
import { parseWeightsReference } from '../weights/weights-reference';

export type SyntheticProfile = 'dcfree' | 'plain';
export type DeviceName = 'cpu' | 'cuda' | `cuda:${number}`;
export type Head = 'embedding' | 'logits';

export interface SessionOptions {
  /** 'inception_v4' | 'inception_resnet_v2' | 'inception_resnet_v1'. */
  readonly model: ModelName;
  /**
   * The checkpoint: 'pretrained' (the model's first known tag), a known tag
   * ('inception_v4.tf_in1k', ...: downloaded once into the cache, verified), an https:// URL,
   * `{ url, sha256 }` (a URL whose file must have that sha256), or the path of a .safetensors
   * or PyTorch .pt/.pth file. Or fixture weights that make the outputs meaningless but let
   * everything run without a download: 'synthetic' (= { synthetic: 'dcfree' }),
   * 'synthetic:dcfree' or 'synthetic:plain' (the CLI's --weights strings; = { synthetic: profile }).
   */
  readonly weights: string | { readonly synthetic: SyntheticProfile } | { readonly url: string; readonly sha256?: string };
  /** Progress of a checkpoint download (weights given as a tag or URL); see DownloadProgress. */
  readonly onProgress?: ProgressListener;
  /** Default 'cpu'. 'cuda' = 'cuda:0'. */
  readonly device?: DeviceName;
  /** Default 'fp32'. 'tf32' | 'fp16': cuda only; 'bf16': cpu only, on CPUs with native bf16 (AVX512-BF16 or AMX). */
  readonly precision?: Precision;
  /** Largest batch one run accepts; memory is planned for it. Default 8. */
  readonly maxBatch?: number;
  /** Input height and width (a number: square). Default: the model's (299, 299, 160). */
  readonly inputSize?: number | readonly [number, number];
  /** CPU only: backend threads (default: the process's CPUs capped by its cgroup CPU quota, src/system/cpu-threads.ts). */
  readonly threads?: number;
  /**
   * CPU only: 'auto' (default) runs 3x3 stride-1 convolutions as Winograd where oneDNN has a
   * kernel for them (about 2x fewer multiplications there; relative L2 vs direct ~1e-6 on plain
   * weights), and on AVX-512 the 1x7/7x1 convolutions as our 1-D Winograd F(4,7) (2.8x fewer;
   * ~5e-6 per layer) and convolutions with more than one tap whose output over the batch is at
   * most 12 pixels (IR-v1's 3x3 maps at batch 1) as our weight-streaming kernel (same arithmetic,
   * another summation order); 'direct' uses oneDNN's direct convolution everywhere.
   */
  readonly convolution?: ConvolutionAlgorithm;
  /** inception_resnet_v1 only: 'embedding' (default) or 'logits' (needs a checkpoint with logits.*). */
  readonly head?: Head;
  /**
   * CUDA only: run the parallel branches of each block on up to this many CUDA streams (1..4;
   * default 4 when maxBatch <= 16, else 1: see defaultStreams in src/plan/schedule.ts). The
   * environment variable INCEPTION_CUDA_STREAMS overrides it (A/B checks).
   */
  readonly streams?: number;
  /**
   * true (default): time candidate kernels when the session is set up; false: take the library's
   * own first choice (quicker setup, sometimes slower kernels).
   * CUDA: cuDNN's algorithms for every convolution, timed when a batch size is first set up (as
   * torch.backends.cudnn.benchmark does), the winners kept in the on-disk algorithm cache so later
   * sessions on the same GPU, cuDNN and shapes skip the timing.
   * CPU (convolution 'auto'): for each 3x3 stride-1 convolution for which oneDNN lists several
   * Winograd kernels (small batches, or steps run image by image), each is timed and one replaces
   * oneDNN's first choice when at least 18% faster (native/cpu/program.cc WinogradKernel); the
   * decisions hold for the whole process, so its sessions agree bitwise.
   */
  readonly benchmark?: boolean;
  /**
   * true: every kernel and algorithm is chosen by a fixed rule, without timing, so every process
   * on the same machine (same CPU or GPU, library versions and thread count) makes the same
   * choices and gives bitwise the same outputs for the same inputs, as
   * torch.backends.cudnn.deterministic does. The rule is the library's own first choice: CPU,
   * oneDNN's first-listed Winograd kernel; CUDA, cuDNN's heuristic algorithm (no timing, no
   * on-disk algorithm cache). It implies benchmark: false (benchmark: true with it is an error).
   * Default false.
   */
  readonly deterministic?: boolean;
}

export type WeightsSpec =
  | { readonly kind: 'checkpoint'; readonly path: string }
  /** A known tag or a URL, fetched into the cache (src/weights/pull.ts) before loading. */
  | { readonly kind: 'download'; readonly source: string; readonly sha256: string | null }
  | { readonly kind: 'synthetic'; readonly profile: SyntheticProfile };

export interface DeviceSpec {
  readonly kind: DeviceKind;
  /** CUDA device ordinal (0 for the CPU). */
  readonly index: number;
}

export interface ResolvedOptions {
  readonly model: ModelDefinition;
  readonly weights: WeightsSpec;
  readonly device: DeviceSpec;
  readonly precision: Precision;
  readonly maxBatch: number;
  readonly height: number;
  readonly width: number;
  readonly threads: number | undefined;
  readonly convolution: ConvolutionAlgorithm;
  readonly head: Head;
  readonly streams: number;
  /** Time candidate kernels at setup (SessionOptions.benchmark); false when deterministic. */
  readonly benchmark: boolean;
  /** Choices by a fixed rule only (SessionOptions.deterministic). */
  readonly deterministic: boolean;
  readonly onProgress: ProgressListener | undefined;
}

export const DEFAULT_MAX_BATCH = 8;
/** Upper bounds that only exist to turn a typo into an error instead of a huge allocation. */
export const MAX_BATCH_LIMIT = 4096;
export const MAX_INPUT_SIDE = 4096;
export const MAX_THREADS = 1024;

const KNOWN_KEYS: readonly string[] = ['model', 'weights', 'onProgress', 'device', 'precision', 'maxBatch', 'inputSize', 'threads', 'convolution', 'head', 'streams', 'benchmark', 'deterministic'];
const PRECISIONS: readonly Precision[] = ['fp32', 'tf32', 'fp16', 'bf16'];
const PROFILES: readonly SyntheticProfile[] = ['dcfree', 'plain'];

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !ArrayBuffer.isView(value);
}

function isIntegerIn(value: unknown, min: number, max: number): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= min && value <= max;
}

/** 'cpu' | 'cuda' | 'cuda:N'. Anything else is a DeviceError that lists the accepted forms. */
export function parseDevice(value: unknown): DeviceSpec {
  if (value === undefined) return { kind: 'cpu', index: 0 };
  if (typeof value !== 'string') throw invalidParam('device', "one of 'cpu', 'cuda', 'cuda:N'", value);
  if (value === 'cpu') return { kind: 'cpu', index: 0 };
  if (value === 'cuda') return { kind: 'cuda', index: 0 };
  const match = /^cuda:(0|[1-9][0-9]{0,3})$/.exec(value);
  if (match) return { kind: 'cuda', index: Number(match[1]) };
  throw new DeviceError(`Unknown device ${describe(value)}; use 'cpu', 'cuda' or 'cuda:N' (N = device ordinal, e.g. 'cuda:0')`);
}

export function deviceName(device: DeviceSpec): string {
  return device.kind === 'cpu' ? 'cpu' : `cuda:${device.index}`;
}

const WEIGHTS_FORMS =
  "'pretrained', a tag, a URL, a checkpoint path, { url, sha256 }, 'synthetic', 'synthetic:dcfree', 'synthetic:plain' or { synthetic: 'dcfree' | 'plain' }";

/** 'synthetic' and 'synthetic:PROFILE' (the same strings as the CLI's --weights), else null. */
export function parseSyntheticWeights(value: string): SyntheticProfile | null {
  if (value === 'synthetic') return 'dcfree';
  if (!value.startsWith('synthetic:')) return null;
  const profile = value.slice('synthetic:'.length);
  if ((PROFILES as readonly string[]).includes(profile)) return profile as SyntheticProfile;
  throw new InvalidArgumentError(
    `Unknown synthetic weights '${value}'; the synthetic profiles are 'synthetic:dcfree' (= 'synthetic') and 'synthetic:plain' (or { synthetic: 'dcfree' | 'plain' })`,
  );
}

function parseWeights(value: unknown, model: ModelDefinition): WeightsSpec {
  if (typeof value === 'string') {
    const profile = parseSyntheticWeights(value);
    if (profile !== null) return { kind: 'synthetic', profile };
    if (value.length === 0) throw invalidParam('weights', WEIGHTS_FORMS, value);
    const reference = parseWeightsReference(value, model.name);
    if (reference.kind === 'path') return { kind: 'checkpoint', path: reference.path };
    return { kind: 'download', source: reference.kind === 'tag' ? reference.tag : reference.url, sha256: null };
  }
  if (isPlainObject(value)) {
    if ('url' in value) {
      const extra = Object.keys(value).filter((k) => k !== 'url' && k !== 'sha256');
      if (extra.length > 0) throw new InvalidArgumentError(`Unknown key '${extra[0]}' in weights; { url, sha256 } takes only these two`);
      if (typeof value.url !== 'string') throw invalidParam('weights.url', 'an https:// URL', value.url);
      const reference = parseWeightsReference(value.url, model.name);
      if (reference.kind !== 'url') throw invalidParam('weights.url', 'an https:// URL (a tag or path goes in weights itself)', value.url);
      const sha256 = value.sha256 === undefined ? null : parseSha256(value.sha256, 'weights.sha256');
      return { kind: 'download', source: reference.url, sha256 };
    }
    const extra = Object.keys(value).filter((k) => k !== 'synthetic');
    if (extra.length > 0) throw new InvalidArgumentError(`Unknown key '${extra[0]}' in weights; the object forms are { synthetic } and { url, sha256 }`);
    const profile = value.synthetic;
    if (typeof profile === 'string' && (PROFILES as readonly string[]).includes(profile)) {
      return { kind: 'synthetic', profile: profile as SyntheticProfile };
    }
    throw invalidParam('weights.synthetic', "'dcfree' or 'plain'", profile);
  }
  throw invalidParam('weights', WEIGHTS_FORMS, value);
}

function parseInputSize(value: unknown, model: ModelDefinition): { height: number; width: number } {
  const side = model.preprocessing.inputSize;
  if (value === undefined) return { height: side, width: side };
  const expected = `an integer in [${model.minSize}, ${MAX_INPUT_SIDE}] (${model.name} needs at least ${model.minSize})`;
  if (typeof value === 'number') {
    if (!isIntegerIn(value, model.minSize, MAX_INPUT_SIDE)) throw invalidParam('inputSize', expected, value);
    return { height: value, width: value };
  }
  if (Array.isArray(value) && value.length === 2) {
    value.forEach((v: unknown, i) => {
      if (!isIntegerIn(v, model.minSize, MAX_INPUT_SIDE)) throw invalidParam(`inputSize[${i}]`, expected, v);
    });
    return { height: value[0] as number, width: value[1] as number };
  }
  throw invalidParam('inputSize', 'an integer or a [height, width] pair of integers', value);
}

/** Validates every option (unknown keys rejected) and fills in the defaults. */
export function resolveOptions(options: unknown): ResolvedOptions {
  if (!isPlainObject(options)) throw invalidParam('options', 'an object with at least model and weights', options);
  const unknown = Object.keys(options).filter((key) => !KNOWN_KEYS.includes(key));
  if (unknown.length > 0) {
    throw new InvalidArgumentError(`Unknown option '${unknown[0]}'; the options are: ${KNOWN_KEYS.join(', ')}`);
  }
  if (options.model === undefined) throw invalidParam('model', 'a model name', undefined);
  const model = getModel(options.model as string);
  if (options.weights === undefined) throw invalidParam('weights', WEIGHTS_FORMS, undefined);
  const weights = parseWeights(options.weights, model);
  if (options.onProgress !== undefined && typeof options.onProgress !== 'function') throw invalidParam('onProgress', 'a function', options.onProgress);
  const device = parseDevice(options.device);

  const precision = options.precision ?? 'fp32';
  if (typeof precision !== 'string' || !(PRECISIONS as readonly string[]).includes(precision)) {
    throw invalidParam('precision', "one of 'fp32', 'tf32', 'fp16', 'bf16'", precision);
  }
  if (device.kind === 'cpu' && precision !== 'fp32' && precision !== 'bf16') {
    throw new InvalidArgumentError(`precision '${precision}' needs device 'cuda'; the CPU backend runs 'fp32' or 'bf16'`);
  }
  if (device.kind === 'cuda' && precision === 'bf16') {
    throw new InvalidArgumentError("precision 'bf16' is for device 'cpu' (CPUs with AVX512-BF16 or AMX); on 'cuda' use 'fp16', 'tf32' or 'fp32'");
  }

  const maxBatch = options.maxBatch ?? DEFAULT_MAX_BATCH;
  if (!isIntegerIn(maxBatch, 1, MAX_BATCH_LIMIT)) throw invalidParam('maxBatch', `an integer in [1, ${MAX_BATCH_LIMIT}]`, maxBatch);

  const { height, width } = parseInputSize(options.inputSize, model);

  const threads = options.threads;
  if (threads !== undefined) {
    if (!isIntegerIn(threads, 1, MAX_THREADS)) throw invalidParam('threads', `an integer in [1, ${MAX_THREADS}]`, threads);
    if (device.kind !== 'cpu') throw new InvalidArgumentError("threads applies to device 'cpu' only; remove it for 'cuda'");
  }

  const convolution = options.convolution ?? 'auto';
  if (typeof convolution !== 'string' || !(CONVOLUTION_ALGORITHMS as readonly string[]).includes(convolution)) {
    throw invalidParam('convolution', "'auto' or 'direct'", convolution);
  }
  if (options.convolution !== undefined && device.kind !== 'cpu') {
    throw new InvalidArgumentError("convolution applies to device 'cpu' only (cuDNN chooses its own algorithms); remove it for 'cuda'");
  }

  const head = options.head ?? (model.output === 'embedding' ? 'embedding' : 'logits');
  if (head !== 'embedding' && head !== 'logits') throw invalidParam('head', "'embedding' or 'logits'", head);
  if (options.head !== undefined && model.name !== 'inception_resnet_v1') {
    throw new InvalidArgumentError(`head applies to inception_resnet_v1 only; ${model.name} always outputs logits`);
  }
  if (head === 'logits' && model.output === 'embedding' && weights.kind === 'synthetic') {
    throw new InvalidArgumentError("head 'logits' needs a facenet checkpoint with logits.weight and logits.bias; synthetic weights have none");
  }

  const streams = sessionStreams(options.streams, device.kind, process.env.INCEPTION_CUDA_STREAMS, maxBatch);

  if (options.benchmark !== undefined && typeof options.benchmark !== 'boolean') throw invalidParam('benchmark', 'a boolean', options.benchmark);
  if (options.deterministic !== undefined && typeof options.deterministic !== 'boolean') throw invalidParam('deterministic', 'a boolean', options.deterministic);
  const deterministic = options.deterministic ?? false;
  if (deterministic && options.benchmark === true) {
    throw new InvalidArgumentError('deterministic: true chooses every kernel without timing; remove benchmark: true (or deterministic)');
  }
  const benchmark = deterministic ? false : (options.benchmark ?? true);

  const onProgress = options.onProgress as ProgressListener | undefined;
  return { model, weights, device, precision: precision as Precision, maxBatch, height, width, threads: threads as number | undefined, convolution: convolution as ConvolutionAlgorithm, head, streams, benchmark, deterministic, onProgress };
}
