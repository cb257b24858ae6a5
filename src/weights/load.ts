/**
 * Checked checkpoint loading: every tensor name, dtype and shape is compared with the model's
 * state_dict description before any data is read, and every problem is reported in one
 * WeightsError. Nothing is renamed, reshaped or skipped silently. The same checks apply to
 * .safetensors files and to PyTorch .pt/.pth files (read by the restricted unpickler).
 */
import { stat } from 'node:fs/promises';
import type { WeightStore } from '../graph/ir';
import type { CheckpointEntry, ModelDefinition } from '../models/types';
import { WeightsError } from '../errors';
import { FLOAT_DTYPES } from './safetensors';
import { openCheckpoint } from './checkpoint-reader';
import { describeLookalike, sharedPrefixHint } from './diagnose';

export interface LoadedWeights {
  /** Every float32 entry of the model's checkpoint (plus present optional entries), by name. */
  weights: WeightStore;
  /** Classes of the optional facenet `logits` classifier when the file has it, else null. */
  logitsClasses: number | null;
  fileBytes: number;
}

/** At most this many names are listed per problem category. */
const LIST_LIMIT = 20;

/** What the name checks need of a tensor: its dtype and shape. */
interface TensorInfo {
  readonly dtype: string;
  readonly shape: readonly number[];
}

interface Problems {
  missing: string[];
  unexpected: string[];
  mismatched: string[];
  nonFinite: string[];
}

export async function loadCheckpoint(path: string, model: ModelDefinition): Promise<LoadedWeights> {
  let fileBytes: number;
  try {
    fileBytes = (await stat(path)).size;
  } catch (cause) {
    throw new WeightsError(`cannot read checkpoint ${path}: ${(cause as Error).message}`, { cause });
  }
  const file = await openCheckpoint(path);
  try {
    const problems: Problems = { missing: [], unexpected: [], mismatched: [], nonFinite: [] };
    const toLoad = checkNames(file.entries, model, problems, file.floatDtypes);
    const logitsClasses = toLoad.logitsClasses;
    if (problems.missing.length + problems.unexpected.length + problems.mismatched.length > 0) {
      throw new WeightsError(formatProblems(path, model, file.entries, problems));
    }
    const byOffset = file.readOrder(toLoad.names);
    const read = new Map<string, Float32Array>();
    for (const name of byOffset) {
      const values = await file.readFloat32(name);
      const bad = countNonFinite(values);
      if (bad > 0) problems.nonFinite.push(`${name} (${bad} of ${values.length} values)`);
      read.set(name, values);
    }
    if (problems.nonFinite.length > 0) throw new WeightsError(formatProblems(path, model, file.entries, problems));
    const weights = new Map<string, Float32Array>();
    for (const name of toLoad.names) weights.set(name, read.get(name) as Float32Array);
    return { weights, logitsClasses, fileBytes };
  } finally {
    await file.close();
  }
}

/**
 * Compares the file's entries with the model's required and optional entries, filling
 * `problems`; returns the float32 entries to read, in checkpoint order.
 */
export function checkNames(
  entries: ReadonlyMap<string, TensorInfo>,
  model: Pick<ModelDefinition, 'checkpoint' | 'optionalEntries'>,
  problems: Problems,
  floatDtypes: readonly string[] = FLOAT_DTYPES,
): { names: string[]; logitsClasses: number | null } {
  const names: string[] = [];
  const known = new Set<string>();
  for (const expected of model.checkpoint) {
    known.add(expected.name);
    const found = entries.get(expected.name);
    if (found === undefined) {
      // num_batches_tracked is training bookkeeping that is never read: tolerated when absent.
      if (expected.kind !== 'bn_num_batches_tracked') problems.missing.push(expected.name);
      continue;
    }
    const mismatch = describeMismatch(expected, found, null, floatDtypes);
    if (mismatch !== null) problems.mismatched.push(mismatch);
    else if (expected.dtype === 'F32') names.push(expected.name);
  }

  const optional = model.optionalEntries;
  for (const entry of optional) known.add(entry.name);
  const presentOptional = optional.filter((e) => entries.has(e.name));
  let wildcard: number | null = null;
  if (presentOptional.length > 0) {
    for (const expected of optional) {
      const found = entries.get(expected.name);
      if (found === undefined) {
        problems.missing.push(`${expected.name} (the file has ${presentOptional.map((e) => e.name).join(', ')}, which come together)`);
        continue;
      }
      wildcard ??= wildcardValue(expected, found);
      const mismatch = describeMismatch(expected, found, wildcard, floatDtypes);
      if (mismatch !== null) problems.mismatched.push(mismatch);
      else if (expected.dtype === 'F32') names.push(expected.name);
    }
  }
  for (const name of entries.keys()) if (!known.has(name)) problems.unexpected.push(name);

  const logits = entries.get('logits.weight');
  const logitsClasses = optional.some((e) => e.name === 'logits.weight') && logits !== undefined && names.includes('logits.weight')
    ? logits.shape[0]
    : null;
  return { names, logitsClasses };
}

/** The size a -1 dimension of `expected` takes in `found` (the first one), or null. */
function wildcardValue(expected: CheckpointEntry, found: TensorInfo): number | null {
  const index = expected.shape.indexOf(-1);
  return index >= 0 && found.shape.length === expected.shape.length ? found.shape[index] : null;
}

function describeMismatch(
  expected: CheckpointEntry,
  found: TensorInfo,
  wildcard: number | null,
  floatDtypes: readonly string[],
): string | null {
  const dtypeOk = expected.dtype === 'F32' ? floatDtypes.includes(found.dtype) : found.dtype === expected.dtype;
  const shapeOk =
    found.shape.length === expected.shape.length &&
    expected.shape.every((d, i) => (d === -1 ? wildcard === null || found.shape[i] === wildcard : found.shape[i] === d));
  if (dtypeOk && shapeOk) return null;
  const want = expected.shape.map((d) => (d === -1 ? (wildcard ?? 'any') : d)).join(',');
  const wantDtype = expected.dtype === 'F32' ? floatDtypes.join('/') : expected.dtype;
  return `${expected.name}: expected ${wantDtype} [${want}], found ${found.dtype} [${found.shape.join(',')}]`;
}

function countNonFinite(values: Float32Array): number {
  let bad = 0;
  for (let i = 0; i < values.length; i++) if (!Number.isFinite(values[i])) bad++;
  return bad;
}

function formatProblems(
  path: string,
  model: Pick<ModelDefinition, 'name' | 'checkpoint'>,
  entries: ReadonlyMap<string, unknown>,
  problems: Problems,
): string {
  const counts = [
    [problems.missing.length, 'missing'],
    [problems.unexpected.length, 'unexpected'],
    [problems.mismatched.length, 'mismatched'],
    [problems.nonFinite.length, 'with non-finite values'],
  ]
    .filter(([n]) => (n as number) > 0)
    .map(([n, what]) => `${n} ${what}`);
  const lines = [`checkpoint ${path} does not fit ${model.name} (${model.checkpoint.length} entries expected, ${entries.size} in the file): ${counts.join(', ')}.`];
  const required = model.checkpoint.length;
  const names = [...entries.keys()];
  if (problems.missing.length + problems.mismatched.length > required / 2) {
    const lookalike = describeLookalike(names, model.name);
    if (lookalike !== null) lines.push(lookalike);
  }
  const prefixHint = sharedPrefixHint(names, new Set(model.checkpoint.map((e) => e.name)));
  if (prefixHint !== null) lines.push(prefixHint);
  appendList(lines, 'missing', problems.missing);
  appendList(lines, 'unexpected', problems.unexpected);
  appendList(lines, 'mismatched', problems.mismatched);
  appendList(lines, 'non-finite (NaN or Inf)', problems.nonFinite);
  return lines.join('\n');
}

function appendList(lines: string[], title: string, items: readonly string[]): void {
  if (items.length === 0) return;
  lines.push(`${title} (${items.length}):`);
  for (const item of items.slice(0, LIST_LIMIT)) lines.push(`  ${item}`);
  if (items.length > LIST_LIMIT) lines.push(`  ... and ${items.length - LIST_LIMIT} more`);
}
