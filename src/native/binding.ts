/**
 * Loads a backend's .node module by name: `build/Release/<name>.node` (a local `npm run build`)
 * first, then `prebuilds/<platform>-<arch>/<name>.node`, unless `<NAME>_PREBUILD` (e.g.
 * INCEPTION_CPU_PREBUILD, the node-gyp-build convention) names a file. The module must report
 * this package's ABI version and op table, else it is refused with a rebuild hint.
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { BackendUnavailableError } from '../errors';
import { ABI_VERSION, OP_KIND } from './abi';

export type NativeModuleName = 'inception_cpu' | 'inception_cuda';

/** What every backend module exports besides its own functions. */
export interface NativeModuleBase {
  readonly abiVersion: number;
  readonly opKinds: Readonly<Record<string, number>>;
}

/** The package root: this file is src/native/binding.ts or lib/native/binding.js. */
const PACKAGE_ROOT = resolve(__dirname, '..', '..');

export function candidatePaths(name: NativeModuleName, root = PACKAGE_ROOT): string[] {
  const override = process.env[`${name.toUpperCase()}_PREBUILD`];
  const paths = [join(root, 'build', 'Release', `${name}.node`), join(root, 'prebuilds', `${process.platform}-${process.arch}`, `${name}.node`)];
  return override !== undefined && override !== '' ? [resolve(override)] : paths;
}

function possibleSolutions(name: NativeModuleName, detail: string, installHint: string): string {
  return [
    `Could not load the ${name}.node backend module: ${detail}`,
    'Possible solutions:',
    '- Build the native modules in the package directory: npm run build',
    `- ${installHint}`,
    '- Make sure the module was built for this Node.js and platform (' + `${process.platform}-${process.arch}, node ${process.version})`,
  ].join('\n');
}

/** Loads and ABI-checks one module; throws BackendUnavailableError with what to do. */
export function loadNativeModule<T extends NativeModuleBase>(name: NativeModuleName, installHint: string): T {
  const paths = candidatePaths(name);
  const path = paths.find((p) => existsSync(p));
  if (path === undefined) {
    throw new BackendUnavailableError(possibleSolutions(name, `not found at ${paths.join(' or ')}`, installHint));
  }
  let loaded: T;
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    loaded = require(path) as T;
  } catch (error) {
    const text = error instanceof Error ? error.message : String(error);
    throw new BackendUnavailableError(possibleSolutions(name, `loading ${path} failed: ${text}`, installHint), { cause: error });
  }
  checkAbi(name, path, loaded);
  return loaded;
}

export function checkAbi(name: string, path: string, loaded: NativeModuleBase): void {
  const rebuild = `${path} was built from another version of this package; rebuild it with: npm run build`;
  if (loaded.abiVersion !== ABI_VERSION) {
    throw new BackendUnavailableError(`${name}: ABI version ${String(loaded.abiVersion)} does not match ${ABI_VERSION}. ${rebuild}`);
  }
  for (const [op, kind] of Object.entries(OP_KIND)) {
    if (loaded.opKinds?.[op] !== kind) {
      throw new BackendUnavailableError(`${name}: op '${op}' is ${String(loaded.opKinds?.[op])} natively but ${kind} here. ${rebuild}`);
    }
  }
}
