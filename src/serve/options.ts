/** Server options: the public shape and their validation (unknown keys rejected). */
import { InvalidArgumentError, invalidParam } from '../errors';
import { DEFAULT_MAX_INPUT_PIXELS } from '../preprocess/image';
import { MODEL_NAME, resolveModelConfigs, type ModelConfig, type ResolvedModelConfig } from './model-config';

export type ModelControl = 'none' | 'explicit';

/**
 * The one-model shortcut's fields (session or sessions, instances, maxBatch, the queue options)
 * are those of a ModelConfig; its name is `modelName` here.
 */
export interface ServeOptions extends Omit<ModelConfig, 'name'> {
  /**
   * The models to host (the model repository), each with its own sessions and batcher; the same
   * object as `serve --config models.json`. Or, for one model, the shortcut below: session or
   * sessions, with instances, maxBatch, the queue options and modelName.
   */
  readonly models?: readonly ModelConfig[];
  /** Host to listen on (default 127.0.0.1). */
  readonly host?: string;
  /** Port (default 8000; 0 picks a free one). */
  readonly port?: number;
  /** When set, every endpoint but /v2/health/* needs `Authorization: Bearer <token>`. */
  readonly token?: string;
  /** Largest request body (default 64 MiB). */
  readonly maxBodyBytes?: number;
  /** Largest image (width x height) classify decodes (default 100,000,000). */
  readonly maxInputPixels?: number;
  /** Per-request limit for queue plus compute, ms (default 30,000); 504 when exceeded. */
  readonly requestTimeoutMs?: number;
  /** Seconds suggested by Retry-After on 429 (default 1). */
  readonly retryAfterSeconds?: number;
  /** The model's name in URLs (default the model, e.g. 'inception_v4'). */
  readonly modelName?: string;
  /**
   * Serve the KServe v2 gRPC API (inference.GRPCInferenceService) on this port (0 picks a free
   * one) as well; needs the optional packages @grpc/grpc-js and @grpc/proto-loader. Default: no gRPC.
   */
  readonly grpcPort?: number;
  /**
   * 'explicit': the repository API (POST /v2/repository/index, .../models/{m}/load and /unload)
   * may load and unload the configured models. Default 'none': the set of models is fixed.
   */
  readonly modelControl?: ModelControl;
  /** Where internal errors are logged (default stderr). */
  readonly log?: (line: string) => void;
  /**
   * Before the server is returned, set up every batch size each session runs at, so no request
   * waits for it (default true): a CUDA session's info.runBatchSizes (algorithm timing, CUDA graph
   * capture), a CPU session's 1..maxBatch once each (oneDNN primitives). See src/serve/warmup.ts.
   */
  readonly warmup?: boolean;
}

export interface ResolvedServeOptions {
  readonly models: readonly ResolvedModelConfig[];
  readonly grpcPort: number | undefined;
  readonly modelControl: ModelControl;
  readonly host: string;
  readonly port: number;
  readonly token: string | undefined;
  readonly maxBodyBytes: number;
  readonly maxInputPixels: number;
  readonly requestTimeoutMs: number;
  readonly retryAfterSeconds: number;
  readonly log: (line: string) => void;
  readonly warmup: boolean;
}

export const DEFAULT_PORT = 8000;
export const DEFAULT_HOST = '127.0.0.1';
export const DEFAULT_MAX_BODY_BYTES = 64 * 1024 * 1024;
export const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;

/** The one-model shortcut's options: with `models`, each model gives its own. */
const SHORTCUT_KEYS: readonly string[] = ['session', 'sessions', 'instances', 'maxBatch', 'maxQueueDelayMicroseconds', 'preferredBatchSizes', 'maxQueueSize', 'modelName'];

const KNOWN_KEYS: readonly string[] = [
  'models',
  'grpcPort',
  'modelControl',
  'session',
  'sessions',
  'instances',
  'maxBatch',
  'maxQueueDelayMicroseconds',
  'preferredBatchSizes',
  'maxQueueSize',
  'host',
  'port',
  'token',
  'maxBodyBytes',
  'maxInputPixels',
  'requestTimeoutMs',
  'retryAfterSeconds',
  'modelName',
  'log',
  'warmup',
];

function positive(options: Record<string, unknown>, key: string, fallback: number, max: number): number {
  const value = options[key] ?? fallback;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1 || value > max) throw invalidParam(key, `an integer in [1, ${max}]`, value);
  return value;
}

export function resolveServeOptions(options: unknown): ResolvedServeOptions {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) throw invalidParam('server options', 'an object', options);
  const o = options as Record<string, unknown>;
  const unknown = Object.keys(o).filter((k) => !KNOWN_KEYS.includes(k));
  if (unknown.length > 0) throw new InvalidArgumentError(`Unknown server option '${unknown[0]}'; the options are: ${KNOWN_KEYS.join(', ')}`);
  const models = resolveModels(o);
  const grpcPort = o.grpcPort;
  if (grpcPort !== undefined && (typeof grpcPort !== 'number' || !Number.isInteger(grpcPort) || grpcPort < 0 || grpcPort > 65535)) {
    throw invalidParam('grpcPort', 'an integer in [0, 65535]', grpcPort);
  }
  const modelControl = o.modelControl ?? 'none';
  if (modelControl !== 'none' && modelControl !== 'explicit') throw invalidParam('modelControl', "'none' or 'explicit'", modelControl);
  const port = o.port ?? DEFAULT_PORT;
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 0 || port > 65535) throw invalidParam('port', 'an integer in [0, 65535]', port);
  const host = o.host ?? DEFAULT_HOST;
  if (typeof host !== 'string' || host.length === 0) throw invalidParam('host', 'a host name or address', host);
  const token = o.token;
  if (token !== undefined && (typeof token !== 'string' || token.length === 0)) throw invalidParam('token', 'a non-empty string', token);
  const log = o.log ?? ((line: string) => void process.stderr.write(`${line}\n`));
  if (typeof log !== 'function') throw invalidParam('log', 'a function', log);
  const warmup = o.warmup ?? true;
  if (typeof warmup !== 'boolean') throw invalidParam('warmup', 'a boolean', warmup);
  return {
    warmup,
    models,
    grpcPort: grpcPort as number | undefined,
    modelControl,
    host,
    port,
    token: token as string | undefined,
    maxBodyBytes: positive(o, 'maxBodyBytes', DEFAULT_MAX_BODY_BYTES, 2 ** 31 - 1),
    maxInputPixels: positive(o, 'maxInputPixels', DEFAULT_MAX_INPUT_PIXELS, Number.MAX_SAFE_INTEGER),
    requestTimeoutMs: positive(o, 'requestTimeoutMs', DEFAULT_REQUEST_TIMEOUT_MS, 2_147_483_647),
    retryAfterSeconds: positive(o, 'retryAfterSeconds', 1, 3600),
    log: log as (line: string) => void,
  };
}

/** The models: `models` as given, or the one-model shortcut's options as a one-model repository. */
function resolveModels(o: Record<string, unknown>): ResolvedModelConfig[] {
  if (o.models !== undefined) {
    const mixed = SHORTCUT_KEYS.find((k) => o[k] !== undefined);
    if (mixed !== undefined) throw new InvalidArgumentError(`'${mixed}' belongs inside each entry of models (or drop models and use the one-model options)`);
    return resolveModelConfigs(o.models);
  }
  if ((o.session === undefined) === (o.sessions === undefined)) {
    throw new InvalidArgumentError('pass exactly one of session (options of the sessions to create) or sessions (sessions you created), or models');
  }
  if (o.sessions !== undefined && o.instances !== undefined) {
    throw new InvalidArgumentError('instances applies to session only; with sessions, pass one session per instance');
  }
  const instances = positive(o, 'instances', 1, 64);
  if (o.modelName !== undefined && (typeof o.modelName !== 'string' || !MODEL_NAME.test(o.modelName))) {
    throw invalidParam('modelName', 'a name of letters, digits, _ . -', o.modelName);
  }
  const model: Record<string, unknown> = { instances };
  for (const key of ['session', 'sessions', 'maxBatch', 'maxQueueDelayMicroseconds', 'preferredBatchSizes', 'maxQueueSize']) {
    if (o[key] !== undefined) model[key] = o[key];
  }
  if (o.sessions !== undefined) delete model.instances;
  if (o.modelName !== undefined) model.name = o.modelName;
  return resolveModelConfigs([model]);
}
