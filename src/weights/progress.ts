/**
 * Download progress: the events `onProgress` receives, and the CLI's rendering of them on
 * stderr: one bar redrawn in place on a terminal (bytes, rate, ETA), or one plain line every
 * few seconds otherwise (logs, CI).
 */

export interface DownloadProgress {
  /**
   * 'waiting': another process holds the download lock; 'downloading': bytes are arriving;
   * 'verifying': hashing the file; 'done': the file is in the cache; 'notice': `message` says
   * something worth knowing (a resumed download, a corrupted cache entry fetched again).
   */
  readonly phase: 'waiting' | 'downloading' | 'verifying' | 'done' | 'notice';
  /** The tag, or the URL for a download by URL. */
  readonly label: string;
  /** The URL fetched (after HF_ENDPOINT / INCEPTION_WEIGHTS_MIRROR, before redirects). */
  readonly url: string;
  /** The cache file being written. */
  readonly file: string;
  readonly receivedBytes: number;
  /** null while the server has not said. */
  readonly totalBytes: number | null;
  /** Bytes that were already there from an interrupted download. */
  readonly resumedFromBytes: number;
  /** Over this call's transfer; null before there is a measurement. */
  readonly bytesPerSecond: number | null;
  readonly etaSeconds: number | null;
  readonly message: string | null;
}

export type ProgressListener = (progress: DownloadProgress) => void;

/** Plain lines are written at most this often (plus the first and the last). */
export const LINE_INTERVAL_MS = 5000;
/** The terminal bar is redrawn at most this often. */
const BAR_INTERVAL_MS = 100;
const BAR_WIDTH = 24;

export function formatBytes(bytes: number): string {
  if (bytes < 1000) return `${bytes} B`;
  if (bytes < 1e6) return `${(bytes / 1e3).toFixed(1)} kB`;
  if (bytes < 1e9) return `${(bytes / 1e6).toFixed(1)} MB`;
  return `${(bytes / 1e9).toFixed(2)} GB`;
}

export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

/** "77.1 of 171.0 MB (45%), 12.3 MB/s, ETA 8s" */
export function describeTransfer(p: DownloadProgress): string {
  const parts = [p.totalBytes === null ? formatBytes(p.receivedBytes) : `${formatBytes(p.receivedBytes)} of ${formatBytes(p.totalBytes)} (${Math.floor((100 * p.receivedBytes) / Math.max(1, p.totalBytes))}%)`];
  if (p.bytesPerSecond !== null) parts.push(`${formatBytes(p.bytesPerSecond)}/s`);
  if (p.etaSeconds !== null) parts.push(`ETA ${formatDuration(p.etaSeconds)}`);
  return parts.join(', ');
}

/** A listener that renders progress with `write` (stderr): a bar on a TTY, periodic lines otherwise. */
export function progressPrinter(write: (text: string) => void, isTTY: boolean, now: () => number = Date.now): ProgressListener {
  let lastDraw = -Infinity;
  let barShown = false;
  const endBar = (): void => {
    if (barShown) write('\n');
    barShown = false;
  };
  return (p) => {
    if (p.phase === 'notice' || p.phase === 'waiting' || p.phase === 'verifying') {
      endBar();
      const text = p.message ?? (p.phase === 'verifying' ? `verifying ${p.label} (sha256 of ${p.file})` : `waiting for another process downloading ${p.label}`);
      write(`${text}\n`);
      return;
    }
    if (p.phase === 'done') {
      endBar();
      write(`${p.message ?? `${p.label}: ${formatBytes(p.receivedBytes)} in ${p.file}`}\n`);
      return;
    }
    const t = now();
    if (isTTY) {
      if (t - lastDraw < BAR_INTERVAL_MS && p.receivedBytes !== p.totalBytes) return;
      lastDraw = t;
      const fraction = p.totalBytes === null || p.totalBytes === 0 ? 0 : Math.min(1, p.receivedBytes / p.totalBytes);
      const filled = Math.round(fraction * BAR_WIDTH);
      write(`\r${p.label} [${'#'.repeat(filled)}${'.'.repeat(BAR_WIDTH - filled)}] ${describeTransfer(p)}\x1b[K`);
      barShown = true;
      return;
    }
    const first = lastDraw === -Infinity;
    if (!first && t - lastDraw < LINE_INTERVAL_MS) return;
    lastDraw = t;
    write(`downloading ${p.label}: ${describeTransfer(p)}${first ? ` from ${p.url}` : ''}\n`);
  };
}
