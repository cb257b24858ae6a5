/**
 * Precision 'bf16' on the CPU against the shared fixtures' float64 outputs, both weight profiles,
 * every case (as tests/e2e/fixtures.test.ts does for fp32). Skipped, with the reason printed, on
 * a CPU without native bf16 (bf16 is refused there: tests/native/cpu-bf16.test.ts).
 *
 * The bounds come from the measured bf16 rounding error and the fixtures' own noise
 * amplification (sensitivity.json: relative noise eps at every conv/linear output moves the
 * output by A x eps; A = 1.15 / 1.06 / 1.48 under plain for v4 / IRv2 / IR-v1, 2000 / 1000 / 60
 * under dcfree). bf16 keeps 8 significant bits; rounding the weights, the input and the output
 * of every conv gives a per-layer relative error near the bf16 unit roundoff u = 2^-8 = 3.9e-3
 * (measured under plain as rel_l2 / A: 4.0-4.3e-3 v4, 3.4e-3 IRv2, 2.8-3.2e-3 IR-v1).
 *   plain:  rel_l2 <= 1.5 x A x u (6.7e-3 / 6.2e-3 / 8.7e-3; measured 3.6e-3 to 4.9e-3), max
 *           |d|/max|ref| <= twice that (as the fixtures' own bounds pair them), and top-1 must
 *           match on every sample (the measured gaps are far above the error).
 *   dcfree IR-v1: A x u = 0.23 (measured 0.11): rel_l2 <= 0.25, max ratio <= 0.3.
 *   dcfree v4 / IRv2: A x u = 8 / 4, far past 1: bf16 rounding decorrelates these outputs from the
 *           reference as much as another input image does (the fixtures' two samples correlate at
 *           0.87, so rel_l2 ~ sqrt(2 (1 - 0.87)) = 0.5; measured 0.40-0.48). No bf16 engine can
 *           do better: the fixtures' own 'weights_rounded_to_f16' case (finer rounding, weights
 *           only) moves dcfree v4 by 0.25. The bound rel_l2 <= 0.7, max ratio <= 1 only says the
 *           output is finite, at the right scale and about as close as chaos allows (zeros
 *           would give 1), and the gap rule then enforces no top-1: dcfree checks bf16 for meaning
 *           on IR-v1 only.
 * Top-1: the fixtures' rule (top-1 must match wherever the reference's top-1/top-2 gap exceeds
 * 2 x the max-ratio bound x max|ref|) with these bounds, plus unconditional top-1 under plain.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fixturesDir } from '../helpers/fixtures';
import { cpuBackendInfo, loadCpuModule } from '../../src/native/cpu-backend';
import { createSession } from '../../src/runtime/session';
import { getModel } from '../../src/models/registry';
import { generateInput, writeSyntheticCheckpoint, type Profile } from '../../src/weights/synthetic';
import { readNpySync } from '../../src/io/npy';
import { compareWithReference, type Tolerance } from '../../src/check/fixture-compare';
import type { ModelName } from '../../src/models/types';

const dir = fixturesDir();
const cpu = cpuBackendInfo();
const skipReason = !dir
  ? 'shared fixtures not found (../shared/fixtures or INCEPTION_FIXTURES)'
  : !cpu.available
    ? `CPU backend unavailable: ${cpu.reason}`
    : !loadCpuModule().info().bf16Native
      ? `this CPU has no native bf16 (oneDNN ISA ${loadCpuModule().info().isa}; needs avx512_core_bf16 or avx512_core_amx)`
      : '';
if (skipReason) console.warn(`[skip] tests/e2e/fixtures-bf16: ${skipReason}`);

const CASES: Record<ModelName, readonly [number, number][]> = {
  inception_v4: [[2, 299], [1, 311]],
  inception_resnet_v2: [[2, 299], [1, 311]],
  inception_resnet_v1: [[2, 160], [1, 181]],
};

const bound = (relL2: number, maxAbs: number): Tolerance => ({ rel_l2: relL2, max_abs_over_max_ref: maxAbs, top1_gap_factor: 2 });
export const BF16_BOUNDS: Readonly<Record<Profile, Readonly<Record<ModelName, Tolerance>>>> = {
  plain: {
    inception_v4: bound(6.7e-3, 1.34e-2),
    inception_resnet_v2: bound(6.2e-3, 1.24e-2),
    inception_resnet_v1: bound(8.7e-3, 1.74e-2),
  },
  dcfree: {
    inception_v4: bound(0.7, 1),
    inception_resnet_v2: bound(0.7, 1),
    inception_resnet_v1: bound(0.25, 0.3),
  },
};

describe.skipIf(Boolean(skipReason))(`networks in bf16 against the shared fixtures (CPU)${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
  let work = '';
  beforeAll(() => {
    work = mkdtempSync(path.join(tmpdir(), 'inception-fixtures-bf16-'));
  });
  afterAll(() => {
    if (work) rmSync(work, { recursive: true, force: true });
  });

  for (const profile of ['plain', 'dcfree'] as const) {
    for (const model of Object.keys(CASES) as ModelName[]) {
      it(`${model} ${profile}: both cases within the bf16 bounds`, async () => {
        const tol = BF16_BOUNDS[profile][model];
        const file = path.join(work, `${model}_${profile}.safetensors`);
        await writeSyntheticCheckpoint(getModel(model).checkpoint, profile, file);
        try {
          for (const [n, size] of CASES[model]) {
            const session = await createSession({ model, weights: file, device: 'cpu', precision: 'bf16', maxBatch: n, inputSize: size });
            try {
              const out = await session.run(generateInput(n, size, size), [n, 3, size, size]);
              const ref = readNpySync(path.join(dir!, profile, `${model}_${n}x${size}_out_f64.npy`));
              const report = compareWithReference(out, ref.data, [n, ref.shape[1]!], tol);
              console.log(
                `bf16 ${profile} ${model} ${n}x${size}: rel_l2 ${report.relL2.toExponential(2)} max_abs/max_ref ${report.maxAbsOverMaxRef.toExponential(2)} ` +
                  `top1 ${report.samples.map((s) => `${s.candTop1}/${s.refTop1}${s.top1Enforced ? ' (enforced)' : ''}`).join(', ')}`,
              );
              expect(report.why ?? 'pass').toBe('pass');
              if (profile === 'plain') expect(report.samples.map((s) => s.candTop1)).toEqual(report.samples.map((s) => s.refTop1));
            } finally {
              await session.dispose();
            }
          }
        } finally {
          rmSync(file, { force: true });
        }
      }, 600_000);
    }
  }
});
