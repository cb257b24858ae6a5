/**
 * Typed errors of the public API. Every message names the problem and the fix.
 * `code` is stable and machine-readable; messages may be improved over time.
 */

export type ErrorCode =
  | 'E_INVALID_ARGUMENT'
  | 'E_INVALID_INPUT'
  | 'E_WEIGHTS'
  | 'E_SAFETENSORS'
  | 'E_IMAGE'
  | 'E_UNKNOWN_MODEL'
  | 'E_DEVICE'
  | 'E_BACKEND_UNAVAILABLE'
  | 'E_DISPOSED'
  | 'E_NATIVE'
  | 'E_NPY'
  | 'E_PLAN'
  | 'E_QUEUE_FULL'
  | 'E_TIMEOUT'
  | 'E_ABORTED'
  | 'E_MEMORY_LIMIT';

export class InceptionError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** A bad option or argument (type, range, unknown key). */
export class InvalidArgumentError extends InceptionError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('E_INVALID_ARGUMENT', message, options);
  }
}

/** Input data that cannot be run: wrong shape, batch over maxBatch, wrong dtype, non-finite values. */
export class InvalidInputError extends InceptionError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('E_INVALID_INPUT', message, options);
  }
}

/** A checkpoint that does not fit the model: missing, unexpected or mismatched tensors. */
export class WeightsError extends InceptionError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('E_WEIGHTS', message, options);
  }
}

/** Why a checkpoint could not be fetched or trusted (WeightsDownloadError.reason). */
export type WeightsDownloadReason =
  /** The URL is not https:// (or http:// to this machine), or a redirect went to such a URL. */
  | 'url'
  /** The server answered with an error status (404, 403, 5xx after retries). */
  | 'http-status'
  /** The connection failed or kept breaking (after retries). */
  | 'network'
  /** The file's sha256 or size is not the expected one. */
  | 'checksum'
  /** Offline mode (INCEPTION_OFFLINE / HF_HUB_OFFLINE) and the file is not in the cache. */
  | 'offline'
  /** The cache directory or a lock could not be used. */
  | 'cache';

/** A checkpoint download, cache lookup or verification that failed; names the URL, the file and what to do. */
export class WeightsDownloadError extends WeightsError {
  constructor(
    message: string,
    readonly reason: WeightsDownloadReason,
    readonly url: string | null,
    readonly file: string | null,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** A safetensors file that is truncated, corrupt or uses an unsupported dtype. */
export class SafetensorsError extends InceptionError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('E_SAFETENSORS', message, options);
  }
}

/** A NumPy .npy file we cannot read (or an array we cannot write). */
export class NpyError extends InceptionError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('E_NPY', message, options);
  }
}

/** Bytes that are not a decodable image. */
export class ImageDecodeError extends InceptionError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('E_IMAGE', message, options);
  }
}

export class UnknownModelError extends InceptionError {
  constructor(message: string) {
    super('E_UNKNOWN_MODEL', message);
  }
}

/** An unknown or malformed device string, or a device index that does not exist. */
export class DeviceError extends InceptionError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('E_DEVICE', message, options);
  }
}

/** The backend asked for cannot be loaded here (no oneDNN, no driver/GPU/cuDNN); says what to install. */
export class BackendUnavailableError extends InceptionError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('E_BACKEND_UNAVAILABLE', message, options);
  }
}

export class DisposedError extends InceptionError {
  constructor(message = 'this session has been disposed; create a new one with createSession()') {
    super('E_DISPOSED', message);
  }
}

/** A failure inside a native backend; `nativeCode` is e.g. 'DNNL_INVALID_ARGUMENTS' or 'CUDNN_STATUS_NOT_SUPPORTED'. */
export class NativeError extends InceptionError {
  readonly nativeCode: string;
  readonly step: string | undefined;
  constructor(message: string, nativeCode: string, step?: string, options?: { cause?: unknown }) {
    super('E_NATIVE', message, options);
    this.nativeCode = nativeCode;
    this.step = step;
  }
}

/** An internal planning invariant was violated (a bug in this package: please report it). */
export class PlanError extends InceptionError {
  constructor(message: string) {
    super('E_PLAN', message);
  }
}

/** A request refused because the batcher's queue is at maxQueueSize; retry later or raise maxQueueSize. */
export class QueueFullError extends InceptionError {
  constructor(message: string) {
    super('E_QUEUE_FULL', message);
  }
}

/** A request that did not finish within its timeout (queued, or its batch still running). */
export class RequestTimeoutError extends InceptionError {
  constructor(message: string) {
    super('E_TIMEOUT', message);
  }
}

/** A request whose AbortSignal fired before its result was delivered. */
export class RequestAbortedError extends InceptionError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('E_ABORTED', message, options);
  }
}

/** Sessions that cannot fit under the container's memory limit (cgroup memory.max / memory.limit_in_bytes). */
export class MemoryLimitError extends InceptionError {
  constructor(message: string) {
    super('E_MEMORY_LIMIT', message);
  }
}

/** sharp-style message: "Expected <expected> for <name> but received <actual>". */
export function invalidParam(name: string, expected: string, actual: unknown): InvalidArgumentError {
  return new InvalidArgumentError(`Expected ${expected} for ${name} but received ${describe(actual)}`);
}

export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (value === undefined) return 'undefined';
  if (typeof value === 'string') return `'${value.length > 60 ? value.slice(0, 57) + '...' : value}' of type string`;
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return `${String(value)} of type ${typeof value}`;
  if (Array.isArray(value)) return `an array of length ${value.length}`;
  if (ArrayBuffer.isView(value)) return `a ${value.constructor.name} of length ${(value as unknown as { length?: number }).length ?? value.byteLength}`;
  return `a value of type ${typeof value}`;
}
