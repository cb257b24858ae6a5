/**
 * The GPU check, run as compiled JS on the GPU machine by bench/gpu/run.sh, one stage per
 * process (a crash or timeout loses one stage only). Each stage writes <work>/results/<stage>.json;
 * `report` merges them into results.json + results.md (+ results.svg, the performance chart).
 *
 *   node device-suite.js <stage> --work DIR --fixtures DIR [--out DIR] [--cpu-only]
 *   stages: info | session | algo_cache | cpu_vs_gpu | ops | networks | graphs | profile_streams | bench (stage-bench.ts)
 *           | overlap | layer_profile | sibling_merge | serve | report
 *   (algo_cache_compile is algo_cache's child process)
 */
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Tolerance } from '../../src/check/fixture-compare';
import { writeNpy } from '../../src/io/npy';
import { getModel } from '../../src/models/registry';
import type { ModelName } from '../../src/models/types';
import { cudaBackendInfo, loadCudaBackend, loadCudaModule } from '../../src/native/cuda-backend';
import type { CudaPrecision } from '../../src/runtime/backend';
import { loadCheckpoint } from '../../src/weights/load';
import { generateInput, type Profile } from '../../src/weights/synthetic';
import { runOpCases, type CaseResult } from '../../tests/gpu/gpu-cases';
import { NETWORK_CASES, networkBound, runNetworkCase } from '../../tests/gpu/gpu-networks';
import { reportAlgoCache, reportCpuVsGpu, reportSession } from './report-new-stages';
import { buildPerfReport, perfMarkdown, perfSvg } from './report-perf';
import type { OursBench, TorchBench, TorchCompile } from './perf-rows';
import { reportServe } from './report-serve';
import { stageAlgoCache, stageAlgoCacheCompile } from './stage-algo-cache';
import { stageBench } from './stage-bench';
import { reportLayerProfile, stageLayerProfile } from './stage-layer-profile';
import { reportOverlap, stageOverlap } from './stage-overlap';
import { reportSiblingMerge, stageSiblingMerge } from './stage-sibling-merge';
import { stageCpuVsGpu } from './stage-cpu-vs-gpu';
import { reportGraphs, stageGraphs } from './stage-graphs';
import { reportProfileStreams, stageProfileStreams } from './stage-profile-streams';
import { stageSession } from './stage-session';
import { type Args, ensureCheckpoint, errorText, log, parseArgs, readStage, saveStage } from './suite-common';

const MODELS = Object.keys(NETWORK_CASES) as ModelName[];

async function stageInfo(args: Args): Promise<void> {
  const info = cudaBackendInfo();
  log(`available=${info.available} versions=${JSON.stringify(info.versions)} devices=${JSON.stringify(info.devices)}`);
  if (info.reason !== undefined) log(`reason: ${info.reason}`);
  let native: unknown = null;
  try {
    native = loadCudaModule().info();
  } catch (error) {
    native = { error: errorText(error) };
  }
  log(`native info: ${JSON.stringify(native)}`);
  saveStage(args, process.env.INCEPTION_STAGE_NAME ?? 'info', { info, native });
}

async function stageOps(args: Args): Promise<void> {
  const backend = loadCudaBackend();
  const results: CaseResult[] = [];
  for (const precision of ['fp32', 'tf32', 'fp16'] as const) {
    for (const force of ['', 'split-conv,scratch-views,pool-kernel']) {
      const rs = await runOpCases(backend, precision, force);
      for (const r of rs) {
        log(`${r.pass ? 'PASS' : 'FAIL'} ${precision}${force ? ` [${force}]` : ''} ${r.name} n=${r.n} relL2=${r.relL2.toExponential(2)} (<= ${r.bound})${r.error ? ` ERROR ${r.error}` : ''}${r.paths ? ` paths=${r.paths.join(' ')}` : ''}`);
      }
      results.push(...rs);
      saveStage(args, 'ops', { results });
    }
  }
}

interface NetworkResult {
  model: ModelName;
  profile: Profile;
  case: string;
  precision: CudaPrecision;
  pass: boolean;
  relL2?: number;
  maxAbsOverMaxRef?: number;
  bound?: Tolerance;
  why?: string;
  error?: string;
  compileMs?: number;
  runMs?: number;
  fusedConvs?: number;
  splitConvs?: number;
  scratchConvs?: number;
}

async function stageNetworks(args: Args): Promise<void> {
  const backend = loadCudaBackend();
  const results: NetworkResult[] = [];
  for (const model of MODELS) {
    for (const profile of ['plain', 'dcfree'] as const) {
      let weights: ReadonlyMap<string, Float32Array>;
      try {
        weights = (await loadCheckpoint(await ensureCheckpoint(args, model, profile), getModel(model))).weights;
      } catch (error) {
        results.push({ model, profile, case: '-', precision: 'fp32', pass: false, error: `checkpoint: ${errorText(error)}` });
        continue;
      }
      for (const [n, size] of NETWORK_CASES[model]) {
        const caseName = `${n}x${size}`;
        const inputPath = join(args.work, `input_${caseName}.npy`);
        if (!existsSync(inputPath)) await writeNpy(inputPath, generateInput(n, size, size), [n, 3, size, size]);
        const precisions: CudaPrecision[] = profile === 'plain' ? ['fp32', 'tf32', 'fp16'] : ['fp32'];
        for (const precision of precisions) {
          const bound = networkBound(args.fixtures, model, profile, precision);
          const result: NetworkResult = { model, profile, case: caseName, precision, pass: false, bound };
          try {
            const { output, report, compileMs, runMs, choices } = await runNetworkCase(backend, args.fixtures, model, profile, weights, n, size, precision);
            await writeNpy(join(args.work, `ours_${model}_${profile}_${caseName}_${precision}.npy`), output, [n, output.length / n]);
            Object.assign(result, {
              pass: report.pass,
              relL2: report.relL2,
              maxAbsOverMaxRef: report.maxAbsOverMaxRef,
              why: report.why,
              compileMs,
              runMs,
              fusedConvs: choices.filter((c) => !c.split).length,
              splitConvs: choices.filter((c) => c.split).length,
              scratchConvs: choices.filter((c) => c.viaScratch).length,
            });
          } catch (error) {
            result.error = errorText(error);
          }
          log(`${result.pass ? 'PASS' : 'FAIL'} ${model} ${profile} ${caseName} ${precision} relL2=${result.relL2?.toExponential(2) ?? '-'} maxAbs=${result.maxAbsOverMaxRef?.toExponential(2) ?? '-'} (<= ${bound.rel_l2}) compile=${result.compileMs ?? '-'}ms run=${result.runMs ?? '-'}ms convs fused/split/scratch=${result.fusedConvs ?? '-'}/${result.splitConvs ?? '-'}/${result.scratchConvs ?? '-'}${result.why ? ` why=${result.why}` : ''}${result.error ? ` ERROR ${result.error}` : ''}`);
          results.push(result);
          saveStage(args, 'networks', { results });
        }
      }
    }
  }
}

function stageReport(args: Args): void {
  const stages: Record<string, unknown> = {};
  const dir = join(args.work, 'results');
  for (const f of existsSync(dir) ? readdirSync(dir) : []) if (f.endsWith('.json')) stages[f.slice(0, -5)] = readStage(args, f.slice(0, -5));
  const meta = (() => {
    try {
      return JSON.parse(readFileSync(join(__dirname, '..', '..', '..', 'meta.json'), 'utf8')) as unknown;
    } catch {
      return null;
    }
  })();
  const md: string[] = ['# GPU check', '', `date: ${new Date().toISOString()}`, `build: ${JSON.stringify(meta)}`, ''];
  const info = stages.info as { info?: { available: boolean; versions: unknown; devices: unknown; reason?: string } } | null;
  if (info?.info) md.push(`device: ${JSON.stringify(info.info.devices)}`, `versions: ${JSON.stringify(info.info.versions)}`, `available: ${info.info.available}${info.info.reason ? ` (${info.info.reason})` : ''}`, '');
  md.push(...reportSession(stages.session), ...reportAlgoCache(stages.algo_cache), ...reportCpuVsGpu(stages.cpu_vs_gpu));
  const ops = stages.ops as { results?: CaseResult[] } | null;
  if (ops?.results) {
    const failed = ops.results.filter((r) => !r.pass);
    md.push(`## Ops: ${ops.results.length - failed.length}/${ops.results.length} pass`, '');
    if (failed.length > 0) {
      md.push('| precision | forced | case | n | relL2 | bound | error |', '|---|---|---|---|---|---|---|');
      for (const r of failed) md.push(`| ${r.precision} | ${r.force || '-'} | ${r.name} | ${r.n} | ${r.relL2.toExponential(2)} | ${r.bound} | ${r.error ?? ''} |`);
      md.push('');
    }
  }
  const nets = stages.networks as { results?: NetworkResult[] } | null;
  if (nets?.results) {
    md.push('## Networks vs float64 fixtures', '', '| model | profile | case | precision | pass | relL2 | maxAbs/maxRef | bound | convs fused/split/scratch | note |', '|---|---|---|---|---|---|---|---|---|---|');
    for (const r of nets.results) md.push(`| ${r.model} | ${r.profile} | ${r.case} | ${r.precision} | ${r.pass ? 'yes' : '**NO**'} | ${r.relL2?.toExponential(2) ?? '-'} | ${r.maxAbsOverMaxRef?.toExponential(2) ?? '-'} | ${r.bound?.rel_l2 ?? '-'} | ${r.fusedConvs ?? '-'}/${r.splitConvs ?? '-'}/${r.scratchConvs ?? '-'} | ${(r.error ?? r.why ?? '').replace(/\|/g, '/').slice(0, 200)} |`);
    md.push('');
  }
  const timm = stages.timm as { results?: { model: string; profile: string; case: string; ours_vs_timm_rel_l2?: number; timm_vs_f64_rel_l2?: number; error?: string }[] } | null;
  if (timm?.results) {
    md.push('## Ours vs timm on the same GPU (fp32, TF32 off)', '', '| model | profile | case | ours vs timm relL2 | timm vs f64 relL2 | note |', '|---|---|---|---|---|---|');
    for (const r of timm.results) md.push(`| ${r.model} | ${r.profile} | ${r.case} | ${r.ours_vs_timm_rel_l2?.toExponential(2) ?? '-'} | ${r.timm_vs_f64_rel_l2?.toExponential(2) ?? '-'} | ${r.error ?? ''} |`);
    md.push('');
  }
  const perf = buildPerfReport(stages.bench as OursBench | undefined, stages.torch_bench as TorchBench | undefined, stages.torch_compile as TorchCompile | undefined);
  md.push(...perfMarkdown(perf));
  md.push(...reportOverlap(stages.overlap));
  md.push(...reportLayerProfile(stages.layer_profile));
  md.push(...reportSiblingMerge(stages.sibling_merge));
  md.push(...reportGraphs(stages.graphs));
  md.push(...reportProfileStreams(stages.profile_streams));
  md.push(...reportServe(stages.serve));
  mkdirSync(args.out, { recursive: true });
  const date = new Date().toISOString();
  writeFileSync(join(args.out, 'results.json'), JSON.stringify({ date, build: meta, perf: perf.rows.length > 0 ? { goals: perf.goals, issue18Goals: perf.issue18Goals, copyRoofGbPerS: perf.copyRoofGbPerS, matmulPeak: perf.matmulPeak, rows: perf.rows } : undefined, stages }, null, 1));
  if (perf.rows.length > 0) writeFileSync(join(args.out, 'results.svg'), perfSvg(perf, date));
  writeFileSync(join(args.out, 'results.md'), md.join('\n') + '\n');
  console.log(md.join('\n'));
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  mkdirSync(args.work, { recursive: true });
  switch (args.stage) {
    case 'info':
      return stageInfo(args);
    case 'session':
      return stageSession(args);
    case 'algo_cache':
      return stageAlgoCache(args);
    case 'algo_cache_compile':
      return stageAlgoCacheCompile(args);
    case 'cpu_vs_gpu':
      return stageCpuVsGpu(args);
    case 'ops':
      return stageOps(args);
    case 'networks':
      return stageNetworks(args);
    case 'profile_streams':
      return stageProfileStreams(args);
    case 'graphs':
      return stageGraphs(args);
    case 'bench':
      return stageBench(args);
    case 'overlap':
      return stageOverlap(args);
    case 'layer_profile':
      return stageLayerProfile(args);
    case 'sibling_merge':
      return stageSiblingMerge(args);
    case 'serve': // loaded on demand: only this stage needs the server (and prom-client)
      return (await import('./stage-serve')).stageServe(args);
    case 'report':
      return stageReport(args);
    default:
      throw new Error(`unknown stage '${args.stage}' (info | session | algo_cache | cpu_vs_gpu | ops | networks | graphs | profile_streams | bench | overlap | layer_profile | sibling_merge | serve | report)`);
  }
}

main().catch((error: unknown) => {
  log(`stage failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
  process.exitCode = 1;
});
