/**
 * Where downloaded checkpoints live, and the record kept beside each one.
 *
 * Directory: INCEPTION_CACHE_DIR, else $XDG_CACHE_HOME/inception-cudnn, else
 * ~/.cache/inception-cudnn. A known tag's file is `<cache>/<tag>/<file name>`; a file fetched
 * by URL is `<cache>/url/<first 16 hex of sha256(url)>/<last path segment>`. Beside the file:
 * `<file>.json` (the record: URL, size, sha256 and what verified it), and while a download is
 * under way or interrupted `<file>.partial` (+ `.partial.json`) and `<file>.lock`.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readFile, rename, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import * as path from 'node:path';
import { WeightsDownloadError } from '../errors';

export interface CachePaths {
  readonly dir: string;
  readonly file: string;
  readonly record: string;
  readonly partial: string;
  readonly partialRecord: string;
  readonly lock: string;
}

/** How a cached file's sha256 was established. */
export type VerifiedBy = 'pinned' | 'hub-etag' | 'user' | 'first-download';

export interface CacheRecord {
  readonly url: string;
  readonly tag: string | null;
  readonly bytes: number;
  readonly sha256: string;
  readonly verifiedBy: readonly VerifiedBy[];
  readonly downloadedAt: string;
}

export function weightsCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.INCEPTION_CACHE_DIR) return path.resolve(env.INCEPTION_CACHE_DIR);
  if (env.XDG_CACHE_HOME) return path.join(path.resolve(env.XDG_CACHE_HOME), 'inception-cudnn');
  return path.join(homedir(), '.cache', 'inception-cudnn');
}

function pathsIn(dir: string, fileName: string): CachePaths {
  const file = path.join(dir, fileName);
  return { dir, file, record: `${file}.json`, partial: `${file}.partial`, partialRecord: `${file}.partial.json`, lock: `${file}.lock` };
}

export function tagCachePaths(cacheDir: string, tag: string, fileName: string): CachePaths {
  return pathsIn(path.join(cacheDir, tag), fileName);
}

export function urlCachePaths(cacheDir: string, url: string): CachePaths {
  const digest = createHash('sha256').update(url).digest('hex').slice(0, 16);
  const segment = decodeURIComponent(new URL(url).pathname.split('/').pop() ?? '').replace(/[^A-Za-z0-9._-]/g, '_').replace(/^\.+/, '');
  return pathsIn(path.join(cacheDir, 'url', digest), segment === '' ? 'download' : segment.slice(0, 128));
}

/** sha256 of a file, streamed (about 1 GB/s here; 0.2 s for a 224 MB checkpoint). */
export function sha256OfFile(file: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const hash = createHash('sha256');
    createReadStream(file, { highWaterMark: 1 << 20 })
      .on('data', (chunk) => hash.update(chunk))
      .on('error', reject)
      .on('end', () => resolve(hash.digest('hex')));
  });
}

/** The record beside `paths.file`, or null when there is none or it is unreadable. */
export async function readCacheRecord(paths: CachePaths): Promise<CacheRecord | null> {
  let text: string;
  try {
    text = await readFile(paths.record, 'utf8');
  } catch {
    return null;
  }
  try {
    const r = JSON.parse(text) as Partial<CacheRecord>;
    if (typeof r.url === 'string' && typeof r.bytes === 'number' && typeof r.sha256 === 'string' && /^[0-9a-f]{64}$/.test(r.sha256) && Array.isArray(r.verifiedBy)) {
      return { url: r.url, tag: typeof r.tag === 'string' ? r.tag : null, bytes: r.bytes, sha256: r.sha256, verifiedBy: r.verifiedBy, downloadedAt: String(r.downloadedAt ?? '') };
    }
  } catch {
    // An unreadable record counts as none: the file is verified again.
  }
  return null;
}

/** Writes JSON atomically (temp file + rename). */
export async function writeJsonAtomic(file: string, value: unknown): Promise<void> {
  const temp = `${file}.${process.pid}.tmp`;
  try {
    await writeFile(temp, `${JSON.stringify(value, null, 1)}\n`);
    await rename(temp, file);
  } catch (cause) {
    throw new WeightsDownloadError(`cannot write ${file}: ${(cause as Error).message}; check that the cache directory is writable (or set INCEPTION_CACHE_DIR)`, 'cache', null, file, { cause });
  }
}
