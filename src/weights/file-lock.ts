/**
 * A lock file, so that processes pulling the same checkpoint download it once: created with
 * O_EXCL, holding the owner's pid, host and a random token, its mtime refreshed while held.
 * A lock is stale, and is broken, when its owner on this host is no longer running, or when it
 * has not been refreshed for `staleMs` (an owner on another host sharing the cache, or a
 * frozen one). Breaking re-reads the file and removes it only if it is still the stale one.
 */
import { randomBytes } from 'node:crypto';
import { open, readFile, stat, unlink, utimes } from 'node:fs/promises';
import { hostname } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { WeightsDownloadError } from '../errors';

export interface LockOwner {
  readonly pid: number;
  readonly host: string;
  readonly token: string;
  readonly created: string;
}

export interface LockOptions {
  /** A lock not refreshed for this long is stale (default 60 s; it is refreshed every staleMs / 6). */
  readonly staleMs?: number;
  /** How often a waiter looks again (default 200 ms). */
  readonly pollMs?: number;
  /** Called once when another live process holds the lock. */
  readonly onWait?: (owner: LockOwner | null) => void;
}

export const DEFAULT_LOCK_STALE_MS = 60_000;

function processIsRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function readOwner(path: string): Promise<{ owner: LockOwner | null; text: string; mtimeMs: number } | null> {
  try {
    const [text, info] = await Promise.all([readFile(path, 'utf8'), stat(path)]);
    let owner: LockOwner | null = null;
    try {
      const parsed = JSON.parse(text) as Partial<LockOwner>;
      if (typeof parsed.pid === 'number' && typeof parsed.host === 'string' && typeof parsed.token === 'string') owner = parsed as LockOwner;
    } catch {
      owner = null; // being written, or garbage: judged by its age alone
    }
    return { owner, text, mtimeMs: info.mtimeMs };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
}

/** Runs `work` while holding the lock file at `path`. */
export async function withFileLock<T>(path: string, options: LockOptions, work: () => Promise<T>): Promise<T> {
  const staleMs = options.staleMs ?? DEFAULT_LOCK_STALE_MS;
  const pollMs = options.pollMs ?? 200;
  const me: LockOwner = { pid: process.pid, host: hostname(), token: randomBytes(8).toString('hex'), created: new Date().toISOString() };
  let announced = false;
  for (;;) {
    try {
      const handle = await open(path, 'wx');
      try {
        await handle.writeFile(JSON.stringify(me));
      } finally {
        await handle.close();
      }
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw new WeightsDownloadError(`cannot create the lock file ${path}: ${(error as Error).message}; check that the cache directory is writable (or set INCEPTION_CACHE_DIR)`, 'cache', null, path, { cause: error });
      }
    }
    const current = await readOwner(path);
    if (current === null) continue; // released in the meantime
    const dead = current.owner !== null && current.owner.host === me.host && !processIsRunning(current.owner.pid);
    const silent = Date.now() - current.mtimeMs > staleMs;
    if (dead || silent) {
      const again = await readOwner(path);
      if (again !== null && again.text === current.text) await unlink(path).catch(() => undefined);
      continue;
    }
    if (!announced) {
      announced = true;
      options.onWait?.(current.owner);
    }
    await sleep(pollMs);
  }

  const refresh = setInterval(() => {
    const t = new Date();
    utimes(path, t, t).catch(() => undefined);
  }, Math.max(50, Math.floor(staleMs / 6)));
  refresh.unref();
  try {
    return await work();
  } finally {
    clearInterval(refresh);
    const current = await readOwner(path).catch(() => null);
    if (current?.owner?.token === me.token) await unlink(path).catch(() => undefined);
  }
}
