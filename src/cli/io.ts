/** Where the CLI writes, and how it reports failures (injectable for tests). */
import { InceptionError } from '../errors';

export interface CliIo {
  stdout(text: string): void;
  stderr(text: string): void;
  /** Whether stderr is a terminal (download progress: a bar instead of periodic lines); default false. */
  readonly stderrIsTTY?: boolean;
}

export const processIo: CliIo = {
  stdout: (text) => void process.stdout.write(text),
  stderr: (text) => void process.stderr.write(text),
  get stderrIsTTY() {
    return process.stderr.isTTY === true;
  },
};

/** A bad command line: exit code 2 with a pointer to --help. */
export class UsageError extends Error {
  constructor(
    message: string,
    readonly command: string | undefined,
  ) {
    super(message);
    this.name = 'UsageError';
  }
}

export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

/** Prints `error: <message>` (plus the stack and causes with --verbose); returns the exit code. */
export function reportError(error: unknown, io: CliIo, verbose: boolean): number {
  if (error instanceof UsageError) {
    const help = error.command === undefined ? 'inception-cudnn --help' : `inception-cudnn ${error.command} --help`;
    io.stderr(`error: ${error.message}\nrun '${help}' for usage\n`);
    return EXIT_USAGE;
  }
  const message = error instanceof Error ? error.message : String(error);
  const code = error instanceof InceptionError ? ` [${error.code}]` : '';
  io.stderr(`error: ${message}${verbose ? code : ''}\n`);
  if (verbose) {
    let current: unknown = error;
    while (current instanceof Error) {
      io.stderr(`${current.stack ?? current.message}\n`);
      current = current.cause;
      if (current !== undefined) io.stderr('caused by: ');
    }
  }
  return EXIT_FAILURE;
}
