/**
 * Request targets to routes. The path is matched as the client sent it, still percent-encoded,
 * and only a matched segment (the model name, the version) is decoded afterwards: decoding first
 * let `/v2/models/%2e%2e` resolve to `/v2` (WHATWG URL parsing removes dot segments after
 * decoding), so an encoded path could reach a route its bytes do not name.
 */
import { HttpError } from './http';

export type Route =
  | { kind: 'live' | 'ready' | 'server' | 'metrics' | 'all-stats' | 'repository-index' }
  | { kind: 'model' | 'model-ready' | 'infer' | 'classify' | 'stats'; model: string; version: string | undefined }
  | { kind: 'model-load' | 'model-unload'; model: string };

export const METHODS: Readonly<Record<Route['kind'], 'GET' | 'POST'>> = {
  live: 'GET',
  ready: 'GET',
  server: 'GET',
  metrics: 'GET',
  model: 'GET',
  'model-ready': 'GET',
  infer: 'POST',
  classify: 'POST',
  stats: 'GET',
  'all-stats': 'GET',
  'repository-index': 'POST',
  'model-load': 'POST',
  'model-unload': 'POST',
};

const MODEL_ROUTE = /^\/v2\/models\/([^/]+)(?:\/versions\/([^/]+))?(?:\/(ready|infer|classify|stats))?\/?$/;
const REPOSITORY_ROUTE = /^\/v2\/repository\/models\/([^/]+)\/(load|unload)\/?$/;

/** The path (still percent-encoded) and query string of a request target; absolute-form targets (proxies) lose their scheme and host. */
export function splitTarget(target: string): { path: string; query: string } {
  const origin = /^[a-z][a-z0-9+.-]*:\/\/[^/?#]*/i.exec(target);
  const rest = origin === null ? target : target.slice(origin[0].length) || '/';
  const hash = rest.indexOf('#');
  const beforeFragment = hash < 0 ? rest : rest.slice(0, hash);
  const question = beforeFragment.indexOf('?');
  return question < 0 ? { path: beforeFragment, query: '' } : { path: beforeFragment.slice(0, question), query: beforeFragment.slice(question + 1) };
}

/** The route of a percent-encoded path, or undefined (404); a matched segment that is not valid percent-encoding is a 400. */
export function route(path: string): Route | undefined {
  if (path === '/v2/health/live') return { kind: 'live' };
  if (path === '/v2/health/ready') return { kind: 'ready' };
  if (path === '/v2' || path === '/v2/') return { kind: 'server' };
  if (path === '/metrics') return { kind: 'metrics' };
  if (path === '/v2/models/stats') return { kind: 'all-stats' };
  if (path === '/v2/repository/index') return { kind: 'repository-index' };
  const repository = REPOSITORY_ROUTE.exec(path);
  if (repository !== null) return { kind: repository[2] === 'load' ? 'model-load' : 'model-unload', model: decodeSegment(repository[1]) };
  const match = MODEL_ROUTE.exec(path);
  if (match === null) return undefined;
  const action = match[3] as 'ready' | 'infer' | 'classify' | 'stats' | undefined;
  return {
    kind: action === undefined ? 'model' : action === 'ready' ? 'model-ready' : action,
    model: decodeSegment(match[1]),
    version: match[2] === undefined ? undefined : decodeSegment(match[2]),
  };
}

function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new HttpError(400, `the request URL cannot be parsed: '${segment}' is not valid percent-encoding`);
  }
}
