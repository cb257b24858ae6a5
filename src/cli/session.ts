/** Creating (and always disposing) the session a command runs on. */
import { createSession, type Session } from '../runtime/session';
import type { SessionOptions } from '../runtime/options';
import { defined } from './args';
import type { CliIo } from './io';

/** Creates the session, announces synthetic weights on stderr, runs `work`, disposes. */
export async function withSession<T>(options: SessionOptions, io: CliIo, work: (session: Session) => Promise<T>): Promise<T> {
  const session = await createSession(defined(options));
  try {
    if (session.weightsSource.kind === 'synthetic') io.stderr(`notice: ${session.weightsSource.notice}\n`);
    return await work(session);
  } finally {
    await session.dispose();
  }
}
