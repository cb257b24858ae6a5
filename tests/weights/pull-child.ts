/**
 * Child process of pull-processes.test.ts: says "ready", waits until the parent creates the
 * file named by INCEPTION_TEST_GO (so both children call pullWeights at the same moment),
 * pulls INCEPTION_TEST_SOURCE with the environment it was given, and prints one JSON line.
 */
import { existsSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { pullWeights } from '../../src/weights/pull';

async function main(): Promise<void> {
  const go = process.env.INCEPTION_TEST_GO!;
  process.stdout.write('ready\n');
  for (let i = 0; i < 3000 && !existsSync(go); i++) await sleep(10);
  const phases: string[] = [];
  const pulled = await pullWeights(process.env.INCEPTION_TEST_SOURCE!, { onProgress: (p) => phases.push(p.phase) });
  process.stdout.write(`${JSON.stringify({ pid: process.pid, path: pulled.path, sha256: pulled.sha256, fromCache: pulled.fromCache, waited: phases.includes('waiting') })}\n`);
}

main().catch((error: unknown) => {
  process.stdout.write(`${JSON.stringify({ error: String((error as Error).message) })}\n`);
  process.exitCode = 1;
});
