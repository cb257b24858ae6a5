/** Creating (and always disposing) the session a command runs on. */
import { createSession, type Session } from '../runtime/session';
import { DEFAULT_MAX_BATCH, type SessionOptions } from '../runtime/options';
import { progressPrinter, type ProgressListener } from '../weights/progress';
import { defined } from './args';
import type { CliIo } from './io';

/** Download progress on stderr (a bar on a terminal), and a notice when the known-checkpoint table is overridden. */
export function cliProgress(io: CliIo): ProgressListener {
  const table = process.env.INCEPTION_WEIGHTS_TABLE;
  if (table) io.stderr(`notice: INCEPTION_WEIGHTS_TABLE=${table} replaces entries of the known-checkpoint table (URLs, pinned sha256)\n`);
  return progressPrinter((text) => io.stderr(text), io.stderrIsTTY === true);
}

/** The synthetic-weights notice in the command line's terms (the API's notice names weights: 'pretrained'). */
export function syntheticNotice(profile: string): string {
  return `notice: synthetic fixture weights (profile '${profile}'): outputs are meaningless; pass --weights pretrained (or a tag, URL or checkpoint) for real ones\n`;
}

/**
 * The line printed before a session is set up: loading the weights, planning and compiling take
 * seconds (more at a large max batch, and with kernel timing), during which nothing else prints.
 */
export function setupLine(options: Pick<SessionOptions, 'model' | 'device' | 'maxBatch'>): string {
  return `setting up ${options.model} on ${options.device ?? 'cpu'} for batches up to ${options.maxBatch ?? DEFAULT_MAX_BATCH} (weights, plan, kernels)...\n`;
}

/** Creates the session (printing a setup line and download progress), announces synthetic weights on stderr, runs `work`, disposes. */
export async function withSession<T>(options: SessionOptions, io: CliIo, work: (session: Session) => Promise<T>): Promise<T> {
  io.stderr(setupLine(options));
  const session = await createSession(defined({ ...options, onProgress: options.onProgress ?? cliProgress(io) }));
  try {
    if (session.weightsSource.kind === 'synthetic') io.stderr(syntheticNotice(session.weightsSource.profile));
    return await work(session);
  } finally {
    await session.dispose();
  }
}
