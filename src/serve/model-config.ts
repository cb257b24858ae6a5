/**
 * The model repository's configuration: which models one server hosts, each with its own
 * sessions (created from session options, or given by the caller) and its own batcher settings.
 * `serve --config models.json` reads the same object as createServer's `models` option:
 *
 *   { "models": [ { "name": "classifier", "session": { "model": "inception_v4", "weights": "w.safetensors",
 *                   "device": "cpu", "precision": "fp32" }, "instances": 1, "maxBatch": 8,
 *                   "maxQueueDelayMicroseconds": 2000, "maxQueueSize": 256 } ] }
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { InvalidArgumentError, invalidParam } from '../errors';
import type { SessionOptions } from '../runtime/options';
import type { Session } from '../runtime/session';
import { checkSessions } from '../batcher/options';

export interface ModelConfig {
  /** The model's name in URLs and gRPC requests (default the session's model, e.g. 'inception_v4'). */
  readonly name?: string;
  /** Options of the sessions to create and own (disposed on unload and close). */
  readonly session?: SessionOptions;
  /** Or sessions made by the caller (never disposed by the server); all the same model and input size. */
  readonly sessions?: readonly Session[];
  /** With `session`: how many instances (default 1). CPU instances share the cores unless session.threads is set. */
  readonly instances?: number;
  /** Images per batch (default: the sessions' maxBatch; also the created sessions' maxBatch when theirs is unset). */
  readonly maxBatch?: number;
  readonly maxQueueDelayMicroseconds?: number;
  readonly preferredBatchSizes?: readonly number[];
  /** Requests waiting before the model refuses more (HTTP 429, gRPC RESOURCE_EXHAUSTED; default 1024). */
  readonly maxQueueSize?: number;
}

/** A model config checked, with its name decided. */
export interface ResolvedModelConfig extends ModelConfig {
  readonly name: string;
  readonly instances: number;
}

const MODEL_KEYS: readonly string[] = ['name', 'session', 'sessions', 'instances', 'maxBatch', 'maxQueueDelayMicroseconds', 'preferredBatchSizes', 'maxQueueSize'];

export const MODEL_NAME = /^[A-Za-z0-9_.-]+$/;

/** Checks each config (unknown keys, exactly one of session/sessions, names unique); batcher values are checked by the batcher. */
export function resolveModelConfigs(models: unknown): ResolvedModelConfig[] {
  if (!Array.isArray(models) || models.length === 0) throw invalidParam('models', 'a non-empty array of model configs', models);
  const names = new Set<string>();
  return models.map((entry: unknown, i) => {
    const where = `models[${i}]`;
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) throw invalidParam(where, 'an object', entry);
    const o = entry as Record<string, unknown>;
    const unknown = Object.keys(o).filter((k) => !MODEL_KEYS.includes(k));
    if (unknown.length > 0) throw new InvalidArgumentError(`Unknown option '${unknown[0]}' in ${where}; a model's options are: ${MODEL_KEYS.join(', ')}`);
    if ((o.session === undefined) === (o.sessions === undefined)) {
      throw new InvalidArgumentError(`${where}: pass exactly one of session (options of the sessions to create) or sessions (sessions you created)`);
    }
    if (o.sessions !== undefined && o.instances !== undefined) {
      throw new InvalidArgumentError(`${where}: instances applies to session only; with sessions, pass one session per instance`);
    }
    if (o.session !== undefined && (typeof o.session !== 'object' || o.session === null)) throw invalidParam(`${where}.session`, 'session options', o.session);
    // Caller's sessions are checked first (a Session or a non-empty array of them, one model and input size).
    if (o.sessions !== undefined) checkSessions(o.sessions);
    const instances = o.instances ?? 1;
    if (typeof instances !== 'number' || !Number.isSafeInteger(instances) || instances < 1 || instances > 64) {
      throw invalidParam(`${where}.instances`, 'an integer in [1, 64]', instances);
    }
    const name = o.name ?? defaultName(o);
    if (typeof name !== 'string' || !MODEL_NAME.test(name)) throw invalidParam(`${where}.name`, 'a name of letters, digits, _ . -', name);
    if (names.has(name)) throw new InvalidArgumentError(`${where}: the name '${name}' is used by an earlier model; give each model its own name`);
    names.add(name);
    return { ...(o as ModelConfig), name, instances };
  });
}

function defaultName(o: Record<string, unknown>): unknown {
  if (o.session !== undefined) return (o.session as { model?: unknown }).model;
  const first = (Array.isArray(o.sessions) ? o.sessions[0] : o.sessions) as { info?: { model?: unknown } } | undefined;
  return first?.info?.model;
}

/**
 * Reads a models.json file: `{"models": [ModelConfig...]}` with session options only (sessions
 * cannot be written in JSON). A relative weights path is taken relative to the file's folder.
 */
export function readModelConfigFile(file: string): ModelConfig[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new InvalidArgumentError(`cannot read the model config ${file}: ${(error as Error).message}`, { cause: error });
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new InvalidArgumentError(`the model config ${file} is not valid JSON: ${(error as Error).message}`, { cause: error });
  }
  if (typeof parsed !== 'object' || parsed === null || !Array.isArray((parsed as { models?: unknown }).models)) {
    throw new InvalidArgumentError(`the model config ${file} must be a JSON object {"models": [{"name": ..., "session": {...}}, ...]}`);
  }
  const keys = Object.keys(parsed).filter((k) => k !== 'models');
  if (keys.length > 0) throw new InvalidArgumentError(`Unknown key '${keys[0]}' in the model config ${file}; it holds only "models"`);
  const folder = path.dirname(path.resolve(file));
  return (parsed as { models: unknown[] }).models.map((model, i) => {
    if (typeof model !== 'object' || model === null) throw invalidParam(`models[${i}] in ${file}`, 'an object', model);
    const m = model as Record<string, unknown>;
    if (m.sessions !== undefined) throw new InvalidArgumentError(`models[${i}] in ${file}: a config file gives "session" options; "sessions" exists only in the API`);
    const session = m.session as Record<string, unknown> | undefined;
    if (session !== undefined && typeof session === 'object' && session !== null && typeof session.weights === 'string' && !isUrlLike(session.weights)) {
      return { ...m, session: { ...session, weights: path.resolve(folder, session.weights) } } as ModelConfig;
    }
    return m as ModelConfig;
  });
}

/** Weights strings that are not file paths (URLs and tags such as 'synthetic' resolve elsewhere). */
function isUrlLike(weights: string): boolean {
  return /^[a-z][a-z0-9+.-]*:/i.test(weights) || !/[/\\.]/.test(weights);
}
