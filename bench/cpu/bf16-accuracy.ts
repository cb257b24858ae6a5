/**
 * How far precision 'bf16' moves the outputs (issue 20), written to bench/results as JSON and
 * Markdown:
 *  1. every fixture case, both weight profiles: bf16 and fp32 against the float64 reference
 *     (rel_l2, max|d|/max|ref|, top-1 per sample, top-5 equal per sample);
 *  2. a larger synthetic set: per model and weight profile, IMAGES inputs (half i.i.d. noise, half
 *     smooth random waves, per image scaled to mean 0 / std 1), bf16 against our fp32 (itself
 *     within 1e-6 (plain) to 1.5e-3 (dcfree v4) of float64): how often the top-1 and the top-5
 *     (same five classes in the same order, and as a set) agree; for IR-v1 embeddings, the cosine;
 *  3. optionally a real checkpoint per model (BF16_CHECKPOINTS='inception_v4=/path/model.safetensors,...'),
 *     the same synthetic set through it.
 *
 * Usage: npx vite-node bench/cpu/bf16-accuracy.ts   (IMAGES=64 by default; OUT=bench/results)
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { compareWithReference } from '../../src/check/fixture-compare';
import { machineInfo } from '../../src/bench/machine';
import { readNpySync } from '../../src/io/npy';
import { getModel } from '../../src/models/registry';
import type { ModelName } from '../../src/models/types';
import { createSession, type Session } from '../../src/runtime/session';
import { generateInput, writeSyntheticCheckpoint, type Profile } from '../../src/weights/synthetic';
import { makeRng } from '../../tests/helpers/random-graph';

const MODELS: readonly ModelName[] = ['inception_v4', 'inception_resnet_v2', 'inception_resnet_v1'];
const CASES: Record<ModelName, readonly [number, number][]> = {
  inception_v4: [[2, 299], [1, 311]],
  inception_resnet_v2: [[2, 299], [1, 311]],
  inception_resnet_v1: [[2, 160], [1, 181]],
};
const fixtures = process.env.INCEPTION_FIXTURES ?? path.resolve(__dirname, '../../..', 'shared', 'fixtures');
const images = Number(process.env.IMAGES ?? 64);
const out = process.env.OUT ?? path.join('bench', 'results');

function order(row: ArrayLike<number>): number[] {
  return Array.from({ length: row.length }, (_, i) => i).sort((a, b) => row[b]! - row[a]! || a - b);
}

/** n images [n,3,size,size]: even ones i.i.d. noise (the fixture recipe), odd ones a sum of 6 random waves per channel; each standardised. */
function syntheticSet(n: number, size: number): Float32Array {
  const plane = size * size;
  const noise = generateInput(n, size, size);
  const data = new Float32Array(n * 3 * plane);
  const rnd = makeRng(20); // seeded: the set is the same on every run
  for (let i = 0; i < n; i++) {
    const image = data.subarray(i * 3 * plane, (i + 1) * 3 * plane);
    if (i % 2 === 0) image.set(noise.subarray(i * 3 * plane, (i + 1) * 3 * plane));
    else {
      for (let c = 0; c < 3; c++) {
        const waves = Array.from({ length: 6 }, () => ({ fx: (rnd() - 0.5) * 0.4, fy: (rnd() - 0.5) * 0.4, phase: rnd() * 6.283, amp: rnd() }));
        for (let y = 0; y < size; y++) {
          for (let x = 0; x < size; x++) {
            let v = 0;
            for (const w of waves) v += w.amp * Math.sin(w.fx * x + w.fy * y + w.phase);
            image[c * plane + y * size + x] = v;
          }
        }
      }
    }
    let mean = 0;
    for (const v of image) mean += v;
    mean /= image.length;
    let sq = 0;
    for (const v of image) sq += (v - mean) ** 2;
    const std = Math.sqrt(sq / image.length) || 1;
    for (let k = 0; k < image.length; k++) image[k] = (image[k]! - mean) / std;
  }
  return data;
}

async function runAll(session: Session, input: Float32Array, n: number, size: number, batch: number): Promise<Float32Array> {
  const per = 3 * size * size;
  const parts: Float32Array[] = [];
  for (let i = 0; i < n; i += batch) {
    const m = Math.min(batch, n - i);
    parts.push(await session.run(input.subarray(i * per, (i + m) * per), [m, 3, size, size]));
  }
  const k = parts[0]!.length / Math.min(batch, n);
  const all = new Float32Array(n * k);
  let offset = 0;
  for (const p of parts) {
    all.set(p, offset);
    offset += p.length;
  }
  return all;
}

interface Agreement {
  readonly source: string;
  readonly model: ModelName;
  readonly images: number;
  readonly top1: number;
  readonly top5Ordered: number;
  readonly top5Set: number;
  readonly meanCosine: number;
  readonly minCosine: number;
  readonly relL2: number;
}

function agreement(source: string, model: ModelName, bf16: Float32Array, fp32: Float32Array, n: number): Agreement {
  const k = fp32.length / n;
  let top1 = 0, ordered = 0, set = 0, cosSum = 0, cosMin = 1, d2 = 0, r2 = 0;
  for (let i = 0; i < n; i++) {
    const a = bf16.subarray(i * k, (i + 1) * k);
    const b = fp32.subarray(i * k, (i + 1) * k);
    const oa = order(a).slice(0, 5);
    const ob = order(b).slice(0, 5);
    if (oa[0] === ob[0]) top1++;
    if (oa.every((v, j) => v === ob[j])) ordered++;
    if (oa.every((v) => ob.includes(v))) set++;
    let dot = 0, na = 0, nb = 0;
    for (let j = 0; j < k; j++) {
      dot += a[j]! * b[j]!;
      na += a[j]! ** 2;
      nb += b[j]! ** 2;
      d2 += (a[j]! - b[j]!) ** 2;
      r2 += b[j]! ** 2;
    }
    const cos = dot / Math.sqrt(na * nb);
    cosSum += cos;
    cosMin = Math.min(cosMin, cos);
  }
  return { source, model, images: n, top1: top1 / n, top5Ordered: ordered / n, top5Set: set / n, meanCosine: cosSum / n, minCosine: cosMin, relL2: Math.sqrt(d2 / r2) };
}

/** The synthetic set through `model` on `weights` in fp32 and in bf16, and how their rankings agree. */
async function bf16AgainstFp32(source: string, model: ModelName, weights: string, images: number): Promise<Agreement> {
  const size = getModel(model).preprocessing.inputSize;
  const input = syntheticSet(images, size);
  const outputs: Partial<Record<'fp32' | 'bf16', Float32Array>> = {};
  for (const precision of ['fp32', 'bf16'] as const) {
    const session = await createSession({ model, weights, device: 'cpu', precision, maxBatch: 8, inputSize: size });
    outputs[precision] = await runAll(session, input, images, size, 8);
    await session.dispose();
  }
  return agreement(source, model, outputs.bf16!, outputs.fp32!, images);
}


async function main(): Promise<void> {
  const work = mkdtempSync(path.join(tmpdir(), 'bf16-accuracy-'));
  const fixtureRows: string[] = [];
  const fixtureJson: unknown[] = [];
  const agreements: Agreement[] = [];
  try {
    for (const profile of ['plain', 'dcfree'] as Profile[]) {
      for (const model of MODELS) {
        const file = path.join(work, `${model}_${profile}.safetensors`);
        await writeSyntheticCheckpoint(getModel(model).checkpoint, profile, file);
        for (const [n, size] of CASES[model]) {
          const ref = readNpySync(path.join(fixtures, profile, `${model}_${n}x${size}_out_f64.npy`));
          for (const precision of ['fp32', 'bf16'] as const) {
            const session = await createSession({ model, weights: file, device: 'cpu', precision, maxBatch: n, inputSize: size });
            const output = await session.run(generateInput(n, size, size), [n, 3, size, size]);
            await session.dispose();
            const r = compareWithReference(output, ref.data, [n, ref.shape[1]!], { rel_l2: 1, max_abs_over_max_ref: 1, top1_gap_factor: 0 });
            fixtureJson.push({ profile, model, case: `${n}x${size}`, precision, relL2: r.relL2, maxAbsOverMaxRef: r.maxAbsOverMaxRef, samples: r.samples });
            fixtureRows.push(`| ${profile} | ${model} | ${n}x${size} | ${precision} | ${r.relL2.toExponential(2)} | ${r.maxAbsOverMaxRef.toExponential(2)} | ${r.samples.map((s) => `${s.candTop1}/${s.refTop1}`).join(', ')} | ${r.samples.map((s) => (s.top5Equal ? 'yes' : 'no')).join(', ')} |`);
            process.stderr.write(`${fixtureRows.at(-1)}\n`);
          }
        }
        agreements.push(await bf16AgainstFp32(`fixture weights '${profile}'`, model, file, images));
        process.stderr.write(`${JSON.stringify(agreements.at(-1))}\n`);
        rmSync(file, { force: true });
      }
    }
    for (const item of (process.env.BF16_CHECKPOINTS ?? '').split(',').filter((s) => s.length > 0)) {
      const [model, file] = item.split('=') as [ModelName, string];
      agreements.push(await bf16AgainstFp32(`checkpoint ${path.basename(path.dirname(file))}/${path.basename(file)}`, model, file, images));
      process.stderr.write(`${JSON.stringify(agreements.at(-1))}\n`);
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  const machine = machineInfo();
  const base = path.join(out, `bf16-accuracy-${machine.date.slice(0, 10)}-${machine.commit.slice(0, 7)}`);
  mkdirSync(out, { recursive: true });
  writeFileSync(`${base}.json`, `${JSON.stringify({ kind: 'cpu-bf16-accuracy', machine, images, fixtures: fixtureJson, agreements }, null, 2)}\n`);
  const pct = (x: number): string => `${(100 * x).toFixed(1)}%`;
  const md = [
    '# CPU bf16 accuracy (issue 20)',
    '',
    `${machine.date}, ${machine.cpuModel} (${machine.isa}), commit ${machine.commit}. Command: \`npx vite-node bench/cpu/bf16-accuracy.ts\` (IMAGES=${images}).`,
    '',
    '## Fixture cases against the float64 reference',
    '',
    '| profile | model | case | precision | rel_l2 | max\\|d\\|/max\\|ref\\| | top-1 ours/ref | top-5 equal |',
    '|---|---|---|---|---:|---:|---|---|',
    ...fixtureRows,
    '',
    `## ${images} synthetic inputs (half noise, half smooth waves): bf16 against our fp32`,
    '',
    'Top-5 ordered: the same five classes in the same order; as a set: the same five. IR-v1 outputs are embeddings: its cosine is the measure that matters (a "top-5" of embedding dimensions means little).',
    '',
    '| weights | model | top-1 agrees | top-5 ordered | top-5 as a set | mean cosine | min cosine | rel_l2 |',
    '|---|---|---:|---:|---:|---:|---:|---:|',
    ...agreements.map((a) => `| ${a.source} | ${a.model} | ${pct(a.top1)} | ${pct(a.top5Ordered)} | ${pct(a.top5Set)} | ${a.meanCosine.toFixed(5)} | ${a.minCosine.toFixed(5)} | ${a.relL2.toExponential(2)} |`),
    '',
  ].join('\n');
  writeFileSync(`${base}.md`, md);
  process.stdout.write(md);
  process.stderr.write(`wrote ${base}.json and ${base}.md\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
