/**
 * Stage `session`: the PUBLIC API on the GPU. createSession with a synthetic checkpoint file on
 * 'cuda' / 'cuda:0', fp32 and fp16, each model at its default fixture case (plain profile):
 * a full batch, a batch of 1 < maxBatch and three concurrent runs all against the float64 fixture,
 * and the full batch again with its array overwritten (NaN) right after run() returned, bitwise equal;
 * 'cuda:7' must be a DeviceError; dispose() must give the device memory back.
 *
 * Bounds: fp32 = the fixtures' tolerances.json (plain profile), fp16 rel-L2 <= 1e-2 (the same
 * bounds as the networks stage, see tests/gpu/gpu-networks.ts). Memory: after warm-up cycles,
 * free device memory after dispose() must be within DISPOSE_SLACK_BYTES of before createSession
 * (cudaMalloc works in 2 MiB pages; the first cycle also loads cuDNN kernels lazily, which stay).
 */
import { join } from 'node:path';
import { compareWithReference, type CompareReport } from '../../src/check/fixture-compare';
import { DeviceError, DisposedError, InvalidInputError } from '../../src/errors';
import { readNpySync } from '../../src/io/npy';
import type { ModelName } from '../../src/models/types';
import { cudaBackendInfo, cudaMemoryInfo } from '../../src/native/cuda-backend';
import type { MemoryReport } from '../../src/plan/types';
import type { CudaPrecision } from '../../src/runtime/backend';
import type { DeviceName } from '../../src/runtime/options';
import { createSession } from '../../src/runtime/session';
import { generateInput } from '../../src/weights/synthetic';
import { NETWORK_CASES, networkBound } from '../../tests/gpu/gpu-networks';
import { type Args, ensureCheckpoint, errorText, log, MIB, mib, saveStage } from './suite-common';

export const DISPOSE_SLACK_BYTES = 8 * MIB;

export interface SessionCheck {
  readonly name: string;
  readonly pass: boolean;
  readonly detail: string;
}

interface Compared {
  readonly pass: boolean;
  readonly relL2: number;
  readonly maxAbsOverMaxRef: number;
  readonly why?: string;
}

export interface SessionRow {
  model: ModelName;
  precision: CudaPrecision;
  device: DeviceName;
  case: string;
  pass: boolean;
  createMs?: number;
  memory?: MemoryReport;
  /** cudaMemGetInfo free bytes before createSession, with the session open, after dispose(). */
  freeBefore?: number;
  freeOpen?: number;
  freeAfter?: number;
  full?: Compared;
  single?: Compared;
  concurrent?: { pass: boolean; full: Compared; row0: Compared; row1: Compared; fullIdenticalToSequential: boolean };
  /** An idle run copies its input before run() returns: NaN written into the array right after gives the same rows, bitwise. */
  overwrittenAfterRunIdentical?: boolean;
  /** A NaN in the second image rejects with InvalidInputError naming its index (checked natively, no JS scan). */
  nanRejected?: string;
  error?: string;
}

export interface MemoryCycle {
  readonly cycle: number;
  readonly freeBefore: number;
  readonly freeOpen: number;
  readonly freeAfter: number;
  readonly sessionBytes: number;
}

function summary(r: CompareReport): Compared {
  return { pass: r.pass, relL2: r.relL2, maxAbsOverMaxRef: r.maxAbsOverMaxRef, ...(r.why === undefined ? {} : { why: r.why }) };
}

function freeBytes(): number {
  return cudaMemoryInfo(0).freeBytes;
}

/** One model/precision through the public API; `readFree` reads free device memory (exported for a CPU dry run). */
export async function checkModel(args: Args, model: ModelName, precision: CudaPrecision, device: DeviceName, readFree: () => number = freeBytes): Promise<SessionRow> {
  const [n, size] = NETWORK_CASES[model][0]!;
  const row: SessionRow = { model, precision, device, case: `${n}x${size}`, pass: false };
  try {
    const weights = await ensureCheckpoint(args, model, 'plain');
    const bound = networkBound(args.fixtures, model, 'plain', precision);
    const ref = readNpySync(join(args.fixtures, 'plain', `${model}_${n}x${size}_out_f64.npy`)).data;
    const k = ref.length / n;
    const refRow = (i: number): ArrayLike<number> => ref.subarray(i * k, (i + 1) * k);
    row.freeBefore = readFree();
    const c0 = Date.now();
    const session = await createSession({ model, weights, device, precision, maxBatch: n, inputSize: size });
    row.createMs = Date.now() - c0;
    row.freeOpen = readFree();
    row.memory = session.memory;
    try {
      const expectedDevice = device === 'cpu' ? 'cpu' : 'cuda:0';
      if (session.info.device !== expectedDevice) throw new Error(`session.info.device is '${session.info.device}', expected '${expectedDevice}'`);
      const per = 3 * size * size;
      const input = generateInput(n, size, size);
      const image = (i: number): Float32Array => input.slice(i * per, (i + 1) * per);
      const full = await session.run(input, [n, 3, size, size]);
      row.full = summary(compareWithReference(full, ref, [n, k], bound));
      const single = await session.run(image(0), [1, 3, size, size]);
      row.single = summary(compareWithReference(single, refRow(0), [1, k], bound));
      // Three runs in flight at once: they queue, and each resolves with its own rows.
      const [all, second, first] = await Promise.all([
        session.run(input, [n, 3, size, size]),
        session.run(image(1), [1, 3, size, size]),
        session.run(image(0), [1, 3, size, size]),
      ]);
      const cFull = summary(compareWithReference(all, ref, [n, k], bound));
      const cRow1 = summary(compareWithReference(second, refRow(1), [1, k], bound));
      const cRow0 = summary(compareWithReference(first, refRow(0), [1, k], bound));
      const identical = all.length === full.length && all.every((v, i) => v === full[i]);
      row.concurrent = { pass: cFull.pass && cRow1.pass && cRow0.pass, full: cFull, row0: cRow0, row1: cRow1, fullIdenticalToSequential: identical };
      const reused = input.slice();
      const pending = session.run(reused, [n, 3, size, size]);
      reused.fill(Number.NaN); // read after run() returned, it would be rejected or change the rows
      const overwritten = await pending;
      row.overwrittenAfterRunIdentical = overwritten.length === full.length && overwritten.every((v, i) => v === full[i]);
      const bad = input.slice();
      bad[per + 5] = Number.NaN;
      const expectedText = `Input value at index ${per + 5} is NaN`;
      row.nanRejected = await session.run(bad, [n, 3, size, size]).then(
        () => 'resolved',
        (error: unknown) => (error instanceof InvalidInputError && error.message.startsWith(expectedText) ? 'ok' : `wrong rejection: ${errorText(error)}`),
      );
    } finally {
      await session.dispose();
    }
    row.freeAfter = readFree();
    let disposedRejects = false;
    try {
      await session.run(generateInput(1, size, size), [1, 3, size, size]);
    } catch (error) {
      disposedRejects = error instanceof DisposedError;
    }
    if (!disposedRejects) throw new Error('run() after dispose() did not reject with DisposedError');
    row.pass = row.full.pass && row.single.pass && row.concurrent.pass && row.overwrittenAfterRunIdentical === true && row.nanRejected === 'ok';
  } catch (error) {
    row.error = errorText(error);
  }
  return row;
}

/** Opens and disposes one session `cycles` times, reading free device memory around each. */
async function memoryCycles(args: Args, cycles: number): Promise<MemoryCycle[]> {
  const model: ModelName = 'inception_v4';
  const [n, size] = NETWORK_CASES[model][0]!;
  const weights = await ensureCheckpoint(args, model, 'plain');
  const out: MemoryCycle[] = [];
  for (let cycle = 1; cycle <= cycles; cycle++) {
    const freeBefore = freeBytes();
    const session = await createSession({ model, weights, device: 'cuda', precision: 'fp32', maxBatch: n, inputSize: size });
    await session.run(generateInput(n, size, size), [n, 3, size, size]);
    const freeOpen = freeBytes();
    const m = session.memory;
    await session.dispose();
    const freeAfter = freeBytes();
    out.push({ cycle, freeBefore, freeOpen, freeAfter, sessionBytes: m.weightBytes + m.arenaBytes + m.workspaceBytes });
    log(`memory cycle ${cycle}: free before ${mib(freeBefore)} MiB, open ${mib(freeOpen)} MiB (uses ${mib(freeBefore - freeOpen)}; weights+arena+workspace ${mib(out[out.length - 1]!.sessionBytes)}), after dispose ${mib(freeAfter)} MiB (delta ${mib(freeBefore - freeAfter)})`);
  }
  return out;
}

export async function stageSession(args: Args): Promise<void> {
  const info = cudaBackendInfo();
  if (!info.available) {
    saveStage(args, 'session', { skipped: info.reason ?? 'CUDA backend unavailable', checks: [], rows: [] });
    log(`session: CUDA backend unavailable: ${info.reason ?? ''}`);
    process.exitCode = 1;
    return;
  }
  const checks: SessionCheck[] = [];
  const rows: SessionRow[] = [];
  let cycles: MemoryCycle[] = [];
  const save = (): void => saveStage(args, 'session', { checks, rows, cycles, disposeSlackBytes: DISPOSE_SLACK_BYTES });

  // A device that does not exist: DeviceError before any weights are read.
  try {
    const s = await createSession({ model: 'inception_resnet_v1', weights: { synthetic: 'plain' }, device: 'cuda:7', inputSize: 160, maxBatch: 1 });
    await s.dispose();
    checks.push({ name: "device 'cuda:7' rejected", pass: false, detail: 'createSession succeeded' });
  } catch (error) {
    checks.push({ name: "device 'cuda:7' rejected", pass: error instanceof DeviceError && error.code === 'E_DEVICE', detail: errorText(error) });
  }
  log(`${checks[0]!.pass ? 'PASS' : 'FAIL'} cuda:7 -> ${checks[0]!.detail}`);

  for (const model of Object.keys(NETWORK_CASES) as ModelName[]) {
    for (const precision of ['fp32', 'fp16'] as const) {
      const row = await checkModel(args, model, precision, precision === 'fp32' ? 'cuda' : 'cuda:0');
      rows.push(row);
      log(
        `${row.pass ? 'PASS' : 'FAIL'} session ${model} ${precision} ${row.device} ${row.case} create=${row.createMs ?? '-'}ms ` +
          `full relL2=${row.full?.relL2.toExponential(2) ?? '-'} n=1 relL2=${row.single?.relL2.toExponential(2) ?? '-'} ` +
          `concurrent=${row.concurrent?.pass ?? '-'} (identical to sequential: ${row.concurrent?.fullIdenticalToSequential ?? '-'}) ` +
          `input overwritten after run(): identical ${row.overwrittenAfterRunIdentical ?? '-'} NaN rejected: ${row.nanRejected ?? '-'} ` +
          `memory=${JSON.stringify(row.memory ?? null)} free before/open/after=${row.freeBefore === undefined ? '-' : mib(row.freeBefore)}/${row.freeOpen === undefined ? '-' : mib(row.freeOpen)}/${row.freeAfter === undefined ? '-' : mib(row.freeAfter)} MiB` +
          `${row.error ? ` ERROR ${row.error}` : ''}`,
      );
      save();
    }
  }
  checks.push({ name: "device 'cuda:0' accepted", pass: rows.some((r) => r.device === 'cuda:0' && r.error === undefined), detail: rows.filter((r) => r.device === 'cuda:0').map((r) => r.error ?? `${r.model} ok`).join('; ') });
  checks.push({ name: 'every model x {fp32, fp16}: full batch, n=1, concurrent runs vs fixture; an input overwritten right after run() changes nothing', pass: rows.every((r) => r.pass), detail: `${rows.filter((r) => r.pass).length}/${rows.length} pass` });

  try {
    cycles = await memoryCycles(args, 3);
    const last = cycles[cycles.length - 1]!;
    const returned = Math.abs(last.freeAfter - last.freeBefore) <= DISPOSE_SLACK_BYTES;
    // The measurement sees the session: an open session uses at least its weights + arena.
    const visible = last.freeBefore - last.freeOpen >= last.sessionBytes * 0.9;
    checks.push({
      name: `dispose() frees device memory (last of ${cycles.length} cycles within ${mib(DISPOSE_SLACK_BYTES)} MiB)`,
      pass: returned && visible,
      detail: cycles.map((c) => `cycle ${c.cycle}: before-after ${mib(c.freeBefore - c.freeAfter)} MiB, open uses ${mib(c.freeBefore - c.freeOpen)} MiB (weights+arena+workspace ${mib(c.sessionBytes)})`).join('; '),
    });
  } catch (error) {
    checks.push({ name: 'dispose() frees device memory', pass: false, detail: errorText(error) });
  }
  for (const c of checks.slice(1)) log(`${c.pass ? 'PASS' : 'FAIL'} ${c.name}: ${c.detail}`);
  save();
  if (!checks.every((c) => c.pass)) process.exitCode = 1;
}
