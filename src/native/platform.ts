/**
 * The platform this process runs on, and the platforms the package ships prebuilt backend modules
 * for. Used to explain, before any lookup, why no module can load here and what to do instead.
 */

export type Libc = 'glibc' | 'musl';

/** What a prebuilt binary must match: node-gyp-build's platform, arch and libc tags. */
export interface PlatformTarget {
  readonly platform: string;
  readonly arch: string;
  /** null where the C library is not a Linux one (macOS, Windows). */
  readonly libc: Libc | null;
}

/** A platform that `prebuilds/` holds binaries for, with what else it needs at run time. */
export interface SupportedPlatform {
  readonly platform: string;
  readonly arch: string;
  readonly libc: Libc;
  /** The folder under prebuilds/ (node-gyp-build's `<platform>-<arch>` tuple). */
  readonly folder: string;
  readonly requires: string;
}

export const SUPPORTED_PLATFORMS: readonly SupportedPlatform[] = Object.freeze([
  {
    platform: 'linux',
    arch: 'x64',
    libc: 'glibc',
    folder: 'linux-x64',
    requires: 'glibc >= 2.34 and libstdc++ from GCC 12 or newer (Debian 12, Ubuntu 22.04, Fedora 36 and later)',
  },
]);

/**
 * Builds the modules from the sources shipped inside the package. It needs CMake, a C++17
 * compiler and oneDNN 2.x headers (Debian/Ubuntu: libdnnl-dev); nvcc for the CUDA module.
 */
export const FROM_SOURCE_COMMAND = 'cd node_modules/inception-cudnn && npx --yes cmake-js@7 compile --out build';

/** This process's C library, read once: a process report takes a few milliseconds. */
let processLibc: Libc | undefined;

/** glibc or musl on Linux (from the process report, as detect-libc does); null elsewhere. */
export function detectLibc(): Libc | null {
  if (process.platform !== 'linux') return null;
  if (processLibc === undefined) {
    const report = process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined;
    processLibc = report?.header?.glibcVersionRuntime !== undefined ? 'glibc' : 'musl';
  }
  return processLibc;
}

export function currentTarget(): PlatformTarget {
  return { platform: process.platform, arch: process.arch, libc: detectLibc() };
}

export function describeTarget(target: PlatformTarget): string {
  return `${target.platform}-${target.arch}${target.libc !== null ? ` (${target.libc})` : ''}`;
}

export function supportedPlatformFor(target: PlatformTarget): SupportedPlatform | undefined {
  return SUPPORTED_PLATFORMS.find((p) => p.platform === target.platform && p.arch === target.arch && p.libc === target.libc);
}

/** The supported platforms as one line each, for error messages and `info`. */
export function supportedPlatformsText(): string {
  return SUPPORTED_PLATFORMS.map((p) => `${p.folder} (${p.libc}): ${p.requires}`).join('; ');
}
