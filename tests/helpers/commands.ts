/** Finding a host tool for tests that compile or run something outside Node. */
import { execFileSync } from 'node:child_process';

/** The first of `candidates` that runs with --version here, or undefined when none does. */
export function firstWorkingCommand(candidates: readonly string[]): string | undefined {
  return candidates.find((command) => {
    try {
      execFileSync(command, ['--version'], { stdio: 'ignore' });
      return true;
    } catch {
      return false;
    }
  });
}
