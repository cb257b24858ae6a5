/**
 * exportGraphOnnx on arbitrary graphs: random Inception-style graphs (every IR op: conv with and
 * without bias/relu/residual, batch norm 2d/1d, max and average pools (count_include_pad false), concat,
 * residual_add, global pooling, linear, l2norm, softmax), unoptimised and optimised, run by
 * onnxruntime-node and compared with the float64 reference interpreter.
 *
 * Tolerance: max |ort - ref| / max(1, max |ref|) <= 1e-4. The graphs are a few layers deep with
 * O(100)-term float32 sums (error ~1e-6 of the magnitude); a wrong attribute or operand order
 * is off by O(1).
 */
import { describe, expect, it } from 'vitest';
import { exportGraphOnnx } from '../../src/onnx/export';
import { optimize } from '../../src/optimize';
import { randomGraph, randomInput, randomWeights } from '../helpers/random-graph';
import { referenceForward } from '../helpers/reference';
import { maxRelativeError } from '../helpers/compare';
import { loadOrt, runOrt } from './ort-helpers';

const ort = loadOrt();
const SEEDS = Array.from({ length: 24 }, (_, i) => 1000 + i * 7919);

describe.skipIf(ort === null)(`exportGraphOnnx on random graphs${ort === null ? ' [SKIPPED: onnxruntime-node does not load]' : ''}`, () => {
  it('unoptimised and optimised exports match the float64 reference at the graph batch', async () => {
    const ops = new Set<string>();
    for (const seed of SEEDS) {
      const graph = randomGraph(seed);
      const weights = randomWeights(graph, seed);
      const input = randomInput(graph, seed);
      const shape = graph.tensors.find((t) => t.id === graph.input)!.shape;
      const expected = referenceForward(graph, weights, input);
      for (const n of graph.nodes) ops.add(n.op);
      const optimised = optimize(graph, weights);
      for (const [label, g, w] of [['graph', graph, weights], ['optimised', optimised.graph, optimised.weights]] as const) {
        const session = await ort!.InferenceSession.create(exportGraphOnnx(g, w, { outputName: 'y' }), { intraOpNumThreads: 1, graphOptimizationLevel: 'all' });
        try {
          const got = await runOrt(ort!, session, input, shape, 'y');
          expect(maxRelativeError(got, expected), `seed ${seed} ${label}`).toBeLessThanOrEqual(1e-4);
        } finally {
          await session.release();
        }
      }
    }
    // The seeds cover the IR (guards against a generator change silently narrowing the test).
    for (const op of ['conv2d', 'batchnorm', 'relu', 'maxpool2d', 'avgpool2d', 'globalavgpool', 'concat', 'residual_add', 'linear', 'l2norm', 'softmax']) expect(ops.has(op), op).toBe(true);
  });
});
