// Two worker_threads and the main thread each create a session of the installed package, wait
// for each other, then run the same batch at the same time. Every output must equal the main
// thread's bit for bit (same weights, same input, benchmark: false), and the three runs must
// have been in flight together.
import { Worker, isMainThread, parentPort } from 'node:worker_threads';
import { createSession } from 'inception-cudnn';
import { input, sameBits, SESSION_OPTIONS } from './common.mjs';

const RUNS = 3;

async function runAll(session) {
  const { data, shape } = input();
  const started = performance.timeOrigin + performance.now();
  let out;
  for (let i = 0; i < RUNS; i++) out = await session.run(data, shape);
  return { out, started, finished: performance.timeOrigin + performance.now() };
}

if (isMainThread) {
  const workers = [0, 1].map(() => new Worker(new URL(import.meta.url)));
  // Listen for the exits now: a worker may be gone before the main thread's own run ends.
  const exits = workers.map((w) => new Promise((resolve) => w.once('exit', resolve)));
  const ready = workers.map((w) => new Promise((resolve, reject) => {
    w.once('message', resolve);
    w.once('error', reject);
  }));
  const session = await createSession(SESSION_OPTIONS);
  await Promise.all(ready);
  const results = workers.map((w) => new Promise((resolve, reject) => {
    w.once('message', resolve);
    w.once('error', reject);
  }));
  for (const w of workers) w.postMessage('go');
  const mine = await runAll(session);
  const theirs = await Promise.all(results);
  await session.dispose();
  const codes = await Promise.all(exits);
  if (codes.some((code) => code !== 0)) throw new Error(`workers exited with ${codes.join(', ')}`);
  theirs.forEach((r, i) => {
    if (!sameBits(r.out, mine.out)) throw new Error(`worker ${i}'s output differs from the main thread's`);
  });
  const all = [mine, ...theirs];
  const overlap = Math.min(...all.map((r) => r.finished)) - Math.max(...all.map((r) => r.started));
  if (!(overlap > 0)) throw new Error(`the three threads' runs did not overlap (${overlap.toFixed(1)} ms)`);
  console.log(`workers: main + 2 workers, ${RUNS} runs each, outputs bitwise equal (${mine.out.length} values), runs in flight together for ${overlap.toFixed(0)} ms`);
} else {
  const session = await createSession(SESSION_OPTIONS);
  parentPort.postMessage('ready');
  await new Promise((resolve) => parentPort.once('message', resolve));
  const result = await runAll(session);
  await session.dispose();
  parentPort.postMessage(result);
  parentPort.close();
}
