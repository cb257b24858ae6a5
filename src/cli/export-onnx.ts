/** `export-onnx`: writes a model with its weights as an ONNX file (checkpoint graph or our folded one). */
import { writeFile } from 'node:fs/promises';
import type { WeightStore } from '../graph/ir';
import type { ModelDefinition } from '../models/types';
import { exportOnnx } from '../onnx/export';
import { loadCheckpoint } from '../weights/load';
import { syntheticWeights } from '../weights/synthetic';
import { pullWeights } from '../weights/pull';
import { parseWeightsReference } from '../weights/weights-reference';
import { cliProgress, syntheticNotice } from './session';
import { checkWeightsReference, COMMON_OPTIONS, optionalInputSize, optionalInteger, parse, parseWeights, printedHelp, requireModel, requireString } from './args';
import { EXIT_OK, UsageError, type CliIo } from './io';

export async function loadWeightsFor(model: ModelDefinition, weights: string, command: string, io: CliIo, sha256?: string): Promise<WeightStore> {
  const spec = parseWeights(weights, command, sha256);
  checkWeightsReference(spec, model.name, command);
  if (typeof spec === 'object' && 'url' in spec) return (await loadCheckpoint((await pullWeights(spec.url, { model: model.name, sha256: spec.sha256, onProgress: cliProgress(io) })).path, model)).weights;
  if (typeof spec === 'string' && spec !== 'synthetic') {
    const reference = parseWeightsReference(spec, model.name);
    const path = reference.kind === 'path' ? reference.path : (await pullWeights(spec, { model: model.name, onProgress: cliProgress(io) })).path;
    return (await loadCheckpoint(path, model)).weights;
  }
  const profile = typeof spec === 'string' ? 'dcfree' : spec.synthetic;
  io.stderr(syntheticNotice(profile));
  return syntheticWeights(model, profile);
}

export async function exportOnnxCommand(argv: readonly string[], io: CliIo): Promise<number> {
  const parsed = parse(
    'export-onnx',
    argv,
    {
      model: { type: 'string', short: 'm' },
      weights: { type: 'string', short: 'w' },
      'weights-sha256': { type: 'string' },
      output: { type: 'string', short: 'o' },
      fold: { type: 'boolean' },
      'input-size': { type: 'string' },
      opset: { type: 'string' },
      ...COMMON_OPTIONS,
    },
    false,
  );
  if (printedHelp(parsed, 'export-onnx', io)) return EXIT_OK;
  const model = requireModel(parsed, 'export-onnx');
  const weightsArg = requireString(parsed, 'weights', 'export-onnx');
  const output = requireString(parsed, 'output', 'export-onnx');
  const inputSize = optionalInputSize(parsed, model, 'export-onnx');
  const opset = optionalInteger(parsed, 'opset', 'export-onnx');
  if (opset !== undefined && (opset < 13 || opset > 17)) throw new UsageError(`--opset ${opset}: use 13 to 17 (default 17)`, 'export-onnx');
  const fold = parsed.values.fold === true;
  const sha256 = parsed.values['weights-sha256'];
  const weights = await loadWeightsFor(model, weightsArg, 'export-onnx', io, typeof sha256 === 'string' ? sha256 : undefined);
  const bytes = exportOnnx(model, weights, { fold, ...(opset === undefined ? {} : { opset }), ...(inputSize === undefined ? {} : { inputSize }) });
  await writeFile(output, bytes);
  const size = inputSize ?? model.preprocessing.inputSize;
  io.stderr(`wrote ${output}: ${model.name} ${fold ? 'folded' : 'unfolded'}, input [N,3,${size},${size}], output '${model.output}', ${bytes.length} bytes\n`);
  return EXIT_OK;
}
