/**
 * `plan`: the memory planner's report for a model, per batch size, without weights or a backend:
 * activation arena bytes against the naive sum of all tensors and the lower bound (the most
 * bytes live at one step). The layout is the CPU backend's (nChw8c/16c, fp32) unless --layout
 * asks for the GPU ones.
 */
import type { WeightStore } from '../graph/ir';
import { getModel } from '../models/registry';
import { optimize } from '../optimize';
import { lowerToPlan } from '../plan/lower';
import type { LayoutPolicy } from '../plan/types';
import { yieldToEventLoop } from '../runtime/event-loop';
import { COMMON_OPTIONS, optionalInputSize, parse, printedHelp, requireModel } from './args';
import { EXIT_OK, UsageError, type CliIo } from './io';

const LAYOUTS: Readonly<Record<string, LayoutPolicy>> = {
  'cpu-avx2': { elementBytes: 4, channelBlock: 8, alignment: 64, concatViews: true },
  'cpu-avx512': { elementBytes: 4, channelBlock: 16, alignment: 64, concatViews: true },
  'cuda-fp32': { elementBytes: 4, channelBlock: 1, alignment: 256, concatViews: true },
  'cuda-fp16': { elementBytes: 2, channelBlock: 8, alignment: 256, concatViews: true },
};

export interface PlanReportRow {
  readonly model: string;
  readonly layout: string;
  readonly batch: number;
  readonly inputSize: number;
  readonly steps: number;
  readonly buffers: number;
  readonly arenaBytes: number;
  readonly naiveBytes: number;
  readonly lowerBoundBytes: number;
  readonly arenaOverLowerBound: number;
  readonly weightBytes: number;
}

export function planReport(modelName: string, batch: number, inputSize: number | undefined, layout: string): PlanReportRow {
  const model = getModel(modelName);
  const policy = Object.hasOwn(LAYOUTS, layout) ? LAYOUTS[layout] : undefined;
  if (policy === undefined) throw new UsageError(`--layout ${layout}: expected one of ${Object.keys(LAYOUTS).join(', ')}`, 'plan');
  const size = inputSize ?? model.preprocessing.inputSize;
  const graph = model.build({ batch, height: size, width: size });
  // The plan's offsets do not depend on weight values: zeros of the right shapes suffice.
  const weights: WeightStore = new Map(graph.params.map((p) => [p.name, new Float32Array(p.shape.reduce((a, b) => a * b, 1))]));
  const optimised = optimize(graph, weights);
  const { plan, report } = lowerToPlan(optimised.graph, optimised.weights, policy);
  return {
    model: model.name,
    layout,
    batch,
    inputSize: size,
    steps: plan.steps.length,
    buffers: plan.buffers.length,
    arenaBytes: report.arenaBytes,
    naiveBytes: report.naiveBytes,
    lowerBoundBytes: report.lowerBoundBytes,
    arenaOverLowerBound: report.arenaBytes / report.lowerBoundBytes,
    weightBytes: report.weightBytes,
  };
}

export async function planCommand(argv: readonly string[], io: CliIo): Promise<number> {
  const parsed = parse(
    'plan',
    argv,
    {
      model: { type: 'string', short: 'm' },
      batch: { type: 'string', short: 'b' },
      'input-size': { type: 'string' },
      layout: { type: 'string' },
      ...COMMON_OPTIONS,
    },
    false,
  );
  if (printedHelp(parsed, 'plan', io)) return EXIT_OK;
  const definition = requireModel(parsed, 'plan');
  const model = definition.name;
  const batchText = typeof parsed.values.batch === 'string' ? parsed.values.batch : '1,8';
  const batches = batchText.split(',').map((b) => {
    if (!/^[0-9]+$/.test(b) || Number(b) < 1) throw new UsageError(`--batch expects positive integers separated by commas, got '${batchText}'`, 'plan');
    return Number(b);
  });
  const inputSize = optionalInputSize(parsed, definition, 'plan');
  const layout = typeof parsed.values.layout === 'string' ? parsed.values.layout : 'cpu-avx2';
  for (const batch of batches) {
    await yieldToEventLoop(); // each report plans a whole network (seconds): keep an embedding process responsive
    io.stdout(`${JSON.stringify(planReport(model, batch, inputSize, layout))}\n`);
  }
  return EXIT_OK;
}
