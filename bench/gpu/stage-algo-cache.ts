/**
 * Stage `algo_cache`: the on-disk cuDNN algorithm cache (native/cuda/algo_cache.cc). A fresh
 * INCEPTION_CUDNN_ALGO_CACHE file; one child process compiles inception_v4 (2x299, plain,
 * benchmark: true) in fp32 and fp16 cold, then again in the same process (in-memory cache); a
 * second child process compiles the same plans with only the file to go on. Asserts: the cold
 * compile searched (convs of a shape seen earlier in the same compile come from the in-memory
 * cache, so 'searched' = distinct conv shapes), the file exists with entries keyed by this GPU's
 * name, this cuDNN's version, the precision, 'timed' (benchmark: true stores whole timed decisions:
 * [algo, mathType, split, viaScratch]) and the shapes; the warm compile in the new process took
 * every conv from the cache (no search, no timing of other candidates); every compile's output
 * matches the float64 fixture (fp32: tolerances.json; fp16: rel-L2 <= 1e-2). Compile times cold vs
 * warm are recorded.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { compareWithReference } from '../../src/check/fixture-compare';
import { readNpySync } from '../../src/io/npy';
import { getModel } from '../../src/models/registry';
import { cudaBackendInfo, loadCudaBackend, type CudaConvChoice, type CudaProgram } from '../../src/native/cuda-backend';
import { optimize } from '../../src/optimize/index';
import { lowerToPlan } from '../../src/plan/lower';
import type { CudaPrecision } from '../../src/runtime/backend';
import { loadCheckpoint } from '../../src/weights/load';
import { generateInput } from '../../src/weights/synthetic';
import { networkBound } from '../../tests/gpu/gpu-networks';
import { type Args, ensureCheckpoint, errorText, log, saveStage } from './suite-common';

const MODEL = 'inception_v4' as const;
const BATCH = 2;
const SIZE = 299;
const PRECISIONS: readonly CudaPrecision[] = ['fp32', 'fp16'];

export interface CompileRecord {
  readonly precision: CudaPrecision;
  /** 'cold' (fresh file), 'memory' (same process again), 'file' (new process, file only). */
  readonly mode: 'cold' | 'memory' | 'file';
  readonly compileMs: number;
  readonly convs: number;
  readonly fromCache: number;
  readonly relL2: number;
  readonly pass: boolean;
}

interface ChildResult {
  readonly records: CompileRecord[];
  readonly error?: string;
}

/** Child process: compiles each precision once (or twice with `again`) and writes the records. */
export async function stageAlgoCacheCompile(args: Args): Promise<void> {
  const out = args.target;
  if (out === undefined) throw new Error('algo_cache_compile needs a result file argument');
  const again = args.flags.includes('--again');
  const records: CompileRecord[] = [];
  try {
    const backend = loadCudaBackend();
    const model = getModel(MODEL);
    const { weights } = await loadCheckpoint(await ensureCheckpoint(args, MODEL, 'plain'), model);
    const ref = readNpySync(join(args.fixtures, 'plain', `${MODEL}_${BATCH}x${SIZE}_out_f64.npy`)).data;
    const input = generateInput(BATCH, SIZE, SIZE);
    for (const precision of PRECISIONS) {
      const optimised = optimize(model.build({ batch: BATCH, height: SIZE, width: SIZE }), weights);
      const { plan } = lowerToPlan(optimised.graph, optimised.weights, backend.layoutPolicy(precision));
      const modes: CompileRecord['mode'][] = again ? ['cold', 'memory'] : ['file'];
      for (const mode of modes) {
        const c0 = Date.now();
        const program = (await backend.compile(plan, { precision, benchmark: true })) as CudaProgram;
        const compileMs = Date.now() - c0;
        try {
          const output = await program.run(input, BATCH);
          const report = compareWithReference(output, ref, [BATCH, output.length / BATCH], networkBound(args.fixtures, MODEL, 'plain', precision));
          const choices: CudaConvChoice[] = program.choices();
          records.push({ precision, mode, compileMs, convs: choices.length, fromCache: choices.filter((c) => c.fromCache).length, relL2: report.relL2, pass: report.pass });
        } finally {
          program.dispose();
        }
      }
    }
    writeFileSync(out, JSON.stringify({ records } satisfies ChildResult));
  } catch (error) {
    writeFileSync(out, JSON.stringify({ records, error: errorText(error) } satisfies ChildResult));
  }
}

function runChild(args: Args, cachePath: string, resultPath: string, again: boolean): ChildResult {
  const argv = [process.argv[1]!, 'algo_cache_compile', resultPath, '--work', args.work, '--fixtures', args.fixtures, ...(again ? ['--again'] : [])];
  const child = spawnSync(process.execPath, argv, { env: { ...process.env, INCEPTION_CUDNN_ALGO_CACHE: cachePath }, encoding: 'utf8', timeout: 40_000 });
  if (child.stdout) process.stdout.write(child.stdout);
  if (child.stderr) process.stdout.write(child.stderr);
  try {
    return JSON.parse(readFileSync(resultPath, 'utf8')) as ChildResult;
  } catch {
    return { records: [], error: `the child process wrote no result (status ${String(child.status)}, signal ${String(child.signal)}${child.error ? `, ${child.error.message}` : ''})` };
  }
}

/** cudnnGetVersion() of a "9.19.0" version string: 91900. */
function cudnnVersionNumber(version: string | undefined): number | undefined {
  const m = /^(\d+)\.(\d+)\.(\d+)$/.exec(version ?? '');
  return m ? Number(m[1]) * 10000 + Number(m[2]) * 100 + Number(m[3]) : undefined;
}

export interface KeyCheck {
  readonly entries: number;
  readonly sample: string[];
  readonly problems: string[];
}

/** Every key must be `<gpu>|cudnn <version>|<precision>|timed|<act>|x <n>x<c>x<h>x<w>:...|w ...|p ...|s ...|y ...`. */
export function checkCacheKeys(keys: readonly string[], gpuName: string, cudnnVersion: number | undefined, precisions: readonly CudaPrecision[]): string[] {
  const problems: string[] = [];
  const pattern = /^(.+)\|cudnn (\d+)\|(fp32|tf32|fp16)\|(timed|find|heuristic)\|(relu|identity)(\+z)?\|x \d+x\d+x\d+x\d+:[\d/]+\|w \d+x\d+x\d+x\d+\|p \d+\/\d+\|s \d+\/\d+\|y [\d/]+$/;
  const seen = new Set<string>();
  for (const key of keys) {
    const m = pattern.exec(key);
    if (m === null) {
      problems.push(`malformed key: ${key}`);
      continue;
    }
    if (m[1] !== gpuName) problems.push(`key names GPU '${m[1]}', this is '${gpuName}'`);
    if (cudnnVersion !== undefined && Number(m[2]) !== cudnnVersion) problems.push(`key names cuDNN ${m[2]}, loaded is ${cudnnVersion}`);
    if (m[4] !== 'timed') problems.push(`key has mode '${m[4]}', compiled with benchmark: true ('timed')`);
    seen.add(m[3]!);
  }
  for (const p of precisions) if (!seen.has(p)) problems.push(`no entry for precision ${p}`);
  if (!keys.some((k) => k.includes(`|x ${BATCH}x3x${SIZE}x${SIZE}:`))) problems.push(`no entry for the stem conv's input shape ${BATCH}x3x${SIZE}x${SIZE}`);
  return [...new Set(problems)].slice(0, 20);
}

export async function stageAlgoCache(args: Args): Promise<void> {
  const info = cudaBackendInfo();
  if (!info.available) {
    saveStage(args, 'algo_cache', { skipped: info.reason ?? 'CUDA backend unavailable' });
    log(`algo_cache: CUDA backend unavailable: ${info.reason ?? ''}`);
    process.exitCode = 1;
    return;
  }
  await ensureCheckpoint(args, MODEL, 'plain');
  const dir = join(args.work, 'algo_cache');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const cachePath = join(dir, 'algos.json');
  const checks: { name: string; pass: boolean; detail: string }[] = [];

  log(`cold compile + in-process recompile (cache file ${cachePath})`);
  const first = runChild(args, cachePath, join(dir, 'first.json'), true);
  const fileExists = existsSync(cachePath);
  let keys: string[] = [];
  let partialDecisions: string[] = [];
  let parseError: string | undefined;
  if (fileExists) {
    try {
      const entries = (JSON.parse(readFileSync(cachePath, 'utf8')) as { entries: Record<string, unknown> }).entries;
      keys = Object.keys(entries);
      // A timed entry is the whole decision: [algo, mathType, split 0/1, viaScratch 0/1].
      partialDecisions = keys.filter((k) => !(Array.isArray(entries[k]) && (entries[k] as unknown[]).length === 4));
    } catch (error) {
      parseError = errorText(error);
    }
  }
  log('warm compile in a new process (cache file only)');
  const second = runChild(args, cachePath, join(dir, 'second.json'), false);
  const records = [...first.records, ...second.records];
  for (const r of records) log(`${r.precision} ${r.mode}: compile ${r.compileMs} ms, ${r.fromCache}/${r.convs} convs from the cache, relL2 ${r.relL2.toExponential(2)} ${r.pass ? 'PASS' : 'FAIL'}`);

  const gpuName = info.devices[0]?.name ?? '?';
  const problems = checkCacheKeys(keys, gpuName, cudnnVersionNumber(info.versions.cudnn), PRECISIONS);
  checks.push({ name: 'children ran', pass: first.error === undefined && second.error === undefined, detail: [first.error, second.error].filter((e) => e !== undefined).join('; ') || 'ok' });
  checks.push({ name: 'cache file written', pass: fileExists && parseError === undefined && keys.length > 0, detail: `${cachePath}: ${fileExists ? `${keys.length} entries` : 'missing'}${parseError ? ` (${parseError})` : ''}` });
  checks.push({ name: 'keys name GPU, cuDNN version, precision, timed, shapes', pass: keys.length > 0 && problems.length === 0, detail: problems.join('; ') || `e.g. ${keys[0] ?? '-'}` });
  checks.push({ name: 'entries are whole decisions [algo, mathType, split, viaScratch]', pass: keys.length > 0 && partialDecisions.length === 0, detail: partialDecisions.length === 0 ? `${keys.length} entries` : `not 4 values: ${partialDecisions.slice(0, 3).join('; ')}` });
  for (const precision of PRECISIONS) {
    const cold = records.find((r) => r.precision === precision && r.mode === 'cold');
    const file = records.find((r) => r.precision === precision && r.mode === 'file');
    const memory = records.find((r) => r.precision === precision && r.mode === 'memory');
    const keysOfPrecision = keys.filter((k) => k.includes(`|${precision}|timed|`)).length;
    checks.push({
      name: `${precision}: cold compile searched`,
      pass: cold !== undefined && cold.convs > cold.fromCache && keysOfPrecision > 0,
      detail: cold ? `${cold.convs - cold.fromCache}/${cold.convs} convs searched (the rest repeat a shape already searched), ${keysOfPrecision} ${precision} keys in the file, ${cold.compileMs} ms` : 'no record',
    });
    // Every conv's timed decision is cached (identity convs included), so all come from the file.
    checks.push({ name: `${precision}: warm compile (new process) skipped the search`, pass: file !== undefined && file.convs > 0 && file.fromCache === file.convs, detail: file ? `${file.fromCache}/${file.convs} from cache, ${file.compileMs} ms vs cold ${cold?.compileMs ?? '-'} ms (in-process again: ${memory?.compileMs ?? '-'} ms)` : 'no record' });
  }
  checks.push({ name: 'outputs match the fixture (cold, memory, file)', pass: records.length === 3 * PRECISIONS.length && records.every((r) => r.pass), detail: records.map((r) => `${r.precision}/${r.mode} ${r.relL2.toExponential(2)}`).join(', ') });
  for (const c of checks) log(`${c.pass ? 'PASS' : 'FAIL'} ${c.name}: ${c.detail}`);
  saveStage(args, 'algo_cache', { cachePath, entries: keys.length, sampleKeys: keys.slice(0, 3), records, checks });
  if (!checks.every((c) => c.pass)) process.exitCode = 1;
}
