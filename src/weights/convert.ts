/**
 * `weights convert in.pt out.safetensors`: every tensor of a PyTorch state_dict, read by the
 * restricted unpickler, written as .safetensors with its name, dtype and shape unchanged
 * (views become contiguous). With a model, the file is first checked (and loaded) exactly as
 * createSession would, so a file that would not load is not converted.
 */
import { basename } from 'node:path';
import { WeightsError } from '../errors';
import { getModel } from '../models/registry';
import type { ModelName } from '../models/types';
import { sniffCheckpointFormat } from './format';
import { loadCheckpoint } from './load';
import { writeSafetensors } from './safetensors-writer';
import { TorchCheckpointFile } from './torch-file';

export interface ConversionResult {
  readonly tensors: number;
  readonly bytes: number;
  readonly format: 'torch-zip' | 'torch-pickle';
}

/** Converts `input` (.pt/.pth) to `output` (.safetensors); with `model`, first checks that it loads for that model. */
export async function convertToSafetensors(input: string, output: string, model: ModelName | null = null): Promise<ConversionResult> {
  let format;
  try {
    format = await sniffCheckpointFormat(input);
  } catch (cause) {
    throw new WeightsError(`cannot read ${input}: ${(cause as Error).message}`, { cause });
  }
  if (format === 'other') throw new WeightsError(`${input} is not a PyTorch checkpoint (torch.save zip or legacy pickle); nothing to convert`);
  if (model !== null) await loadCheckpoint(input, getModel(model));
  const file = await TorchCheckpointFile.open(input, format);
  try {
    const tensors = [...file.entries].map(([name, entry]) => ({ name, dtype: entry.dtype, shape: entry.shape, read: () => file.readRaw(name) }));
    const bytes = await writeSafetensors(output, tensors, { format: 'pt', converted_from: basename(input) });
    return { tensors: tensors.length, bytes, format };
  } finally {
    await file.close();
  }
}
