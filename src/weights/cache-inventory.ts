/**
 * What the cache holds, without hashing anything (the listing), and removing entries. Hashing
 * checks are pull.ts's checkCachedFile.
 */
import { existsSync } from 'node:fs';
import { readdir, rm, stat } from 'node:fs/promises';
import * as path from 'node:path';
import { WeightsDownloadError } from '../errors';
import { downloadTarget, type DownloadTarget } from './pull';
import { readCacheRecord, weightsCacheDir, type CacheRecord } from './weights-cache';

export interface CacheEntryStatus {
  /** The file and its record are there (not verified: 'weights verify' hashes). */
  readonly cached: boolean;
  readonly bytes: number | null;
  readonly record: CacheRecord | null;
  /** Bytes of an interrupted download kept for resuming, or null. */
  readonly partialBytes: number | null;
  readonly locked: boolean;
}

async function sizeOrNull(file: string): Promise<number | null> {
  try {
    return (await stat(file)).size;
  } catch {
    return null;
  }
}

export async function cacheEntryStatus(target: DownloadTarget): Promise<CacheEntryStatus> {
  const bytes = await sizeOrNull(target.paths.file);
  const record = await readCacheRecord(target.paths);
  return { cached: bytes !== null && record !== null, bytes, record, partialBytes: await sizeOrNull(target.paths.partial), locked: existsSync(target.paths.lock) };
}

/** Targets of the files downloaded by URL (from their records under <cache>/url). */
export async function cachedUrlTargets(env: NodeJS.ProcessEnv = process.env): Promise<DownloadTarget[]> {
  const root = path.join(weightsCacheDir(env), 'url');
  let dirs: string[];
  try {
    dirs = await readdir(root);
  } catch {
    return [];
  }
  const targets: DownloadTarget[] = [];
  for (const dir of dirs.sort()) {
    const names = await readdir(path.join(root, dir)).catch(() => [] as string[]);
    for (const name of names.filter((n) => n.endsWith('.json') && !n.endsWith('.partial.json'))) {
      const record = await readCacheRecord({ dir: '', file: path.join(root, dir, name.slice(0, -5)), record: path.join(root, dir, name), partial: '', partialRecord: '', lock: '' });
      if (record !== null) targets.push(downloadTarget(record.url, { env }));
    }
  }
  return targets;
}

/** Deletes the cached file, its record and any partial download; refuses while a download holds the lock. */
export async function removeCached(target: DownloadTarget): Promise<boolean> {
  if (existsSync(target.paths.lock)) {
    throw new WeightsDownloadError(
      `${target.label} is being downloaded (lock ${target.paths.lock}); wait for it to finish, or delete the lock file if no process is downloading`,
      'cache',
      target.url,
      target.paths.file,
    );
  }
  const existed = existsSync(target.paths.file) || existsSync(target.paths.partial) || existsSync(target.paths.record);
  for (const file of [target.paths.file, target.paths.record, target.paths.partial, target.paths.partialRecord]) await rm(file, { force: true });
  return existed;
}
