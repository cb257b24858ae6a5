/**
 * Finds and loads a backend's .node module by name, the way node-gyp-build looks for an addon:
 * - `INCEPTION_CPU_PREBUILD` / `INCEPTION_CUDA_PREBUILD` (node-gyp-build's `<NAME>_PREBUILD`)
 *   names the file, and nothing else is tried;
 * - then `build/Release/<name>.node`, a source build (skipped when `PREBUILDS_ONLY` is set), so
 *   that a module compiled on this machine wins over the packaged one;
 * - then `prebuilds/<platform>-<arch>/<name>[.<tags>].node`, chosen with node-gyp-build's own
 *   tuple and tag matching (napi, glibc/musl, ...). The published package ships
 *   `prebuilds/linux-x64/`, with the runtime libraries the CPU module needs beside it.
 * The module must report this package's ABI version and op table, else it is refused.
 */
import { existsSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { BackendUnavailableError } from '../errors';
import { ABI_VERSION, OP_KIND } from './abi';
import { currentTarget, describeTarget, FROM_SOURCE_COMMAND, type PlatformTarget, supportedPlatformFor, supportedPlatformsText } from './platform';

export type NativeModuleName = 'inception_cpu' | 'inception_cuda';

/** What every backend module exports besides its own functions. */
export interface NativeModuleBase {
  readonly abiVersion: number;
  readonly opKinds: Readonly<Record<string, number>>;
}

/** The package root: this file is src/native/binding.ts or lib/native/binding.js. */
const PACKAGE_ROOT = resolve(__dirname, '..', '..');

interface Tuple {
  readonly name: string;
}
interface Tags {
  readonly file: string;
  readonly libc?: string;
}
/** The matching helpers node-gyp-build exports next to its loader (node-gyp-build.js). */
interface NodeGypBuildMatchers {
  parseTuple(name: string): Tuple | undefined;
  matchTuple(platform: string, arch: string): (tuple: Tuple | undefined) => boolean;
  compareTuples(a: Tuple, b: Tuple): number;
  parseTags(file: string): Tags | undefined;
  matchTags(runtime: string, abi: string): (tags: Tags | undefined) => boolean;
  compareTags(runtime: string): (a: Tags, b: Tags) => number;
}

// eslint-disable-next-line @typescript-eslint/no-require-imports
const nodeGypBuild = require('node-gyp-build') as NodeGypBuildMatchers;

function listDir(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

/**
 * The best prebuilt `<name>.node` for this process under `<root>/prebuilds`, or undefined.
 * node-gyp-build takes any .node file in the folder; we hold two modules, so only files whose
 * first dot-separated part is the module's name are candidates. A file without a libc tag is
 * built for the libc that SUPPORTED_PLATFORMS names for its folder (glibc for linux-x64), so on
 * musl it is not a candidate.
 */
export function findPrebuild(name: NativeModuleName, root: string, target: PlatformTarget = currentTarget()): string | undefined {
  const prebuilds = join(root, 'prebuilds');
  const tuple = listDir(prebuilds)
    .map((dir) => nodeGypBuild.parseTuple(dir))
    .filter(nodeGypBuild.matchTuple(target.platform, target.arch))
    .filter((t): t is Tuple => t !== undefined)
    .sort(nodeGypBuild.compareTuples)[0];
  if (tuple === undefined) return undefined;
  const matchesRuntime = nodeGypBuild.matchTags('node', process.versions.modules);
  const folder = join(prebuilds, tuple.name);
  const winner = listDir(folder)
    .filter((file) => file.split('.')[0] === name)
    .map((file) => nodeGypBuild.parseTags(file))
    .filter((tags): tags is Tags => tags !== undefined)
    // node-gyp-build's matcher compares libc with the libc it detected itself; the target's is ours.
    .filter((tags) => matchesRuntime({ ...tags, libc: undefined }))
    .filter((tags) => (tags.libc !== undefined ? tags.libc === target.libc : supportedPlatformFor(target) !== undefined))
    .sort(nodeGypBuild.compareTags('node'))[0];
  return winner === undefined ? undefined : join(folder, winner.file);
}

/** Every place the loader looks for the module, in order (the override alone when it is set). */
export function candidatePaths(name: NativeModuleName, root = PACKAGE_ROOT, target: PlatformTarget = currentTarget()): string[] {
  const override = process.env[`${name.toUpperCase()}_PREBUILD`];
  if (override !== undefined && override !== '') return [resolve(override)];
  const paths: string[] = [];
  if (!process.env.PREBUILDS_ONLY) paths.push(join(root, 'build', 'Release', `${name}.node`));
  paths.push(findPrebuild(name, root, target) ?? join(root, 'prebuilds', `${target.platform}-${target.arch}`, `${name}.node`));
  return paths;
}

/** The "no module here" explanation: an unsupported platform, or a supported one missing its file. */
export function notFoundMessage(name: NativeModuleName, paths: readonly string[], installHint: string, target: PlatformTarget = currentTarget()): string {
  const fromSource = `- Build it from the sources shipped in the package (CMake, a C++17 compiler and oneDNN 2.x headers, e.g. apt-get install cmake g++ libdnnl-dev): ${FROM_SOURCE_COMMAND}`;
  const supported = supportedPlatformFor(target);
  if (supported === undefined) {
    return [
      `Could not load the ${name}.node backend module: this package has no prebuilt binary for ${describeTarget(target)}.`,
      `Prebuilt binaries: ${supportedPlatformsText()}.`,
      'Possible solutions:',
      fromSource,
      `- ${installHint}`,
    ].join('\n');
  }
  return [
    `Could not load the ${name}.node backend module: not found at ${paths.join(' or ')}`,
    'Possible solutions:',
    `- An installed package ships prebuilds/${supported.folder}/${name}.node: reinstall inception-cudnn (npm install inception-cudnn)`,
    '- In a clone of the repository: bash scripts/setup.sh (or npm run build), then npm run prebuild for the packaged layout',
    fromSource,
    `- ${installHint}`,
  ].join('\n');
}

function loadFailedMessage(name: NativeModuleName, path: string, text: string, installHint: string, target: PlatformTarget): string {
  const lines = [`Could not load the ${name}.node backend module: loading ${path} failed: ${text}`, 'Possible solutions:'];
  if (/GLIBC(XX)?_\d|CXXABI_\d/.test(text)) {
    const platform = supportedPlatformFor(target);
    lines.push(`- This machine's C or C++ runtime is older than the prebuilt module needs${platform !== undefined ? ` (${platform.requires})` : ''}: upgrade the OS, or build from source: ${FROM_SOURCE_COMMAND}`);
  }
  lines.push(`- ${installHint}`, `- Make sure the module was built for this platform (${describeTarget(target)}, node ${process.version})`);
  return lines.join('\n');
}

const loadedPaths = new Map<NativeModuleName, string>();

/** The file a module was loaded from in this thread, once loadNativeModule succeeded. */
export function loadedModulePath(name: NativeModuleName): string | undefined {
  return loadedPaths.get(name);
}

/** Where loadNativeModule looks: the package root and the platform (other values in tests). */
export interface LoadLocation {
  readonly root?: string;
  readonly target?: PlatformTarget;
}

/** Loads and ABI-checks one module; throws BackendUnavailableError with what to do. */
export function loadNativeModule<T extends NativeModuleBase>(name: NativeModuleName, installHint: string, location: LoadLocation = {}): T {
  const target = location.target ?? currentTarget();
  const paths = candidatePaths(name, location.root ?? PACKAGE_ROOT, target);
  const path = paths.find((p) => existsSync(p));
  if (path === undefined) throw new BackendUnavailableError(notFoundMessage(name, paths, installHint, target));
  let loaded: T;
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    loaded = require(path) as T;
  } catch (error) {
    const text = error instanceof Error ? error.message : String(error);
    throw new BackendUnavailableError(loadFailedMessage(name, path, text, installHint, target), { cause: error });
  }
  checkAbi(name, path, loaded);
  loadedPaths.set(name, path);
  return loaded;
}

export function checkAbi(name: string, path: string, loaded: NativeModuleBase): void {
  const rebuild = `${path} was built from another version of this package; rebuild it with: npm run build (or reinstall the package)`;
  if (loaded.abiVersion !== ABI_VERSION) {
    throw new BackendUnavailableError(`${name}: ABI version ${String(loaded.abiVersion)} does not match ${ABI_VERSION}. ${rebuild}`);
  }
  for (const [op, kind] of Object.entries(OP_KIND)) {
    if (loaded.opKinds?.[op] !== kind) {
      throw new BackendUnavailableError(`${name}: op '${op}' is ${String(loaded.opKinds?.[op])} natively but ${kind} here. ${rebuild}`);
    }
  }
}
