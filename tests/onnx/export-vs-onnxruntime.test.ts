/**
 * The ONNX export checked by a peer: every network, unfolded and folded, run by onnxruntime-node
 * on the fixture 'plain' weights, compared with our CPU backend on the same input.
 *
 * Reduced input sizes (107 for v4 / IR-v2, 96 for IR-v1) keep the suite fast on 2 cores; the
 * graphs are the same ones at 299/160 with smaller feature maps. Batch 2, then batch 1 through
 * the same exported model (the batch dimension is symbolic).
 *
 * Tolerance rel-L2 <= 1e-4: both sides compute the same float32 math and differ only in
 * summation order (and, folded, in where the BN's rounding lands), which measures ~1e-6; 1e-4 is
 * the fixtures' own bound for the plain profile against float64, so passing here means the ONNX
 * graph is as faithful as our engine. A wrong op, attribute (count_include_pad, padding, eps) or
 * weight layout gives rel-L2 of order 1.
 */
import { describe, expect, it } from 'vitest';
import { onnx } from 'onnx-proto';
import { exportOnnx } from '../../src/onnx/export';
import { getModel } from '../../src/models/registry';
import type { ModelName } from '../../src/models/types';
import { cpuBackendInfo } from '../../src/native/cpu-backend';
import { createSession } from '../../src/runtime/session';
import { generateInput, syntheticWeights, type Profile } from '../../src/weights/synthetic';
import { compareWithReference, type Tolerance } from '../../src/check/fixture-compare';
import { fixturesDir, readFixtureJson } from '../helpers/fixtures';
import { loadOrt, relL2, runOrt } from './ort-helpers';

const cpu = cpuBackendInfo();
const ort = loadOrt();
const skip = !cpu.available ? `CPU backend unavailable: ${cpu.reason}` : ort === null ? 'onnxruntime-node does not load here' : '';
const title = (t: string): string => (skip ? `${t} [SKIPPED: ${skip}]` : t);

const SIZES: Record<ModelName, number> = { inception_v4: 107, inception_resnet_v2: 107, inception_resnet_v1: 96 };
const PLAIN_BOUND = 1e-4;

async function ours(model: ModelName, profile: Profile, size: number, input: Float32Array, n: number): Promise<Float32Array> {
  // benchmark: false: this session is only the reference the exports are held to; timing
  // Winograd kernels would add seconds and change nothing that is compared here.
  const session = await createSession({ model, weights: { synthetic: profile }, device: 'cpu', inputSize: size, maxBatch: n, benchmark: false });
  try {
    return await session.run(input, [n, 3, size, size]);
  } finally {
    await session.dispose();
  }
}

describe.skipIf(Boolean(skip))(title('ONNX export vs onnxruntime-node (plain weights)'), () => {
  // The folded export on every network (each network's own blocks); the unfolded one on IR-v1
  // only: it differs from the folded one by the BatchNormalization nodes it keeps, which are
  // emitted the same way for every block of every network (the unfolded file's structure is
  // checked below), and each export of v4 or IR-v2 costs seconds on a two-core machine.
  const foldsOf = (model: ModelName): readonly boolean[] => (model === 'inception_resnet_v1' ? [false, true] : [true]);
  for (const model of Object.keys(SIZES) as ModelName[]) {
    it(`${model} at ${SIZES[model]}: ${foldsOf(model).length === 2 ? 'unfolded and folded exports match' : 'the folded export matches'} our CPU output at batch 2 and batch 1`, async () => {
      const size = SIZES[model];
      const def = getModel(model);
      const weights = syntheticWeights(def, 'plain');
      const x2 = generateInput(2, size, size);
      const x1 = x2.slice(0, 3 * size * size);
      const expected2 = await ours(model, 'plain', size, x2, 2);
      const k = expected2.length / 2;
      for (const fold of foldsOf(model)) {
        const bytes = exportOnnx(def, weights, { fold, inputSize: size });
        const session = await ort!.InferenceSession.create(bytes, { intraOpNumThreads: 2, interOpNumThreads: 1, graphOptimizationLevel: 'all' });
        try {
          const got2 = await runOrt(ort!, session, x2, [2, 3, size, size], def.output);
          const got1 = await runOrt(ort!, session, x1, [1, 3, size, size], def.output);
          expect(got2.length).toBe(2 * k);
          expect(relL2(got2, expected2), `${model} fold=${fold} batch 2`).toBeLessThanOrEqual(PLAIN_BOUND);
          // Batch 1 through the same model: the first row of batch 2 (rows are independent).
          expect(relL2(got1, expected2.subarray(0, k)), `${model} fold=${fold} batch 1`).toBeLessThanOrEqual(PLAIN_BOUND);
        } finally {
          await session.release();
        }
      }
    });
  }

  it('the dcfree profile (IR-v1 at 96) within the fixtures bound for that network', async () => {
    // dcfree amplifies per-layer float32 rounding, so the bound is the fixtures' tolerance for
    // this network and profile (tolerances.json; 1e-3 rel-L2 for IR-v1), not the plain 1e-4.
    const tolerance: Tolerance =
      fixturesDir() === null
        ? { rel_l2: 1e-3, max_abs_over_max_ref: 2e-3, top1_gap_factor: 2 }
        : readFixtureJson<{ profiles: Record<string, Record<string, Tolerance>> }>('tolerances.json').profiles.dcfree!.inception_resnet_v1!;
    const model = 'inception_resnet_v1';
    const size = SIZES[model];
    const def = getModel(model);
    const x = generateInput(2, size, size);
    const expected = await ours(model, 'dcfree', size, x, 2);
    const bytes = exportOnnx(def, syntheticWeights(def, 'dcfree'), { fold: false, inputSize: size });
    const session = await ort!.InferenceSession.create(bytes, { intraOpNumThreads: 2, graphOptimizationLevel: 'all' });
    try {
      const got = await runOrt(ort!, session, x, [2, 3, size, size], def.output);
      const report = compareWithReference(expected, got, [2, expected.length / 2], tolerance);
      expect(report.relL2).toBeLessThanOrEqual(tolerance.rel_l2);
      expect(report.pass, report.why).toBe(true);
    } finally {
      await session.release();
    }
  });
});

describe('ONNX export: the model file itself', () => {
  // IR-v1 at its minimum-ish size keeps the export cheap; the structure does not depend on size.
  const def = getModel('inception_resnet_v1');
  const weights = syntheticWeights(def, 'plain');
  const decode = (fold: boolean): onnx.ModelProto => onnx.ModelProto.decode(exportOnnx(def, weights, { fold, inputSize: 96 }));

  it('unfolded: the checkpoint graph, initializers under the state_dict names, dynamic batch, opset 17', () => {
    const m = decode(false);
    expect(Number(m.opsetImport[0]!.version)).toBe(17);
    const graph = m.graph!;
    const initNames = new Set((graph.initializer ?? []).map((t) => t.name));
    for (const entry of def.checkpoint) if (entry.dtype === 'F32') expect(initNames.has(entry.name), entry.name).toBe(true);
    const ops = new Set((graph.node ?? []).map((n) => n.opType));
    for (const op of ['Conv', 'BatchNormalization', 'Relu', 'MaxPool', 'Concat', 'Mul', 'Add', 'GlobalAveragePool', 'Flatten', 'Gemm', 'ReduceL2', 'Max', 'Div']) {
      expect(ops.has(op), op).toBe(true);
    }
    const input = graph.input?.[0];
    if (!input) throw new Error('the exported graph has no input');
    expect(input.name).toBe('input');
    const dims = input.type!.tensorType!.shape!.dim!;
    expect(dims.map((d) => d.dimParam || Number(d.dimValue))).toEqual(['N', 3, 96, 96]);
    expect(graph.output?.[0]?.name).toBe('embedding');
  });

  it("inception_v4's average pools exclude the padding (count_include_pad=0), as timm's do", () => {
    const v4 = getModel('inception_v4');
    const m = onnx.ModelProto.decode(exportOnnx(v4, syntheticWeights(v4, 'plain'), { fold: true, inputSize: 107 }));
    const pools = (m.graph?.node ?? []).filter((n) => n.opType === 'AveragePool');
    expect(pools.length).toBeGreaterThan(0);
    for (const p of pools) expect(Number((p.attribute ?? []).find((a) => a.name === 'count_include_pad')?.i)).toBe(0);
  });

  it('folded: no BatchNormalization left, fewer nodes, Conv carries a bias', () => {
    const unfolded = decode(false).graph!;
    const folded = decode(true).graph!;
    const bn = (g: onnx.IGraphProto): number => g.node!.filter((n) => n.opType === 'BatchNormalization').length;
    // IR-v1's last_bn follows the linear layer; the folding pass folds it into the Gemm too.
    expect(bn(folded)).toBeLessThan(bn(unfolded));
    expect(folded.node!.filter((n) => n.opType === 'Conv').every((n) => n.input!.length === 3)).toBe(true);
    expect(folded.node!.length).toBeLessThan(unfolded.node!.length);
  });

  it('rejects bad options with a message naming the fix', () => {
    expect(() => exportOnnx(def, weights, { fold: false, opset: 11 })).toThrow(/between 13 and 17 for opset/);
    expect(() => exportOnnx(def, weights, { fold: false, inputSize: 20 })).toThrow(/at least \d+ for inception_resnet_v1's inputSize/);
    expect(() => exportOnnx(def, new Map(), { fold: false, inputSize: 96 })).toThrow(/needs parameter/);
    expect(() => exportOnnx(def, weights, {} as never)).toThrow(/fold: boolean/);
  });
});
