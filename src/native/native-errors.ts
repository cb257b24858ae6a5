/**
 * Native modules reject with plain Errors carrying `code` (one of the E_* codes of
 * native/core/error.h), `nativeCode` (e.g. 'DNNL_UNIMPLEMENTED') and `step`. This turns them
 * into the typed errors of src/errors.ts, keeping the native error as `cause`.
 */
import {
  BackendUnavailableError,
  DeviceError,
  DisposedError,
  InceptionError,
  InvalidArgumentError,
  InvalidInputError,
  NativeError,
  PlanError,
} from '../errors';

interface NativeFailure {
  readonly message?: unknown;
  readonly code?: unknown;
  readonly nativeCode?: unknown;
  readonly step?: unknown;
}

function stringField(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

export function fromNativeError(error: unknown): InceptionError {
  if (error instanceof InceptionError) return error;
  const failure: NativeFailure = typeof error === 'object' && error !== null ? (error as NativeFailure) : {};
  const message = stringField(failure.message) ?? String(error);
  const code = stringField(failure.code);
  let typed: InceptionError;
  switch (code) {
    case 'E_PLAN':
      typed = new PlanError(message);
      break;
    case 'E_INVALID_ARGUMENT':
      typed = new InvalidArgumentError(message, { cause: error });
      break;
    case 'E_INVALID_INPUT':
      typed = new InvalidInputError(message, { cause: error });
      break;
    case 'E_DISPOSED':
      typed = new DisposedError(message);
      break;
    case 'E_BACKEND_UNAVAILABLE':
      typed = new BackendUnavailableError(message, { cause: error });
      break;
    case 'E_DEVICE':
      typed = new DeviceError(message, { cause: error });
      break;
    default:
      typed = new NativeError(message, stringField(failure.nativeCode) ?? code ?? 'E_NATIVE_UNKNOWN', stringField(failure.step), {
        cause: error,
      });
  }
  return typed;
}

/** Awaits a native promise, rethrowing its failure as a typed error. */
export async function nativeCall<T>(promise: () => Promise<T>): Promise<T> {
  try {
    return await promise();
  } catch (error) {
    throw fromNativeError(error);
  }
}
