/**
 * Where the shared reference fixtures live (../shared/fixtures next to the repository, as CI
 * clones it), and readers for their manifests. Tests use `describe.skipIf(fixturesDir() === null)`.
 */
import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import type { CheckpointEntry, EntryKind, ModelName } from '../../src/models/types';

export const MODEL_NAMES: readonly ModelName[] = ['inception_v4', 'inception_resnet_v2', 'inception_resnet_v1'];

/** `$INCEPTION_FIXTURES`, else `<repo>/../shared/fixtures`; null when the folder does not exist. */
export function fixturesDir(): string | null {
  const candidate = process.env.INCEPTION_FIXTURES ?? path.resolve(__dirname, '../../..', 'shared', 'fixtures');
  return existsSync(candidate) ? candidate : null;
}

/** Why fixture tests are skipped, for a visible describe() title. */
export function fixturesSkipReason(): string {
  return fixturesDir() === null
    ? ' [SKIPPED: ../shared/fixtures not found; set INCEPTION_FIXTURES to the fixtures folder]'
    : '';
}

interface ManifestTensor {
  name: string;
  shape: number[];
  dtype: 'float32' | 'int64';
  kind: EntryKind;
}

export interface Manifest {
  model: ModelName;
  num_tensors: number;
  num_params: number;
  bn_eps: number[];
  tensors: ManifestTensor[];
}

export function readManifest(model: ModelName): Manifest {
  const dir = fixturesDir();
  if (dir === null) throw new Error('fixtures folder not found');
  return JSON.parse(readFileSync(path.join(dir, `manifest_${model}.json`), 'utf8')) as Manifest;
}

/** The manifest's entries as CheckpointEntry (dtype float32 -> F32, int64 -> I64). */
export function manifestEntries(model: ModelName): CheckpointEntry[] {
  return readManifest(model).tensors.map((t) => ({
    name: t.name,
    shape: t.shape,
    kind: t.kind,
    dtype: t.dtype === 'int64' ? 'I64' : 'F32',
  }));
}

export function readFixtureJson<T>(relative: string): T {
  const dir = fixturesDir();
  if (dir === null) throw new Error('fixtures folder not found');
  return JSON.parse(readFileSync(path.join(dir, relative), 'utf8')) as T;
}
