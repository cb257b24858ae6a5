/**
 * pullWeights: a known tag or a URL to a verified file in the cache, downloading it when
 * needed (once, under a lock), checking its sha256 before first use, and checking a cached
 * file against its record (size and sha256) on every use.
 *
 * Expected hashes, all of which must hold: the table's pinned one, the hub's X-Linked-Etag,
 * and the caller's (`sha256`). With none of them (facenet's release files) the first
 * download's hash is recorded, and later uses are checked against that record.
 */
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import { WeightsDownloadError } from '../errors';
import type { ModelName } from '../models/types';
import { transfer } from './download';
import { effectiveUrl, offlineMode } from './download-url';
import { withFileLock } from './file-lock';
import { findKnownCheckpoint, knownCheckpoints, parseSha256, type KnownCheckpoint } from './known-checkpoints';
import type { DownloadProgress, ProgressListener } from './progress';
import { parseWeightsReference } from './weights-reference';
import {
  readCacheRecord,
  sha256OfFile,
  tagCachePaths,
  urlCachePaths,
  weightsCacheDir,
  writeJsonAtomic,
  type CachePaths,
  type CacheRecord,
  type VerifiedBy,
} from './weights-cache';

export interface PullOptions {
  /** Needed for 'pretrained'; when given, a tag must belong to it. */
  readonly model?: ModelName;
  /** A sha256 the file must have (in addition to the pinned one, if any). */
  readonly sha256?: string;
  readonly onProgress?: ProgressListener;
  /** Environment to read (default process.env): cache dir, mirrors, offline mode, proxy. */
  readonly env?: NodeJS.ProcessEnv;
  /** First wait between download retries (default 1000 ms). */
  readonly retryDelayMs?: number;
  /** Retries after a broken connection (default 5). */
  readonly retries?: number;
  /** A lock file not refreshed for this long is broken (default 60 s). */
  readonly lockStaleMs?: number;
}

export interface PulledWeights {
  /** The verified file in the cache. */
  readonly path: string;
  readonly tag: string | null;
  /** The URL it came from. */
  readonly url: string;
  readonly bytes: number;
  readonly sha256: string;
  readonly verifiedBy: readonly VerifiedBy[];
  /** True when no byte was downloaded by this call. */
  readonly fromCache: boolean;
}

/** A resolved download: what to fetch, where it goes, which hashes it must have. */
export interface DownloadTarget {
  readonly label: string;
  readonly tag: string | null;
  readonly entry: KnownCheckpoint | null;
  readonly url: string;
  readonly paths: CachePaths;
  readonly expected: ReadonlyArray<{ readonly sha256: string; readonly by: VerifiedBy }>;
}

/** Where `source` (a tag, 'pretrained' or a URL) lives in the cache, and what it must hash to. */
export function downloadTarget(source: string, options: Pick<PullOptions, 'model' | 'sha256' | 'env'> = {}): DownloadTarget {
  const env = options.env ?? process.env;
  const reference = parseWeightsReference(source, options.model ?? null);
  const expected: Array<{ sha256: string; by: VerifiedBy }> = [];
  if (options.sha256 !== undefined) expected.push({ sha256: parseSha256(options.sha256, 'sha256'), by: 'user' });
  const cacheDir = weightsCacheDir(env);
  if (reference.kind === 'tag') {
    const entry = findKnownCheckpoint(reference.tag, knownCheckpoints(env))!;
    if (entry.sha256 !== null) expected.unshift({ sha256: entry.sha256, by: 'pinned' });
    return { label: entry.tag, tag: entry.tag, entry, url: effectiveUrl(entry, env), paths: tagCachePaths(cacheDir, entry.tag, entry.fileName), expected };
  }
  if (reference.kind === 'url') return { label: reference.url, tag: null, entry: null, url: reference.url, paths: urlCachePaths(cacheDir, reference.url), expected };
  throw new WeightsDownloadError(`'${source}' is a local path, not a tag or URL; nothing to download`, 'url', null, reference.path);
}

function progressEvent(target: DownloadTarget, phase: DownloadProgress['phase'], bytes: number, message: string | null): DownloadProgress {
  return { phase, label: target.label, url: target.url, file: target.paths.file, receivedBytes: bytes, totalBytes: bytes, resumedFromBytes: 0, bytesPerSecond: null, etaSeconds: null, message };
}

/** The hashes `sha256` fails, as "pinned a756..." phrases; empty when it matches them all. */
function mismatches(sha256: string, expected: DownloadTarget['expected']): string[] {
  return expected.filter((e) => e.sha256 !== sha256).map((e) => `${e.by === 'user' ? 'the one you gave' : e.by === 'pinned' ? 'the pinned one' : e.by} ${e.sha256}`);
}

type CacheCheck = { state: 'missing' } | { state: 'ok'; record: CacheRecord } | { state: 'bad'; problem: string };

/** Checks the cached file against its record (size, sha256) and against the expected hashes. */
export async function checkCachedFile(target: DownloadTarget): Promise<CacheCheck> {
  let size: number;
  try {
    size = (await stat(target.paths.file)).size;
  } catch {
    return { state: 'missing' };
  }
  const record = await readCacheRecord(target.paths);
  if (record !== null && record.bytes !== size) return { state: 'bad', problem: `it has ${size} bytes but ${record.bytes} were recorded` };
  const sha256 = await sha256OfFile(target.paths.file);
  if (record !== null && record.sha256 !== sha256) return { state: 'bad', problem: `its sha256 is ${sha256} but ${record.sha256} was recorded` };
  const wrong = mismatches(sha256, target.expected);
  if (wrong.length > 0) return { state: 'bad', problem: `its sha256 ${sha256} is not ${wrong.join(' nor ')}` };
  if (record !== null) return { state: 'ok', record };
  // A file copied into the cache by hand (air-gapped machines): record what it is now.
  const adopted: CacheRecord = { url: target.url, tag: target.tag, bytes: size, sha256, verifiedBy: target.expected.length > 0 ? target.expected.map((e) => e.by) : ['first-download'], downloadedAt: new Date().toISOString() };
  await writeJsonAtomic(target.paths.record, adopted);
  return { state: 'ok', record: adopted };
}

function fromRecord(target: DownloadTarget, record: CacheRecord): PulledWeights {
  return { path: target.paths.file, tag: target.tag, url: record.url, bytes: record.bytes, sha256: record.sha256, verifiedBy: record.verifiedBy, fromCache: true };
}

/** The tag or URL as a verified file in the cache, downloading it if needed. */
export async function pullWeights(source: string, options: PullOptions = {}): Promise<PulledWeights> {
  const env = options.env ?? process.env;
  const target = downloadTarget(source, options);
  const report = options.onProgress;
  const { offline, variable } = offlineMode(env);

  const cached = await checkCachedFile(target);
  if (cached.state === 'ok') return fromRecord(target, cached.record);
  if (cached.state === 'bad') {
    const problem = `the cached ${target.paths.file} is corrupted or out of date: ${cached.problem}`;
    if (offline) {
      throw new WeightsDownloadError(`${target.label}: ${problem}. ${variable}=${env[variable!]} forbids downloading it again: unset ${variable}, or copy a good file there (then 'inception-cudnn weights verify')`, 'offline', target.url, target.paths.file);
    }
    report?.(progressEvent(target, 'notice', 0, `${problem}; deleting it and downloading again`));
    await rm(target.paths.file, { force: true });
    await rm(target.paths.record, { force: true });
  }
  if (offline) {
    throw new WeightsDownloadError(
      `${target.label} is not in the cache (${target.paths.file}) and ${variable}=${env[variable!]} forbids downloading. ` +
        `Run 'inception-cudnn weights pull ${target.label}' where there is network and copy ${weightsCacheDir(env)} here (or point INCEPTION_CACHE_DIR at a copy), or unset ${variable}`,
      'offline',
      target.url,
      target.paths.file,
    );
  }

  try {
    await mkdir(target.paths.dir, { recursive: true });
  } catch (cause) {
    throw new WeightsDownloadError(`cannot create the cache directory ${target.paths.dir}: ${(cause as Error).message}; set INCEPTION_CACHE_DIR to a writable directory`, 'cache', target.url, target.paths.file, { cause });
  }
  return withFileLock(
    target.paths.lock,
    {
      staleMs: options.lockStaleMs,
      onWait: (owner) => report?.(progressEvent(target, 'waiting', 0, `waiting for another process${owner === null ? '' : ` (pid ${owner.pid} on ${owner.host})`} downloading ${target.label} (lock ${target.paths.lock})`)),
    },
    async () => {
      // Another process may have finished it while we waited.
      const again = await checkCachedFile(target);
      if (again.state === 'ok') return fromRecord(target, again.record);
      await rm(target.paths.file, { force: true });
      return downloadAndVerify(target, options, env);
    },
  );
}

async function downloadAndVerify(target: DownloadTarget, options: PullOptions, env: NodeJS.ProcessEnv): Promise<PulledWeights> {
  const result = await transfer({ url: target.url, label: target.label, paths: target.paths, env, onProgress: options.onProgress, retries: options.retries, retryDelayMs: options.retryDelayMs });
  options.onProgress?.(progressEvent(target, 'verifying', result.bytes, null));
  const sha256 = await sha256OfFile(target.paths.partial);
  const expected = [...target.expected];
  if (result.linkedSha256 !== null) expected.push({ sha256: result.linkedSha256, by: 'hub-etag' });
  const wrong = mismatches(sha256, expected);
  if (wrong.length > 0) {
    await rm(target.paths.partial, { force: true });
    await rm(target.paths.partialRecord, { force: true });
    throw new WeightsDownloadError(
      `${target.label}: the file downloaded from ${target.url}${result.finalUrl !== target.url ? ` (served by ${result.finalUrl})` : ''} has sha256 ${sha256}, ` +
        `but it must be ${wrong.join(' and ')}. It was deleted; nothing was cached. ` +
        'The download was corrupted, or the server (or a mirror) serves another file: try again, check INCEPTION_WEIGHTS_MIRROR / HF_ENDPOINT, or give the hash you expect with --weights-sha256',
      'checksum',
      target.url,
      target.paths.file,
    );
  }
  const verifiedBy: VerifiedBy[] = expected.length > 0 ? [...new Set(expected.map((e) => e.by))] : ['first-download'];
  const record: CacheRecord = { url: target.url, tag: target.tag, bytes: result.bytes, sha256, verifiedBy, downloadedAt: new Date().toISOString() };
  await writeJsonAtomic(target.paths.record, record);
  await rename(target.paths.partial, target.paths.file);
  await rm(target.paths.partialRecord, { force: true });
  const how = verifiedBy.includes('first-download') ? `no published hash: sha256 ${sha256} recorded for later checks` : `sha256 ${sha256} verified (${verifiedBy.join(', ')})`;
  options.onProgress?.(progressEvent(target, 'done', result.bytes, `${target.label}: ${result.bytes} bytes in ${target.paths.file}; ${how}`));
  return { path: target.paths.file, tag: target.tag, url: target.url, bytes: result.bytes, sha256, verifiedBy, fromCache: false };
}
