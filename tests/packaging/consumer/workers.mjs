// Two worker_threads and the main thread each create a session of the installed package, wait
// for each other, then run the same batch at the same time. Every output must equal the main
// thread's bit for bit (same weights, same input, benchmark: false), and the three runs must
// have been in flight together. Each thread also loads the CUDA module (libraryInfo() asks every
// backend): it must load in every environment, and say what is missing where there is no GPU.
import { Worker, isMainThread, parentPort } from 'node:worker_threads';
import { createSession, libraryInfo } from 'inception-cudnn';
import { input, sameBits, SESSION_OPTIONS } from './common.mjs';

const RUNS = 3;

/** The CUDA backend as this thread sees it: its module must have loaded here. */
async function cudaModuleLoads() {
  const cuda = (await libraryInfo()).backends.find((b) => b.name === 'cuda');
  if (cuda?.module === undefined) throw new Error(`the CUDA module did not load in this thread: ${cuda?.reason}`);
  return cuda.available ? 'available' : `unavailable: ${(cuda.reason.split('\n')[1] ?? cuda.reason).split(';')[0].replace(/^- /, '')}`;
}

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
  const cuda = await cudaModuleLoads();
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
  console.log(`workers: the CUDA module loaded in all three threads; cuda ${cuda}`);
} else {
  const session = await createSession(SESSION_OPTIONS);
  await cudaModuleLoads();
  parentPort.postMessage('ready');
  await new Promise((resolve) => parentPort.once('message', resolve));
  const result = await runAll(session);
  await session.dispose();
  parentPort.postMessage(result);
  parentPort.close();
}
