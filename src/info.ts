/** What this installation can do: package and library versions, models, backends and devices. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { sharpVersions } from './preprocess/sharp-loader';
import { MODEL_NAMES, getModel } from './models/registry';
import type { ModelName } from './models/types';
import type { BackendInfo } from './runtime/backend';

export interface ModelSummary {
  readonly name: ModelName;
  readonly inputSize: number;
  readonly output: 'logits' | 'embedding';
  readonly outputSize: number;
  readonly interpolation: 'bicubic' | 'bilinear';
  readonly cropPct: number;
}

export interface LibraryInfo {
  readonly version: string;
  readonly node: string;
  readonly sharp: string;
  readonly libvips: string;
  readonly models: readonly ModelSummary[];
  readonly backends: readonly BackendInfo[];
}

/** The package version from package.json (one level above src/ and lib/). */
export function packageVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(join(__dirname, '..', 'package.json'), 'utf8')) as { version?: unknown };
    return typeof pkg.version === 'string' ? pkg.version : 'unknown';
  } catch {
    return 'unknown';
  }
}

export function modelSummaries(): ModelSummary[] {
  return MODEL_NAMES.map((name) => {
    const m = getModel(name);
    const p = m.preprocessing;
    return { name, inputSize: p.inputSize, output: m.output, outputSize: m.outputSize, interpolation: p.interpolation, cropPct: p.cropPct };
  });
}

/** Never throws: a backend that cannot load is listed with `available: false` and the reason. */
export async function libraryInfo(): Promise<LibraryInfo> {
  const { backendInfos } = await import('./runtime/backends');
  const sharp = sharpVersions();
  return {
    version: packageVersion(),
    node: process.version,
    sharp: sharp?.sharp ?? 'not installed',
    libvips: sharp?.vips ?? 'not installed',
    models: modelSummaries(),
    backends: backendInfos(),
  };
}
