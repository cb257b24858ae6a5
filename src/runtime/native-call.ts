/**
 * Calls into a native backend and re-wraps its failures as NativeError, keeping the
 * JavaScript stack of the caller (captured before the call; the native side has none).
 */
import { InceptionError, NativeError } from '../errors';

interface NativeFailure {
  message?: unknown;
  code?: unknown;
  nativeCode?: unknown;
  step?: unknown;
  node?: unknown;
}

/** Replaces the stack of `error` with the caller's frames (a native error has only async frames). */
function withCallerStack<E extends Error>(error: E, callerStack: string | undefined): E {
  if (callerStack !== undefined) {
    const frames = callerStack.split('\n').slice(1).join('\n');
    error.stack = `${error.name}: ${error.message}\n${frames}`;
  }
  return error;
}

export function toNativeError(error: unknown, callerStack: string | undefined, what: string): InceptionError {
  // Backends already type their failures (src/native/native-errors.ts); keep the type, fix the stack.
  if (error instanceof InceptionError) return withCallerStack(error, callerStack);
  const failure: NativeFailure = typeof error === 'object' && error !== null ? (error as NativeFailure) : {};
  const message = typeof failure.message === 'string' ? failure.message : String(error);
  const codeValue = failure.nativeCode ?? failure.code;
  const nativeCode = typeof codeValue === 'string' ? codeValue : 'E_NATIVE_UNKNOWN';
  const stepValue = failure.step ?? failure.node;
  const step = typeof stepValue === 'string' ? stepValue : undefined;
  return withCallerStack(new NativeError(`${what} failed: ${message}`, nativeCode, step, { cause: error }), callerStack);
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
