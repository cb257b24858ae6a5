/**
 * The public Session: options -> backend -> weights -> graph -> optimise -> plan -> compiled
 * Program; then run / classify / embed, on one queue (one run at a time, or two where the program
 * overlaps transfers: Program.runsInFlight), and dispose.
 */
import { DeviceError, DisposedError, InvalidArgumentError, PlanError, WeightsError, describe, invalidParam } from '../errors';
import type { WeightStore } from '../graph/ir';
import { imagenetLabels } from '../models/labels';
import type { ModelName } from '../models/types';
import { optimize } from '../optimize';
import { SIBLING_MERGE_ENV, resolveSiblingMerge } from '../optimize/sibling-merge-switch';
import type { MemoryReport } from '../plan/types';
import { lowerToPlan } from '../plan/lower';
import { checkImages, checkMaxInputPixels, imagesToTensor } from '../preprocess/image';
import { loadCheckpoint } from '../weights/load';
import { pullWeights } from '../weights/pull';
import { syntheticWeights } from '../weights/synthetic';
import { defaultCpuThreads, type CpuThreadChoice } from '../system/cpu-threads';
import type { Backend, Precision, Program } from './backend';
import { runBatchSizes } from './batch-sizes';
import { checkRunInput } from './input';
import { InputCopies } from './input-copies';
import { callNative, toNativeError } from './native-call';
import { deviceName, resolveOptions, type ResolvedOptions, type SessionOptions, type SyntheticProfile } from './options';
import { SerialQueue } from './queue';
import { yieldToEventLoop } from './event-loop';
import { topK, type Classification } from './scores';

/** Where a downloaded checkpoint came from and how it was verified. */
export interface DownloadedWeights {
  readonly tag: string | null;
  readonly url: string;
  readonly sha256: string;
  /** 'pinned', 'hub-etag', 'user' or 'first-download' (its hash recorded on first download). */
  readonly verifiedBy: readonly string[];
  /** True when this session downloaded nothing. */
  readonly fromCache: boolean;
}

export type WeightsSource =
  | { readonly kind: 'checkpoint'; readonly path: string; readonly fileBytes: number; readonly download: DownloadedWeights | null }
  | { readonly kind: 'synthetic'; readonly profile: SyntheticProfile; readonly notice: string };

export interface SessionInfo {
  readonly model: ModelName;
  /** 'cpu' or 'cuda:N'. */
  readonly device: string;
  readonly precision: Precision;
  readonly maxBatch: number;
  /** Largest input accepted: [maxBatch, 3, H, W] (any batch 1..maxBatch runs). */
  readonly inputShape: readonly [number, 3, number, number];
  /** Output of a maxBatch run: [maxBatch, K]. */
  readonly outputShape: readonly [number, number];
  /** 'logits' (raw scores, K classes) or 'embedding' (L2-normalised, K = 512). */
  readonly output: 'logits' | 'embedding';
  /**
   * CUDA: the batch sizes runs execute at (a batch of n runs at the next one and returns n rows;
   * src/runtime/batch-sizes.ts), each set up on its first run; null on the CPU, which runs every
   * n exactly.
   */
  readonly runBatchSizes: readonly number[] | null;
}

export interface ClassifyOptions {
  /** How many classes per image, most probable first (default 5). */
  readonly topK?: number;
  /** Refuse images with more pixels than this (default 100,000,000). */
  readonly maxInputPixels?: number;
}

export interface EmbedOptions {
  readonly maxInputPixels?: number;
}

export interface Session {
  readonly info: SessionInfo;
  readonly memory: MemoryReport;
  /** Where the weights came from; `kind: 'synthetic'` means the outputs are meaningless. */
  readonly weightsSource: WeightsSource;
  /** Runs a preprocessed float32 NCHW batch [n,3,H,W] (n <= maxBatch); resolves to [n,K] row-major. */
  run(input: Float32Array, shape: readonly [number, number, number, number]): Promise<Float32Array>;
  /** Decodes, preprocesses and classifies images (logits models); one top-k list per image. */
  classify(images: readonly Uint8Array[], options?: ClassifyOptions): Promise<Classification[][]>;
  /** Decodes, preprocesses and embeds images (inception_resnet_v1); one 512-d vector per image. */
  embed(images: readonly Uint8Array[], options?: EmbedOptions): Promise<Float32Array[]>;
  /**
   * The CPU threads this session uses and why (an explicit `threads`, the process's CPUs, or the
   * container's CPU quota): the oneDNN team on 'cpu', the most threads of the staging input copy on
   * 'cuda' (there at most 8). E.g. `{ threads: 1, decidedBy: 'cgroup-quota', reason: 'cgroup quota 1.0 CPU of 2' }`.
   */
  readonly threads: CpuThreadChoice;
  /** Releases the native resources once queued runs finish; later calls reject with DisposedError. */
  dispose(): Promise<void>;
}

export type { Classification } from './scores';

/**
 * session.run for a caller that owns `input`, has checked that every value is finite, and leaves
 * `input` unchanged until the promise settles (the dynamic batcher and its batch buffers): a
 * session made here skips run()'s private copy and its second scan of the values on the JS thread
 * (a backend that checks values itself, Program.checksInputValues, still does). The shape is
 * still checked. Any other Session implementation gets its ordinary run().
 */
export function runOwnedInput(session: Session, input: Float32Array, shape: readonly [number, number, number, number]): Promise<Float32Array> {
  return session instanceof CompiledSession ? session.runOwned(input, shape) : session.run(input, shape);
}

/** Loads the native backend for a device (throws BackendUnavailableError when it cannot). */
/** The CUDA staging copy's thread cap (native/core/parallel_copy.h caps the hardware's count at 8 too). */
const MAX_COPY_THREADS = 8;

export type BackendLoader = (kind: 'cpu' | 'cuda') => Backend;

/** Creates a session: validates options, loads the backend and the weights, plans and compiles. */
export async function createSession(options: SessionOptions): Promise<Session> {
  const resolved = resolveOptions(options);
  // Imported lazily so that loading the package never loads a native module it does not use.
  const { loadBackend } = await import('./backends');
  return openSession(resolved, loadBackend(resolved.device.kind));
}

/** createSession with an explicit backend (tests, and callers that manage backends themselves). */
export async function createSessionWithBackend(options: SessionOptions, backend: Backend): Promise<Session> {
  const resolved = resolveOptions(options);
  if (backend.kind !== resolved.device.kind) {
    throw new InvalidArgumentError(`device '${deviceName(resolved.device)}' needs a ${resolved.device.kind} backend, got a ${backend.kind} backend`);
  }
  return openSession(resolved, backend);
}

async function openSession(options: ResolvedOptions, backend: Backend): Promise<Session> {
  const { model, device } = options;
  if (device.kind === 'cuda') {
    const devices = backend.info().devices;
    if (!devices.some((d) => d.index === device.index)) {
      const found = devices.length === 0 ? 'no CUDA devices were found' : `found ${devices.map((d) => `cuda:${d.index} (${d.name})`).join(', ')}`;
      throw new DeviceError(`device 'cuda:${device.index}' does not exist: ${found}`);
    }
  }

  const { weights, logitsClasses, source } = await loadWeights(options);
  const buildOptions = { batch: options.maxBatch, height: options.height, width: options.width };
  const wantsLogitsHead = model.output === 'embedding' && options.head === 'logits';
  if (wantsLogitsHead && logitsClasses === null) {
    throw new WeightsError(
      `head 'logits' needs logits.weight and logits.bias in the checkpoint, but ${source.kind === 'checkpoint' ? source.path : 'it'} has none; ` +
        "use head 'embedding' or a facenet-pytorch checkpoint saved with its classifier",
    );
  }
  // Each phase below is synchronous and takes up to seconds on the large networks: the event loop
  // runs between them (see event-loop.ts).
  await yieldToEventLoop();
  const graph = model.build(wantsLogitsHead ? { ...buildOptions, logitsClasses: logitsClasses as number } : buildOptions);
  const policy = backend.layoutPolicy(options.precision);
  const optimised = optimize(graph, weights, { mergeSiblingConvs: resolveSiblingMerge(policy, process.env[SIBLING_MERGE_ENV]) });
  await yieldToEventLoop();
  const { plan, report } = lowerToPlan(optimised.graph, optimised.weights, policy, { streams: options.streams });
  await yieldToEventLoop();
  const outputTensor = plan.tensors[plan.output];
  const outputSize = outputTensor.c * outputTensor.h * outputTensor.w;
  const batchSizes = device.kind === 'cuda' ? Object.freeze(runBatchSizes(options.maxBatch)) : null;
  // The same figure sizes the CPU team and the CUDA input copy: a container's CPU quota bounds both.
  const threads = Object.freeze(defaultCpuThreads(options.threads));
  const perDevice = batchSizes === null ? { threads: threads.threads, convolution: options.convolution } : { copyThreads: Math.min(MAX_COPY_THREADS, threads.threads), batchSizes };
  const program = await callNative('compiling the plan', () =>
    backend.compile(plan, { precision: options.precision, deviceIndex: device.kind === 'cuda' ? device.index : undefined, benchmark: options.benchmark, ...perDevice }),
  );

  const info: SessionInfo = Object.freeze({
    model: model.name,
    device: deviceName(device),
    precision: options.precision,
    maxBatch: options.maxBatch,
    inputShape: Object.freeze([options.maxBatch, 3, options.height, options.width] as const),
    outputShape: Object.freeze([options.maxBatch, outputSize] as const),
    output: wantsLogitsHead ? 'logits' : model.output,
    runBatchSizes: batchSizes,
  });
  const memory: MemoryReport = Object.freeze({
    weightBytes: program.weightBytes,
    arenaBytes: program.arenaBytes,
    naiveBytes: report.naiveBytes,
    lowerBoundBytes: report.lowerBoundBytes,
    workspaceBytes: program.workspaceBytes,
  });
  return new CompiledSession(options, program, info, memory, source, logitsClasses, threads);
}

async function loadWeights(options: ResolvedOptions): Promise<{ weights: WeightStore; logitsClasses: number | null; source: WeightsSource }> {
  const spec = options.weights;
  if (spec.kind === 'synthetic') {
    const notice =
      `synthetic fixture weights (profile '${spec.profile}'): outputs are meaningless; ` +
      "pass weights: 'pretrained' (or a tag, URL or checkpoint path) for real predictions";
    return { weights: syntheticWeights(options.model, spec.profile), logitsClasses: null, source: Object.freeze({ kind: 'synthetic', profile: spec.profile, notice }) };
  }
  let path: string;
  let download: DownloadedWeights | null = null;
  if (spec.kind === 'download') {
    const pulled = await pullWeights(spec.source, { model: options.model.name, ...(spec.sha256 === null ? {} : { sha256: spec.sha256 }), onProgress: options.onProgress });
    path = pulled.path;
    download = Object.freeze({ tag: pulled.tag, url: pulled.url, sha256: pulled.sha256, verifiedBy: Object.freeze([...pulled.verifiedBy]), fromCache: pulled.fromCache });
  } else {
    path = spec.path;
  }
  const loaded = await loadCheckpoint(path, options.model);
  return { weights: loaded.weights, logitsClasses: loaded.logitsClasses, source: Object.freeze({ kind: 'checkpoint', path, fileBytes: loaded.fileBytes, download }) };
}

const CLASSIFY_KEYS: readonly string[] = ['topK', 'maxInputPixels'];
const EMBED_KEYS: readonly string[] = ['maxInputPixels'];

function checkOptionKeys(options: unknown, known: readonly string[], method: string): Record<string, unknown> {
  if (options === undefined) return {};
  if (typeof options !== 'object' || options === null || Array.isArray(options)) throw invalidParam(`${method} options`, 'an object', options);
  const unknown = Object.keys(options).filter((k) => !known.includes(k));
  if (unknown.length > 0) throw new InvalidArgumentError(`Unknown ${method} option '${unknown[0]}'; the options are: ${known.join(', ')}`);
  return options as Record<string, unknown>;
}

class CompiledSession implements Session {
  /** Runs in call order; as many at once as the program lets run (Program.runsInFlight, default 1). */
  private readonly queue: SerialQueue;
  private readonly inputCopies = new InputCopies();
  private disposal: Promise<void> | undefined;
  private labelsCache: readonly string[] | undefined;
  /** Whether run() scans the values for NaN/Infinity on the JS thread: only when the program does not (Program.checksInputValues). */
  private readonly scansValues: boolean;

  constructor(
    private readonly options: ResolvedOptions,
    private readonly program: Program,
    readonly info: SessionInfo,
    readonly memory: MemoryReport,
    readonly weightsSource: WeightsSource,
    private readonly logitsClasses: number | null,
    readonly threads: CpuThreadChoice,
  ) {
    this.scansValues = program.checksInputValues !== true;
    this.queue = new SerialQueue(program.runsInFlight ?? 1);
  }

  run(input: Float32Array, shape: readonly [number, number, number, number]): Promise<Float32Array> {
    const callerStack = new Error().stack;
    let n: number;
    try {
      this.checkOpen();
      n = checkRunInput(input, shape, this.options, this.scansValues);
    } catch (error) {
      return Promise.reject(error);
    }
    // Nothing waiting and room to run now: a backend that can copies the batch into its own staging
    // memory right now (Program.runCopyingNow), and the caller's array is free again when this
    // returns. (It never throws: a failure, e.g. a NaN, comes back as its rejection.)
    const started = this.queue.canStartNow ? this.program.runCopyingNow?.(input, n) : undefined;
    if (started !== undefined) {
      return this.queue.push(() => this.checkedOutput(callNative('run', () => started, callerStack), n));
    }
    // A private copy: the caller may reuse its array while the run waits in the queue. The copy's
    // memory is reused by the next run once this one has finished (see InputCopies).
    const batch = this.inputCopies.take(input, n * 3 * this.options.height * this.options.width);
    const result = this.queue.push(() => this.runNow(batch, n, callerStack));
    const handBack = (): void => this.inputCopies.give(batch);
    result.then(handBack, handBack);
    return result;
  }

  /** run() without the private copy and the value scan: see runOwnedInput. */
  runOwned(input: Float32Array, shape: readonly [number, number, number, number]): Promise<Float32Array> {
    const callerStack = new Error().stack;
    let n: number;
    try {
      this.checkOpen();
      n = checkRunInput(input, shape, this.options, false);
    } catch (error) {
      return Promise.reject(error);
    }
    return this.queue.push(() => this.runNow(input, n, callerStack));
  }

  async classify(images: readonly Uint8Array[], options?: ClassifyOptions): Promise<Classification[][]> {
    this.checkOpen();
    const opts = checkOptionKeys(options, CLASSIFY_KEYS, 'classify');
    if (this.info.output !== 'logits') {
      throw new InvalidArgumentError(`classify needs a logits output, but ${this.info.model} gives ${this.info.outputShape[1]}-d embeddings; use session.embed(images)`);
    }
    const classes = this.info.outputShape[1];
    const k = opts.topK ?? 5;
    if (typeof k !== 'number' || !Number.isInteger(k) || k < 1 || k > classes) throw invalidParam('topK', `an integer in [1, ${classes}]`, k);
    const rows = await this.runImages(images, opts.maxInputPixels);
    const label = this.labeller();
    return rows.map((row) => topK(row, k, label));
  }

  async embed(images: readonly Uint8Array[], options?: EmbedOptions): Promise<Float32Array[]> {
    this.checkOpen();
    const opts = checkOptionKeys(options, EMBED_KEYS, 'embed');
    if (this.info.output !== 'embedding') {
      throw new InvalidArgumentError(`embed needs an embedding output, but this ${this.info.model} session outputs logits; use session.classify(images)`);
    }
    return this.runImages(images, opts.maxInputPixels);
  }

  dispose(): Promise<void> {
    if (this.disposal === undefined) {
      const callerStack = new Error().stack;
      this.disposal = this.queue.drained().then(() => {
        this.inputCopies.release();
        try {
          this.program.dispose();
        } catch (error) {
          throw toNativeError(error, callerStack, 'disposing the session');
        }
      });
    }
    return this.disposal;
  }

  private checkOpen(): void {
    if (this.disposal !== undefined) throw new DisposedError();
  }

  private runNow(batch: Float32Array, n: number, callerStack: string | undefined): Promise<Float32Array> {
    return this.checkedOutput(callNative('run', () => this.program.run(batch, n), callerStack), n);
  }

  /** The output of a run of n images, after checking it is what the backend promised. */
  private async checkedOutput(running: Promise<unknown>, n: number): Promise<Float32Array> {
    const output = await running;
    const expected = n * this.info.outputShape[1];
    if (!(output instanceof Float32Array) || output.length !== expected) {
      throw new PlanError(`the ${this.info.device} backend returned ${describe(output)} for a batch of ${n}; expected ${expected} float32 values`);
    }
    return output;
  }

  /** Decodes + runs images in chunks of maxBatch; one output row per image. */
  private async runImages(images: readonly Uint8Array[], maxInputPixels: unknown): Promise<Float32Array[]> {
    checkImages(images);
    const limit = checkMaxInputPixels(maxInputPixels);
    const { height, width, maxBatch, model } = this.options;
    const k = this.info.outputShape[1];
    const rows: Float32Array[] = [];
    for (let start = 0; start < images.length; start += maxBatch) {
      const chunk = images.slice(start, start + maxBatch);
      let tensor: Float32Array;
      try {
        tensor = await imagesToTensor(chunk, { height, width, preprocessing: model.preprocessing, maxInputPixels: limit });
      } catch (error) {
        throw renumberImageError(error, start, images.length);
      }
      const output = await this.run(tensor, [chunk.length, 3, height, width]);
      for (let i = 0; i < chunk.length; i++) rows.push(output.slice(i * k, (i + 1) * k));
    }
    return rows;
  }

  private labeller(): (index: number) => string {
    if (this.options.model.labels === 'imagenet-1k' && this.logitsClasses === null) {
      this.labelsCache ??= imagenetLabels();
      const labels = this.labelsCache;
      return (index) => labels[index] ?? `class ${index}`;
    }
    return (index) => `class ${index}`;
  }
}

/** Image errors from a chunk name the image's index in the whole call. */
function renumberImageError(error: unknown, offset: number, count: number): unknown {
  if (!(error instanceof Error) || (offset === 0 && count <= 1)) return error;
  const match = /^cannot decode (?:image (\d+) of \d+|the image): /.exec(error.message);
  if (match === null) return error;
  const index = offset + (match[1] === undefined ? 0 : Number(match[1]));
  error.message = `cannot decode image ${index} of ${count}: ${error.message.slice(match[0].length)}`;
  return error;
}
