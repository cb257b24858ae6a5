#!/usr/bin/env node
/** The `inception-cudnn` command (also `node lib/cli.js`). See src/cli/help.ts for usage. */
import { main } from './cli/main';

export { main };

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (error: unknown) => {
      process.stderr.write(`error: ${error instanceof Error ? error.message : String(error)}\n`);
      process.exitCode = 1;
    },
  );
}
