// 50 cycles of a worker that creates a session, runs it and exits. Even cycles dispose the
// session; odd ones exit without dispose(), so the module's environment cleanup hook must free
// it. Three checks, all after each cycle and a GC in the main thread:
// - exact: the CPU module's process-wide count of live programs is back to 0 (the module file the
//   package loaded, as libraryInfo() names it, is required directly for its debug exports: the
//   same file, so the same process-wide counters);
// - malloc in use (glibc's mallinfo2 over every arena: the bytes handed out and not freed) does
//   not grow: the lowest of the last ten cycles is within MALLOC_BOUND_MB of the lowest of cycles
//   6-15. Session memory (weights, arenas, oneDNN's buffers, ArrayBuffers) is malloc'd, and one
//   leaked session is ~100 MB (IR-v1's weights alone are 94 MB in fp32), so a leak in one cycle
//   out of fifty already fails it;
// - RSS, coarsely, for what malloc does not see (a worker's V8 heap is mmapped). RSS cannot be
//   bounded tightly: glibc gives each worker thread a malloc arena and raises its mmap threshold
//   as large blocks are freed, so it keeps about one freed session (~160 MB) for any number of
//   cycles with nothing alive (seen: 225 MB for cycles 1-3, then 387 MB for the remaining 47,
//   malloc in use flat). RSS_BOUND_MB allows that one session and catches a leak outside malloc
//   in a fifth of the cycles (a worker's heap is ~10 MB).
import { createRequire } from 'node:module';
import { Worker, isMainThread, parentPort } from 'node:worker_threads';
import { createSession, libraryInfo } from 'inception-cudnn';
import { input, SESSION_OPTIONS } from './common.mjs';

const CYCLES = Number(process.env.CYCLES ?? 50);
const WINDOW = 10;
const MALLOC_BOUND_MB = 32;
const RSS_BOUND_MB = 256;

if (isMainThread) {
  if (typeof globalThis.gc !== 'function') throw new Error('run with node --expose-gc');
  if (CYCLES < 5 + 2 * WINDOW) throw new Error(`needs at least ${5 + 2 * WINDOW} cycles`);
  const cpu = (await libraryInfo()).backends.find((b) => b.name === 'cpu');
  if (cpu?.module === undefined) throw new Error(`the CPU module did not load: ${cpu?.reason}`);
  const cpuModule = createRequire(import.meta.url)(cpu.module);
  if (typeof cpuModule.mallocInUse() !== 'number') throw new Error('mallocInUse() needs glibc >= 2.33');
  const rss = [];
  const heap = [];
  const t0 = performance.now();
  for (let cycle = 0; cycle < CYCLES; cycle++) {
    const worker = new Worker(new URL(import.meta.url), { workerData: { dispose: cycle % 2 === 0 } });
    const exit = new Promise((resolve, reject) => {
      worker.once('error', reject);
      worker.once('exit', resolve);
    });
    const done = new Promise((resolve) => worker.once('message', resolve));
    const rows = await done;
    const code = await exit;
    if (code !== 0 || rows !== 2) throw new Error(`cycle ${cycle}: worker exited with ${code} after ${rows} rows`);
    const live = cpuModule.livePrograms();
    if (live !== 0) throw new Error(`cycle ${cycle} (${cycle % 2 === 0 ? 'disposed' : 'not disposed'}): ${live} CPU programs still alive after the worker exited`);
    globalThis.gc();
    rss.push(process.memoryUsage().rss / 2 ** 20);
    heap.push(cpuModule.mallocInUse() / 2 ** 20);
  }
  /** Growth of the lowest value of the last WINDOW cycles over the lowest of cycles 6-15, in MB. */
  const growth = (series) => Math.min(...series.slice(-WINDOW)) - Math.min(...series.slice(5, 5 + WINDOW));
  const list = (series) => series.map((v) => v.toFixed(0)).join(' ');
  console.log(
    `worker cycles: ${CYCLES} in ${((performance.now() - t0) / 1000).toFixed(1)} s; 0 programs alive after every exit; ` +
      `malloc in use ${Math.min(...heap).toFixed(0)}-${Math.max(...heap).toFixed(0)} MB, grew ${growth(heap).toFixed(1)} MB (bound ${MALLOC_BOUND_MB}); ` +
      `RSS ${Math.min(...rss).toFixed(0)}-${Math.max(...rss).toFixed(0)} MB, grew ${growth(rss).toFixed(1)} MB (bound ${RSS_BOUND_MB})`,
  );
  if (!(growth(heap) <= MALLOC_BOUND_MB)) throw new Error(`malloc in use grew by more than ${MALLOC_BOUND_MB} MB: ${list(heap)}`);
  if (!(growth(rss) <= RSS_BOUND_MB)) throw new Error(`RSS grew by more than ${RSS_BOUND_MB} MB: ${list(rss)}`);
} else {
  const { workerData } = await import('node:worker_threads');
  const session = await createSession(SESSION_OPTIONS);
  const { data, shape } = input();
  const out = await session.run(data, shape);
  if (workerData.dispose) await session.dispose();
  parentPort.postMessage(out.length / 512);
  parentPort.close();
}
