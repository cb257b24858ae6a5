/** Option parsers shared by `bench` and `profile`. */
import { MODEL_NAMES, isModelName } from '../models/registry';
import type { ModelName } from '../models/types';
import type { Parsed } from './args';
import { UsageError } from './io';

export function parseList(text: string, option: string, command: string): string[] {
  const items = text.split(',').map((s) => s.trim());
  if (items.some((s) => s.length === 0)) throw new UsageError(`--${option} expects a comma-separated list, got '${text}'`, command);
  return items;
}

export function parseBatches(text: string, command: string, option = 'batches'): number[] {
  return parseList(text, option, command).map((b) => {
    if (!/^[0-9]+$/.test(b) || Number(b) < 1 || Number(b) > 1024) throw new UsageError(`--${option} expects integers from 1 to 1024 separated by commas, got '${text}'`, command);
    return Number(b);
  });
}

export function parseModels(text: string, command: string): ModelName[] {
  return parseList(text, 'models', command).map((m) => {
    if (!isModelName(m)) throw new UsageError(`--models: unknown model '${m}'; use one or more of ${MODEL_NAMES.join(', ')}`, command);
    return m;
  });
}

export function stringOption(parsed: Parsed, name: string): string | undefined {
  const v = parsed.values[name];
  return typeof v === 'string' ? v : undefined;
}

export function checkDevice(parsed: Parsed, command: string): void {
  const device = stringOption(parsed, 'device') ?? 'cpu';
  if (device !== 'cpu') {
    throw new UsageError(`--device ${device}: this benchmark is for the CPU (oneDNN vs onnxruntime-node); the GPU benchmark is 'npm run device-check' (bench/gpu)`, command);
  }
}

