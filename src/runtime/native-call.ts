/**
 * Calls into a native backend and re-wraps its failures as NativeError, keeping the
 * JavaScript stack of the caller (captured before the call; the native side has none).
 */
import { InceptionError, NativeError } from '../errors';

interface NativeFailure {
  message?: unknown;
  code?: unknown;
  step?: unknown;
  node?: unknown;
}

export function toNativeError(error: unknown, callerStack: string | undefined, what: string): InceptionError {
  if (error instanceof InceptionError) return error;
  const failure: NativeFailure = typeof error === 'object' && error !== null ? (error as NativeFailure) : {};
  const message = typeof failure.message === 'string' ? failure.message : String(error);
  const nativeCode = typeof failure.code === 'string' ? failure.code : 'E_NATIVE_UNKNOWN';
  const stepValue = failure.step ?? failure.node;
  const step = typeof stepValue === 'string' ? stepValue : undefined;
  const wrapped = new NativeError(`${what} failed: ${message}`, nativeCode, step, { cause: error });
  if (callerStack !== undefined) {
    const frames = callerStack.split('\n').slice(1).join('\n');
    wrapped.stack = `${wrapped.name}: ${wrapped.message}\n${frames}`;
  }
  return wrapped;
}

/**
 * Runs `call` (sync or async); any non-InceptionError failure becomes a NativeError carrying
 * `callerStack` (default: the stack here; pass one captured earlier when the call was queued).
 */
export async function callNative<T>(what: string, call: () => T | Promise<T>, callerStack = new Error().stack): Promise<T> {
  try {
    return await call();
  } catch (error) {
    throw toNativeError(error, callerStack, what);
  }
}
