/** The command dispatcher; returns the exit code (0 ok, 1 error, 2 usage). */
import { packageVersion } from '../info';
import { benchCommand } from './bench';
import { embedCommand } from './embed';
import { exportOnnxCommand } from './export-onnx';
import { HELP } from './help';
import { infoCommand } from './info';
import { EXIT_OK, EXIT_USAGE, UsageError, processIo, reportError, type CliIo } from './io';
import { planCommand } from './plan';
import { predictCommand } from './predict';
import { profileCommand } from './profile';
import { runCommand } from './run';
import { serveCommand } from './serve';
import { weightsCommand } from './weights';

const COMMANDS: Readonly<Record<string, (argv: readonly string[], io: CliIo) => Promise<number>>> = {
  predict: predictCommand,
  embed: embedCommand,
  run: runCommand,
  info: infoCommand,
  plan: planCommand,
  'export-onnx': exportOnnxCommand,
  bench: benchCommand,
  profile: (argv, io) => profileCommand(argv, io),
  serve: (argv, io) => serveCommand(argv, io),
  weights: weightsCommand,
};

export async function main(argv: readonly string[], io: CliIo = processIo): Promise<number> {
  const verbose = argv.includes('--verbose') || argv.includes('-v');
  const [command, ...rest] = argv;
  try {
    if (command === undefined) {
      io.stderr(HELP.main);
      return EXIT_USAGE;
    }
    if (command === '--help' || command === '-h' || command === 'help') {
      io.stdout(HELP.main);
      return EXIT_OK;
    }
    if (command === '--version') {
      io.stdout(`${packageVersion()}\n`);
      return EXIT_OK;
    }
    // Own keys only: 'constructor' or 'toString' must not run an Object.prototype function.
    const handler = Object.hasOwn(COMMANDS, command) ? COMMANDS[command] : undefined;
    if (handler === undefined) throw new UsageError(`unknown command '${command}'; the commands are: ${Object.keys(COMMANDS).join(', ')}`, undefined);
    return await handler(rest, io);
  } catch (error) {
    return reportError(error, io, verbose);
  }
}
