/** `serve`: the HTTP (and gRPC) inference server until SIGTERM/SIGINT, then a graceful drain. */
import { createServer, type InferenceServer, type ServeOptions } from '../serve';
import { GRPC_HINT, grpcAvailable } from '../serve/grpc/load';
import { gcHeadroomSetting, startGcHeadroom } from '../serve/heap-growth';
import { readModelConfigFile } from '../serve/model-config';
import { describeMemoryFit } from '../system/memory-fit';
import { getModel } from '../models/registry';
import { cliProgress, setupLine, syntheticNotice } from './session';
import { defined, flagTermsError, optionalInputSize, optionalInteger, parse, type Parsed, printedHelp, SESSION_OPTIONS, sessionOptions } from './args';
import { EXIT_OK, UsageError, type CliIo } from './io';

const SERVE_OPTIONS = {
  ...SESSION_OPTIONS,
  'input-size': { type: 'string' },
  host: { type: 'string' },
  port: { type: 'string' },
  'max-queue-delay-us': { type: 'string' },
  'max-queue-size': { type: 'string' },
  'preferred-batch-sizes': { type: 'string' },
  instances: { type: 'string' },
  token: { type: 'string' },
  'max-body-bytes': { type: 'string' },
  'max-input-pixels': { type: 'string' },
  'request-timeout-ms': { type: 'string' },
  'model-name': { type: 'string' },
  'no-warmup': { type: 'boolean' },
  config: { type: 'string' },
  'grpc-port': { type: 'string' },
  'no-grpc': { type: 'boolean' },
  'model-control': { type: 'string' },
} as const;

/** The gRPC port when --grpc-port is not given and the optional gRPC packages are installed. */
export const DEFAULT_GRPC_PORT = 8001;

/** Options that describe the one model of the shortcut; with --config each model gives its own. */
const ONE_MODEL_OPTIONS = ['model', 'weights', 'weights-sha256', 'device', 'precision', 'max-batch', 'threads', 'convolution', 'streams', 'no-benchmark', 'input-size',
  'instances', 'max-queue-delay-us', 'max-queue-size', 'preferred-batch-sizes', 'model-name'] as const;

/** Resolves when the process should stop (first SIGTERM or SIGINT); tests pass their own. */
export type StopSignal = Promise<string>;

function processStopSignal(io: CliIo): StopSignal {
  return new Promise((resolve) => {
    const stop = (signal: NodeJS.Signals): void => {
      resolve(signal);
      // A second signal while draining: give up on the drain.
      process.once(signal, () => {
        io.stderr(`${signal} again: exiting without finishing the accepted requests\n`);
        process.exit(1);
      });
    };
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  });
}

function nonNegativeInteger(parsed: Parsed, name: string): number | undefined {
  const value = parsed.values[name];
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || !/^[0-9]+$/.test(value)) throw new UsageError(`--${name} expects a non-negative integer, got '${String(value)}'`, 'serve');
  return Number(value);
}

/**
 * Whether and where gRPC is served: --grpc-port P (an error, exit 2, when the optional packages
 * are missing), --no-grpc, or by default port 8001 when the packages are installed.
 */
function grpcChoice(parsed: Parsed): { port: number | undefined; line: string | undefined } {
  const explicit = nonNegativeInteger(parsed, 'grpc-port');
  if (explicit !== undefined && parsed.values['no-grpc'] === true) throw new UsageError('--grpc-port and --no-grpc contradict each other; give one', 'serve');
  if (parsed.values['no-grpc'] === true) return { port: undefined, line: 'gRPC: not served (--no-grpc)' };
  const available = grpcAvailable();
  if (explicit !== undefined) {
    if (!available) throw new UsageError(`--grpc-port ${explicit}: ${GRPC_HINT}`, 'serve');
    return { port: explicit, line: undefined };
  }
  if (!available) return { port: undefined, line: `gRPC: not served; ${GRPC_HINT} (then it is served on port ${DEFAULT_GRPC_PORT}, or --grpc-port P)` };
  return { port: DEFAULT_GRPC_PORT, line: undefined };
}

export async function serveCommand(argv: readonly string[], io: CliIo, stopSignal?: StopSignal): Promise<number> {
  const parsed = parse('serve', argv, SERVE_OPTIONS, false);
  if (printedHelp(parsed, 'serve', io)) return EXIT_OK;
  const control = parsed.values['model-control'];
  if (control !== undefined && control !== 'none' && control !== 'explicit') throw new UsageError(`--model-control expects 'none' or 'explicit', got '${String(control)}'`, 'serve');
  const grpc = grpcChoice(parsed);
  const token = typeof parsed.values.token === 'string' ? parsed.values.token : process.env.INCEPTION_SERVE_TOKEN || undefined;
  const port = nonNegativeInteger(parsed, 'port');
  if (port !== undefined && port > 65535) throw new UsageError(`--port expects 0 to 65535 (0 picks a free port), got '${port}'`, 'serve');
  if (grpc.port !== undefined && grpc.port > 65535) throw new UsageError(`--grpc-port expects 0 to 65535 (0 picks a free port), got '${grpc.port}'`, 'serve');
  const common = defined({
    host: typeof parsed.values.host === 'string' ? parsed.values.host : undefined,
    port,
    grpcPort: grpc.port,
    modelControl: control as ServeOptions['modelControl'],
    token,
    maxBodyBytes: optionalInteger(parsed, 'max-body-bytes', 'serve'),
    maxInputPixels: optionalInteger(parsed, 'max-input-pixels', 'serve'),
    requestTimeoutMs: optionalInteger(parsed, 'request-timeout-ms', 'serve'),
    log: (line: string) => io.stderr(`${line}\n`),
    warmup: parsed.values['no-warmup'] === true ? false : undefined,
  });
  const models = modelOptions(parsed, io);
  const gcSetting = gcHeadroomSetting();
  // The server's own option errors (e.g. --preferred-batch-sizes over --max-batch) are command-line errors.
  const server = await createServer({ ...common, ...models }).catch((error: unknown) => {
    throw flagTermsError(error, 'serve');
  });
  const gc = startGcHeadroom(gcSetting, () => serverBusy(server));
  const stop = stopSignal ?? processStopSignal(io);
  try {
    for (const model of server.models) {
      const source = model.loaded?.sessions[0].weightsSource;
      if (source?.kind === 'synthetic') io.stderr(server.models.length > 1 ? `${model.name}: ${syntheticNotice(source.profile)}` : syntheticNotice(source.profile));
    }
    if (server.warmup.sizes > 0) io.stderr(`warmed ${server.warmup.sizes} batch size(s) (${server.warmup.runs} runs) in ${(server.warmup.ms / 1000).toFixed(1)} s\n`);
    const { url, host, grpcPort } = await server.listen();
    printServing(server, url, token !== undefined, io);
    io.stderr(`${gcSetting.line}\n`);
    io.stderr(grpcPort === undefined ? `${grpc.line ?? 'gRPC: not served'}\n` : `gRPC: serving inference.GRPCInferenceService on ${host.includes(':') ? `[${host}]` : host}:${grpcPort}\n`);
  } catch (error) {
    await server.close();
    gc.stop();
    throw error;
  }
  const signal = await stop;
  let queuedRequests = 0;
  let runningBatches = 0;
  for (const model of server.models) {
    const stats = model.loaded?.batcher.stats;
    queuedRequests += stats?.queuedRequests ?? 0;
    runningBatches += stats?.runningBatches ?? 0;
  }
  io.stderr(`${signal}: no longer accepting; finishing ${queuedRequests} queued request(s) and ${runningBatches} running batch(es)\n`);
  await server.close();
  gc.stop();
  io.stderr('stopped\n');
  return EXIT_OK;
}

/** Whether the server has work: an HTTP request not yet answered, or a queued or running batch (gRPC calls included). */
function serverBusy(server: InferenceServer): boolean {
  if (server.requests.open > 0) return true;
  return server.models.some((model) => {
    const stats = model.loaded?.batcher.stats;
    return stats !== undefined && stats.queuedRequests + stats.runningBatches > 0;
  });
}

/** The models: --config FILE, or the one-model options (--model, --weights, ...). */
function modelOptions(parsed: Parsed, io: CliIo): Pick<ServeOptions, 'models' | 'session' | 'instances' | 'maxQueueDelayMicroseconds' | 'maxQueueSize' | 'preferredBatchSizes' | 'modelName'> {
  const config = parsed.values.config;
  if (typeof config === 'string') {
    const mixed = ONE_MODEL_OPTIONS.find((name) => parsed.values[name] !== undefined);
    if (mixed !== undefined) throw new UsageError(`--${mixed} describes the one model of the shortcut; with --config ${config}, set it in that model's entry`, 'serve');
    const models = readModelConfigFile(config).map((m) => (m.session === undefined ? m : { ...m, session: { ...m.session, onProgress: cliProgress(io) } }));
    for (const m of models) if (m.session !== undefined) io.stderr(setupLine({ ...m.session, maxBatch: m.session.maxBatch ?? m.maxBatch }).replace('setting up ', `${m.name ?? m.session.model}: setting up `));
    return { models };
  }
  const options = sessionOptions(parsed, 'serve');
  const session = defined({ ...options, inputSize: optionalInputSize(parsed, getModel(options.model), 'serve'), onProgress: cliProgress(io) });
  const preferredText = parsed.values['preferred-batch-sizes'];
  let preferred: number[] | undefined;
  if (typeof preferredText === 'string') {
    preferred = preferredText.split(',').map((p) => Number(p));
    if (preferred.some((p) => !Number.isInteger(p) || p < 1)) throw new UsageError(`--preferred-batch-sizes expects positive integers like 4,8; got '${preferredText}'`, 'serve');
  }
  const instances = optionalInteger(parsed, 'instances', 'serve');
  io.stderr(instances !== undefined && instances > 1 ? setupLine(session).replace('setting up ', `setting up ${instances} instances of `) : setupLine(session));
  return defined({
    session,
    instances,
    maxQueueDelayMicroseconds: nonNegativeInteger(parsed, 'max-queue-delay-us'),
    maxQueueSize: optionalInteger(parsed, 'max-queue-size', 'serve'),
    preferredBatchSizes: preferred,
    modelName: typeof parsed.values['model-name'] === 'string' ? parsed.values['model-name'] : undefined,
  });
}

/** One line per model: what runs it and where it answers. */
function printServing(server: InferenceServer, url: string, withToken: boolean, io: CliIo): void {
  for (const model of server.models) {
    const loaded = model.loaded;
    if (loaded === undefined) {
      io.stderr(`model ${model.name}: ${model.reason}\n`);
      continue;
    }
    const info = loaded.sessions[0].info;
    io.stderr(`${server.models.length > 1 ? `${model.name}: ` : ''}${describeMemoryFit(loaded.resources.memory)}\n`);
    io.stderr(
      `serving ${model.name} (${info.device}, ${info.precision}, ${loaded.sessions.length} instance(s), ${loaded.resources.threads}, max batch ${loaded.batcher.maxBatch}, ` +
        `input ${info.inputShape[2]}x${info.inputShape[3]}) on ${url}/v2/models/${model.name}${withToken ? ' (bearer token required)' : ''}\n`,
    );
  }
}
