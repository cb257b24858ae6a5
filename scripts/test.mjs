// npm test: the type-check (tsc -p tsconfig.tests.json) and the vitest suite at the same time.
// vitest's two workers leave part of the two cores idle (child processes, sockets, waits), which
// the type-check fills: run one after the other they took ~10 s longer. The type-check's output is
// printed after the suite's; the exit code is non-zero when either failed. Arguments go to vitest.
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const tscBin = require.resolve('typescript/bin/tsc');
const vitestBin = require.resolve('vitest/vitest.mjs');

/** Runs a node script; resolves with its exit code and, when captured, its output. */
function run(script, args, capture) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [script, ...args], { stdio: capture ? ['ignore', 'pipe', 'pipe'] : 'inherit' });
    let output = '';
    if (capture) {
      child.stdout.on('data', (chunk) => (output += chunk));
      child.stderr.on('data', (chunk) => (output += chunk));
    }
    child.on('error', (error) => resolve({ code: 1, output: `${output}${error.message}\n` }));
    child.on('close', (code, signal) => resolve({ code: code ?? (signal ? 1 : 0), output }));
  });
}

const started = performance.now();
const [typecheck, suite] = await Promise.all([
  run(tscBin, ['-p', 'tsconfig.tests.json'], true),
  run(vitestBin, ['run', ...process.argv.slice(2)], false),
]);
const seconds = ((performance.now() - started) / 1000).toFixed(0);
if (typecheck.code !== 0) {
  process.stdout.write(`\ntype-check failed (tsc -p tsconfig.tests.json):\n${typecheck.output}`);
} else {
  process.stdout.write(`\ntype-check passed (tsc -p tsconfig.tests.json); npm test took ${seconds} s\n`);
}
process.exit(typecheck.code !== 0 ? typecheck.code : suite.code);
