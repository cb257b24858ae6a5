/**
 * Locates the shared design fixtures (the `shared/` folder beside the repository, as laid for
 * developers and CI; INCEPTION_SHARED_DIR overrides) and reads the reference manifests.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { ModelName } from '../../src/models/types';

export const SHARED_DIR = process.env.INCEPTION_SHARED_DIR ?? path.resolve(__dirname, '..', '..', '..', 'shared');

export interface ManifestEntry {
  readonly name: string;
  readonly shape: readonly number[];
  readonly dtype: 'float32' | 'int64';
  readonly kind: string;
}

export interface Manifest {
  readonly model: ModelName;
  readonly num_tensors: number;
  readonly num_params: number;
  readonly tensors: readonly ManifestEntry[];
}

/** Why the shared-folder tests skip here, or '' when shared/ is present (CI lays it beside the clone). */
export const SHARED_SKIP_REASON = fs.existsSync(path.join(SHARED_DIR, 'fixtures'))
  ? ''
  : `shared/ not found at ${SHARED_DIR} (put it beside the repository or set INCEPTION_SHARED_DIR)`;
if (SHARED_SKIP_REASON) console.warn(`[skip] ${SHARED_SKIP_REASON}`);

export function readManifest(model: ModelName): Manifest {
  const file = path.join(SHARED_DIR, 'fixtures', `manifest_${model}.json`);
  if (!fs.existsSync(file)) {
    throw new Error(`reference manifest ${file} not found: put shared/ beside the repository or set INCEPTION_SHARED_DIR`);
  }
  return JSON.parse(fs.readFileSync(file, 'utf8')) as Manifest;
}
