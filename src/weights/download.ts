/**
 * Transfers one URL into `<file>.partial`, resuming with HTTP Range: within the call after a
 * broken connection (up to `retries` times, waiting 1 s, 2 s, 4 s ... between tries), and
 * across calls from the partial file an earlier call left (its `.partial.json` says which URL
 * and which upstream file it belongs to). A server that ignores Range (200 instead of 206), or
 * whose file changed (another X-Linked-Etag or ETag), restarts from byte 0. The caller hashes
 * and renames the finished file.
 */
import { createWriteStream } from 'node:fs';
import { readFile, rm, stat, truncate } from 'node:fs/promises';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { WeightsDownloadError } from '../errors';
import { packageVersion } from '../info';
import { httpGet, type HttpResponse } from './http-get';
import type { ProgressListener } from './progress';
import { writeJsonAtomic, type CachePaths } from './weights-cache';

export interface TransferRequest {
  readonly url: string;
  /** The tag, or the URL: names the download in messages and progress. */
  readonly label: string;
  readonly paths: CachePaths;
  readonly env: NodeJS.ProcessEnv;
  readonly onProgress?: ProgressListener;
  /** Tries after the first that fail on the network or a 5xx (default 5). */
  readonly retries?: number;
  /** The first wait between tries; doubles each time, at most 30 s (default 1000). */
  readonly retryDelayMs?: number;
  /** A connection idle this long fails (and is retried); default 60 s. */
  readonly timeoutMs?: number;
  /** Refuse files larger than this (default 4 GiB). */
  readonly maxBytes?: number;
}

export interface TransferResult {
  readonly bytes: number;
  readonly finalUrl: string;
  /** X-Linked-Etag's sha256 (the hub's LFS hash), or null. */
  readonly linkedSha256: string | null;
  readonly linkedSize: number | null;
  /** Tries made in this call (1 when nothing broke). */
  readonly attempts: number;
  readonly resumedFromBytes: number;
}

interface PartialRecord {
  url: string;
  totalBytes: number | null;
  /** A strong ETag of the final response, sent back as If-Range. */
  etag: string | null;
  linkedSha256: string | null;
}

export const DEFAULT_MAX_DOWNLOAD_BYTES = 4 * 1024 ** 3;

class RetryableError extends Error {}

async function sizeOf(file: string): Promise<number> {
  try {
    return (await stat(file)).size;
  } catch {
    return 0;
  }
}

async function readPartialRecord(paths: CachePaths, url: string): Promise<PartialRecord | null> {
  try {
    const record = JSON.parse(await readFile(paths.partialRecord, 'utf8')) as PartialRecord;
    return record.url === url ? record : null;
  } catch {
    return null;
  }
}

function header(response: HttpResponse, name: string): string | null {
  const v = response.headers[name];
  return typeof v === 'string' ? v : null;
}

export async function transfer(request: TransferRequest): Promise<TransferResult> {
  const { url, paths, label } = request;
  const retries = request.retries ?? 5;
  const retryDelayMs = request.retryDelayMs ?? 1000;
  const timeoutMs = request.timeoutMs ?? 60_000;
  const maxBytes = request.maxBytes ?? DEFAULT_MAX_DOWNLOAD_BYTES;
  const fail = (message: string, reason: 'http-status' | 'network' | 'checksum', cause?: unknown): WeightsDownloadError =>
    new WeightsDownloadError(`${label}: ${message}`, reason, url, paths.file, cause === undefined ? undefined : { cause });

  let record = await readPartialRecord(paths, url);
  let have = record === null ? 0 : await sizeOf(paths.partial);
  if (record === null) await rm(paths.partial, { force: true });
  const resumedFromBytes = have;
  if (have > 0) {
    request.onProgress?.({ phase: 'notice', label, url, file: paths.file, receivedBytes: have, totalBytes: record?.totalBytes ?? null, resumedFromBytes: have, bytesPerSecond: null, etaSeconds: null, message: `resuming ${label} from byte ${have} of ${record?.totalBytes ?? '?'} (${paths.partial})` });
  }
  let lastError: unknown = null;
  let finalUrl = url;

  for (let attempt = 1; attempt <= retries + 1; attempt++) {
    if (attempt > 1) await sleep(Math.min(30_000, retryDelayMs * 2 ** (attempt - 2)));
    const headers: Record<string, string> = { 'User-Agent': `inception-cudnn/${packageVersion()} node/${process.versions.node}`, 'Accept-Encoding': 'identity' };
    if (have > 0) {
      headers.Range = `bytes=${have}-`;
      if (record?.etag) headers['If-Range'] = record.etag;
    }
    try {
      let response: HttpResponse;
      try {
        response = await httpGet(url, { headers, env: request.env, timeoutMs });
      } catch (error) {
        if (error instanceof WeightsDownloadError) throw error;
        throw new RetryableError(`no answer from ${url}: ${(error as Error).message}`);
      }
      finalUrl = response.finalUrl;
      const status = response.status;
      if (status === 416 && record?.totalBytes === have) {
        response.body.resume();
        return { bytes: have, finalUrl, linkedSha256: record.linkedSha256, linkedSize: record.totalBytes, attempts: attempt, resumedFromBytes };
      }
      if (status === 416) {
        // Our partial file is not a prefix the server can continue (longer than its file, or another file).
        response.body.resume();
        await rm(paths.partial, { force: true });
        have = 0;
        record = null;
        throw new RetryableError(`HTTP 416 for Range bytes=${headers.Range?.slice('bytes='.length) ?? ''} from ${finalUrl}; starting again from byte 0`);
      }
      if (status >= 500 || status === 429 || status === 408) throw new RetryableError(`HTTP ${status} from ${finalUrl}`);
      if (status !== 200 && status !== 206) {
        response.body.resume();
        await rm(paths.partial, { force: true });
        await rm(paths.partialRecord, { force: true });
        const hint =
          status === 404
            ? 'the file is not there: check the tag or URL, and that a mirror (INCEPTION_WEIGHTS_MIRROR, HF_ENDPOINT) serves this path'
            : status === 401 || status === 403
              ? 'access was refused: the file may be private or gated, or a proxy blocks it'
              : 'the server refused the download';
        throw fail(`HTTP ${status} ${response.body.statusMessage ?? ''} for ${url}${finalUrl !== url ? ` (redirected to ${finalUrl})` : ''}: ${hint}`.replace(/ +:/, ':'), 'http-status');
      }
      const etag = header(response, 'etag');
      const strongEtag = etag !== null && !etag.startsWith('W/') ? etag : null;
      let start = 0;
      let total: number | null;
      if (status === 206) {
        const range = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(header(response, 'content-range') ?? '');
        if (range === null || Number(range[1]) !== have) {
          response.body.resume();
          const problem = `the server answered Range bytes=${have}- with Content-Range '${header(response, 'content-range')}'; starting again from byte 0`;
          await truncate(paths.partial, 0).catch(() => undefined);
          have = 0;
          throw new RetryableError(problem);
        }
        start = have;
        total = range[3] === '*' ? null : Number(range[3]);
      } else {
        const length = header(response, 'content-length');
        total = length !== null && /^\d+$/.test(length) ? Number(length) : null;
      }
      const changed = (record?.linkedSha256 ?? null) !== null && response.linkedSha256 !== null && record?.linkedSha256 !== response.linkedSha256;
      if (status === 200 || changed) {
        // Range ignored, or the upstream file changed: the bytes we have are worthless.
        if (changed && status === 206) {
          response.body.resume();
          await truncate(paths.partial, 0).catch(() => undefined);
          have = 0;
          record = null;
          throw new RetryableError('the upstream file changed since the partial download');
        }
        await rm(paths.partial, { force: true });
        have = 0;
        start = 0;
      }
      if (total !== null && response.linkedSize !== null && total !== response.linkedSize) {
        throw fail(`the server sends ${total} bytes but X-Linked-Size says ${response.linkedSize}; the mirror or CDN is serving another file`, 'checksum');
      }
      if (total !== null && total > maxBytes) {
        response.body.resume();
        throw fail(`the server announces ${total} bytes, more than the ${maxBytes}-byte limit for a checkpoint`, 'checksum');
      }
      record = { url, totalBytes: total, etag: strongEtag, linkedSha256: response.linkedSha256 ?? record?.linkedSha256 ?? null };
      await writeJsonAtomic(paths.partialRecord, record);

      let received = start;
      const transferStart = Date.now();
      const report = (): void => {
        const seconds = (Date.now() - transferStart) / 1000;
        const rate = seconds > 0.2 ? (received - start) / seconds : null;
        request.onProgress?.({
          phase: 'downloading', label, url, file: paths.file, receivedBytes: received, totalBytes: total, resumedFromBytes: start,
          bytesPerSecond: rate, etaSeconds: rate !== null && rate > 0 && total !== null ? (total - received) / rate : null, message: null,
        });
      };
      report();
      const counter = new Transform({
        transform(chunk: Buffer, _encoding, callback) {
          received += chunk.length;
          if (received > maxBytes || (total !== null && received > total)) {
            callback(new Error(`more bytes than announced (${received} > ${total ?? maxBytes})`));
            return;
          }
          report();
          callback(null, chunk);
        },
      });
      try {
        await pipeline(response.body, counter, createWriteStream(paths.partial, { flags: 'a' }));
      } catch (error) {
        have = await sizeOf(paths.partial);
        throw new RetryableError(`the transfer broke at byte ${have}: ${(error as Error).message}`);
      }
      have = await sizeOf(paths.partial);
      if (total !== null && have !== total) throw new RetryableError(`the connection closed at byte ${have} of ${total}`);
      report();
      return { bytes: have, finalUrl, linkedSha256: record.linkedSha256, linkedSize: response.linkedSize, attempts: attempt, resumedFromBytes };
    } catch (error) {
      if (!(error instanceof RetryableError)) throw error;
      lastError = error;
      request.onProgress?.({ phase: 'notice', label, url, file: paths.file, receivedBytes: have, totalBytes: record?.totalBytes ?? null, resumedFromBytes: have, bytesPerSecond: null, etaSeconds: null, message: `${label}: ${error.message}; ${attempt <= retries ? `retrying (${attempt} of ${retries})` : 'giving up'}` });
    }
  }
  throw fail(
    `the download from ${finalUrl} failed ${retries + 1} times (last: ${(lastError as Error | null)?.message ?? 'unknown'}). ` +
      `${have} bytes are kept in ${paths.partial}; run the same command again to resume, or check the network, HTTPS_PROXY and NO_PROXY`,
    'network',
    lastError,
  );
}
