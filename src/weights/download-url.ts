/**
 * Which URLs a download may use, and how known URLs move to a mirror: https:// anywhere, and
 * http:// only to this machine (loopback), so a checkpoint never travels in clear text.
 * HF_ENDPOINT replaces https://huggingface.co (as huggingface_hub reads it);
 * INCEPTION_WEIGHTS_MIRROR replaces the scheme and host of every known URL (hub and GitHub),
 * keeping the path, so one mirror can serve both layouts.
 */
import { isIP } from 'node:net';
import { WeightsDownloadError } from '../errors';
import type { KnownCheckpoint } from './known-checkpoints';

export function isLoopbackHost(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, '');
  if (host === 'localhost') return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  if (isIP(host) === 6) return host === '::1';
  return false;
}

/** The parsed URL when a download may use it, else a WeightsDownloadError saying why. */
export function checkDownloadUrl(url: string, context: string): URL {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new WeightsDownloadError(`${context}: '${url}' is not a URL`, 'url', url, null);
  }
  if (parsed.protocol === 'https:') return parsed;
  if (parsed.protocol === 'http:' && isLoopbackHost(parsed.hostname)) return parsed;
  if (parsed.protocol === 'http:') {
    throw new WeightsDownloadError(`${context}: ${url} is plain http to another machine; use https:// (http:// is accepted only for this machine, e.g. a local mirror on 127.0.0.1)`, 'url', url, null);
  }
  throw new WeightsDownloadError(`${context}: ${url} uses ${parsed.protocol}; checkpoints are downloaded over https:// only`, 'url', url, null);
}

/** The URL a known checkpoint is fetched from here, after HF_ENDPOINT and INCEPTION_WEIGHTS_MIRROR. */
export function effectiveUrl(entry: KnownCheckpoint, env: NodeJS.ProcessEnv = process.env): string {
  let url = entry.url;
  const endpoint = env.HF_ENDPOINT;
  if (entry.host === 'huggingface' && endpoint !== undefined && endpoint !== '' && url.startsWith('https://huggingface.co/')) {
    url = `${endpoint.replace(/\/+$/, '')}/${url.slice('https://huggingface.co/'.length)}`;
  }
  const mirror = env.INCEPTION_WEIGHTS_MIRROR;
  if (mirror !== undefined && mirror !== '') {
    const original = new URL(url);
    url = `${mirror.replace(/\/+$/, '')}${original.pathname}${original.search}`;
  }
  const variable = env.INCEPTION_WEIGHTS_MIRROR ? 'INCEPTION_WEIGHTS_MIRROR' : entry.host === 'huggingface' && env.HF_ENDPOINT ? 'HF_ENDPOINT' : null;
  checkDownloadUrl(url, variable === null ? entry.tag : `${entry.tag} (via ${variable})`);
  return url;
}

const TRUE_VALUES = ['1', 'true', 'yes', 'on'];
const FALSE_VALUES = ['', '0', 'false', 'no', 'off'];

/** INCEPTION_OFFLINE or HF_HUB_OFFLINE set to 1/true/yes/on; any value that is neither true nor false is an error. */
export function offlineMode(env: NodeJS.ProcessEnv = process.env): { offline: boolean; variable: string | null } {
  for (const variable of ['INCEPTION_OFFLINE', 'HF_HUB_OFFLINE']) {
    const value = env[variable];
    if (value === undefined) continue;
    const v = value.trim().toLowerCase();
    if (TRUE_VALUES.includes(v)) return { offline: true, variable };
    if (!FALSE_VALUES.includes(v)) {
      throw new WeightsDownloadError(`${variable}=${value} is neither true (1, true, yes, on) nor false (0, false, no, off, empty)`, 'offline', null, null);
    }
  }
  return { offline: false, variable: null };
}
