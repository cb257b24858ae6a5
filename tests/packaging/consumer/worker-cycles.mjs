// 50 cycles of a worker that creates a session, runs it and exits. Even cycles dispose the
// session; odd ones exit without dispose(), so the module's environment cleanup hook must free
// it. Two checks:
// - exact: after every cycle the CPU module's process-wide count of live programs is back to 0
//   (the module file the package loaded, as libraryInfo() names it, is required directly for
//   its livePrograms(): the same file, so the same process-wide counter);
// - RSS within a bound. The main thread's RSS is read after each cycle and a GC. glibc gives each
//   worker thread a malloc arena and raises its mmap threshold as large blocks are freed, so RSS
//   swings by up to ~160 MB between cycles and can keep about one session's worth for many
//   cycles after it was freed (seen: a floor of 213 MB for 78 cycles, then 325 MB, with no
//   program alive). So the check compares the lowest RSS of cycles 6-15 with the lowest of the
//   last ten, and allows BOUND_MB: freed memory lets RSS come back down, leaked memory never
//   does. One leaked session is ~100 MB (IR-v1's weights alone are 94 MB in fp32): a leak in
//   every cycle is ~4 GB over 50 cycles, and a leak in one cycle of ten puts 2-3 sessions
//   (200-300 MB) between the two windows.
import { createRequire } from 'node:module';
import { Worker, isMainThread, parentPort } from 'node:worker_threads';
import { createSession, libraryInfo } from 'inception-cudnn';
import { input, SESSION_OPTIONS } from './common.mjs';

const CYCLES = Number(process.env.CYCLES ?? 50);
const WINDOW = 10;
const BOUND_MB = 160;

if (isMainThread) {
  if (typeof globalThis.gc !== 'function') throw new Error('run with node --expose-gc');
  if (CYCLES < 5 + 2 * WINDOW) throw new Error(`needs at least ${5 + 2 * WINDOW} cycles`);
  const cpu = (await libraryInfo()).backends.find((b) => b.name === 'cpu');
  if (cpu?.module === undefined) throw new Error(`the CPU module did not load: ${cpu?.reason}`);
  const cpuModule = createRequire(import.meta.url)(cpu.module);
  const rss = [];
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
  }
  const early = Math.min(...rss.slice(5, 5 + WINDOW));
  const late = Math.min(...rss.slice(-WINDOW));
  const growth = late - early;
  console.log(
    `worker cycles: ${CYCLES} in ${((performance.now() - t0) / 1000).toFixed(1)} s; lowest RSS of cycles 6-15 ${early.toFixed(0)} MB, ` +
      `of the last ${WINDOW} ${late.toFixed(0)} MB: grew ${growth.toFixed(1)} MB (bound ${BOUND_MB} MB); peak ${Math.max(...rss).toFixed(0)} MB; ` +
      `0 programs alive after every exit`,
  );
  if (!(growth <= BOUND_MB)) throw new Error(`RSS grew by more than ${BOUND_MB} MB: ${rss.map((r) => r.toFixed(0)).join(' ')}`);
} else {
  const { workerData } = await import('node:worker_threads');
  const session = await createSession(SESSION_OPTIONS);
  const { data, shape } = input();
  const out = await session.run(data, shape);
  if (workerData.dispose) await session.dispose();
  parentPort.postMessage(out.length / 512);
  parentPort.close();
}
