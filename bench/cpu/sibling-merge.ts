/**
 * Sibling-conv merge A/B on the CPU (issue 18 item 1): per network and batch, sessions without the
 * merge, with it (branch heads), and with it including concat pieces, all in this one process,
 * runs interleaved (the order rotated every iteration) after a warm-up of each, 50 ms idle before
 * every timed run on the CPU (as bench --device cpu does, so no session's spinning threads slow
 * the next; none on cuda). The measurement is src/bench/sibling-merge-ab.ts, shared with the GPU
 * check's sibling_merge stage.
 * Images/s at the median latency, and the paired ratio: the median over iterations of
 * unmerged ms / variant ms in the same iteration (> 1: the variant is faster).
 *
 *   npm run build:ts && tsc -p bench/cpu && flock -x /tmp/cpu.lock node lib/bench/sibling-merge.js \
 *     [--models inception_v4,...] [--batches 1,8] [--iterations 10] [--warmup 2] [--size N] [--out DIR]
 *
 * The variants are chosen through INCEPTION_MERGE_SIBLING_CONVS (src/optimize/sibling-merge-switch.ts),
 * read when each session is created. Writes sibling-merge-<device>-<models>-<date>-<commit>.{json,md} to --out
 * (default: a new temporary directory). The same script on a GPU machine: add --device cuda
 * --precision fp16 (it then times the CUDA backend the same way).
 */
import { writeFileSync } from 'node:fs';
import { mkdtempSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { ModelName, Precision } from '../../lib/index';
import { machineInfo } from '../../lib/bench/machine';
import { measureSiblingMerge, siblingMergeTable, type SiblingMergeRow } from '../../lib/bench/sibling-merge-ab';
import { getModel } from '../../lib/models/registry';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0) return fallback;
  const v = process.argv[i + 1];
  if (v === undefined || v.startsWith('--')) throw new Error(`--${name} needs a value`);
  return v;
}

async function main(): Promise<void> {
  const models = arg('models', 'inception_v4,inception_resnet_v2,inception_resnet_v1').split(',') as ModelName[];
  const batches = arg('batches', '1,8').split(',').map(Number);
  const iterations = Number(arg('iterations', '10'));
  const warmup = Number(arg('warmup', '2'));
  const device = arg('device', 'cpu');
  const precision = arg('precision', 'fp32') as Precision;
  const sizeArg = arg('size', '');
  const outArg = arg('out', '');
  const out = outArg === '' ? mkdtempSync(join(tmpdir(), 'inception-sibling-merge-')) : resolve(process.env.INIT_CWD ?? process.cwd(), outArg);
  mkdirSync(out, { recursive: true });
  const machine = machineInfo();
  const rows: SiblingMergeRow[] = [];
  const settleMs = device === 'cpu' ? 50 : 0;
  for (const model of models) {
    const size = sizeArg === '' ? getModel(model).preprocessing.inputSize : Number(sizeArg);
    for (const batch of batches) {
      const row = await measureSiblingMerge({ model, size, batch, device: device as 'cpu', precision, iterations, warmup, settleMs });
      rows.push(row);
      console.log(
        `${model} ${size} b${batch}: ` +
          row.variants.map((v) => `${v.name} ${v.imagesPerSecond.toFixed(2)} img/s (p50 ${v.p50Ms.toFixed(1)} ms, paired x${v.pairedVsUnmerged.toFixed(3)}, relL2 ${v.relL2VsUnmerged.toExponential(1)})`).join('; '),
      );
    }
  }
  const settings = { iterations, warmup, settleMs, device, precision, interleaved: 'order rotated each iteration', weights: 'synthetic:plain' };
  const stem = `sibling-merge-${device}-${models.join('+')}-${machine.date.slice(0, 10)}-${machine.commit.split(' ')[0]}`;
  writeFileSync(join(out, `${stem}.json`), JSON.stringify({ kind: 'sibling-merge-ab', machine, settings, rows, loadAverage1mAtEnd: (await import('node:os')).loadavg()[0] }, null, 2) + '\n');
  const md = [
    `# Sibling-conv merge A/B (${device}, ${precision})`,
    '',
    `date ${machine.date}; CPU ${machine.cpuModel}, ISA ${machine.isa}, ${machine.logicalCores} logical cores; load ${machine.loadAverage1m.toFixed(2)} at start; commit ${machine.commit}`,
    `method: ${iterations} timed runs per variant after ${warmup} warm-up, interleaved (order rotated each iteration), ${settleMs} ms idle before each run; synthetic 'plain' weights; images/s at the median latency; paired = median over iterations of unmerged ms / variant ms (> 1: faster than unmerged); relL2 = the variant's output against the unmerged one, same input`,
    '',
    ...siblingMergeTable(rows),
    '',
  ].join('\n');
  writeFileSync(join(out, `${stem}.md`), md);
  console.log(`wrote ${join(out, stem)}.{json,md}`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
