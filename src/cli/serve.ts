/** `serve`: the HTTP inference server until SIGTERM/SIGINT, then a graceful drain. */
import { createServer } from '../serve';
import { describeMemoryFit } from '../system/memory-fit';
import { cliProgress } from './session';
import { defined, flagTermsError, optionalInputSize, optionalInteger, parse, type Parsed, printedHelp, SESSION_OPTIONS, sessionOptions } from './args';
import { getModel } from '../models/registry';
import { setupLine, syntheticNotice } from './session';
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
} as const;

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

export async function serveCommand(argv: readonly string[], io: CliIo, stopSignal?: StopSignal): Promise<number> {
  const parsed = parse('serve', argv, SERVE_OPTIONS, false);
  if (printedHelp(parsed, 'serve', io)) return EXIT_OK;
  const options = sessionOptions(parsed, 'serve');
  const session = defined({ ...options, inputSize: optionalInputSize(parsed, getModel(options.model), 'serve'), onProgress: cliProgress(io) });
  const preferredText = parsed.values['preferred-batch-sizes'];
  let preferred: number[] | undefined;
  if (typeof preferredText === 'string') {
    preferred = preferredText.split(',').map((p) => Number(p));
    if (preferred.some((p) => !Number.isInteger(p) || p < 1)) throw new UsageError(`--preferred-batch-sizes expects positive integers like 4,8; got '${preferredText}'`, 'serve');
  }
  const token = typeof parsed.values.token === 'string' ? parsed.values.token : process.env.INCEPTION_SERVE_TOKEN || undefined;
  const instances = optionalInteger(parsed, 'instances', 'serve');
  const port = nonNegativeInteger(parsed, 'port');
  if (port !== undefined && port > 65535) throw new UsageError(`--port expects 0 to 65535 (0 picks a free port), got '${port}'`, 'serve');
  io.stderr(instances !== undefined && instances > 1 ? setupLine(session).replace('setting up ', `setting up ${instances} instances of `) : setupLine(session));
  // The server's own option errors (e.g. --preferred-batch-sizes over --max-batch) are command-line errors.
  const server = await createServer(
    defined({
      session,
      instances,
      maxQueueDelayMicroseconds: nonNegativeInteger(parsed, 'max-queue-delay-us'),
      maxQueueSize: optionalInteger(parsed, 'max-queue-size', 'serve'),
      preferredBatchSizes: preferred,
      host: typeof parsed.values.host === 'string' ? parsed.values.host : undefined,
      port,
      token,
      maxBodyBytes: optionalInteger(parsed, 'max-body-bytes', 'serve'),
      maxInputPixels: optionalInteger(parsed, 'max-input-pixels', 'serve'),
      requestTimeoutMs: optionalInteger(parsed, 'request-timeout-ms', 'serve'),
      modelName: typeof parsed.values['model-name'] === 'string' ? parsed.values['model-name'] : undefined,
      log: (line: string) => io.stderr(`${line}\n`),
      warmup: parsed.values['no-warmup'] === true ? false : undefined,
    }),
  ).catch((error: unknown) => {
    throw flagTermsError(error, 'serve');
  });
  const stop = stopSignal ?? processStopSignal(io);
  try {
    const source = server.sessions[0].weightsSource;
    if (source.kind === 'synthetic') io.stderr(syntheticNotice(source.profile));
    if (server.warmup.sizes > 0) io.stderr(`warmed ${server.warmup.sizes} batch size(s) (${server.warmup.runs} runs) in ${(server.warmup.ms / 1000).toFixed(1)} s\n`);
    const { url } = await server.listen();
    const info = server.sessions[0].info;
    io.stderr(`${describeMemoryFit(server.resources.memory)}\n`);
    io.stderr(
      `serving ${server.modelName} (${info.device}, ${info.precision}, ${server.sessions.length} instance(s), ${server.resources.threads}, max batch ${server.batcher.maxBatch}, ` +
        `input ${info.inputShape[2]}x${info.inputShape[3]}) on ${url}/v2/models/${server.modelName}${token === undefined ? '' : ' (bearer token required)'}\n`,
    );
  } catch (error) {
    await server.close();
    throw error;
  }
  const signal = await stop;
  const { queuedRequests, runningBatches } = server.batcher.stats;
  io.stderr(`${signal}: no longer accepting; finishing ${queuedRequests} queued request(s) and ${runningBatches} running batch(es)\n`);
  await server.close();
  io.stderr('stopped\n');
  return EXIT_OK;
}
