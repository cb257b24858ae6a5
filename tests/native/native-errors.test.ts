/**
 * fromNativeError: the E_* codes of native/core/error.h become the package's typed errors
 * (one mapping for both backends), with the native error kept as `cause` where it carries more.
 */
import { describe, expect, it } from 'vitest';
import {
  BackendUnavailableError,
  DeviceError,
  DisposedError,
  InvalidArgumentError,
  InvalidInputError,
  NativeError,
  PlanError,
} from '../../src/errors';
import { fromNativeError } from '../../src/native/native-errors';

function nativeFailure(code: string, extra: Record<string, string> = {}): Error {
  return Object.assign(new Error(`native says ${code}`), { code, ...extra });
}

describe('fromNativeError', () => {
  it.each([
    ['E_PLAN', PlanError],
    ['E_INVALID_ARGUMENT', InvalidArgumentError],
    ['E_INVALID_INPUT', InvalidInputError],
    ['E_DISPOSED', DisposedError],
    ['E_BACKEND_UNAVAILABLE', BackendUnavailableError],
    ['E_DEVICE', DeviceError],
  ] as const)('%s becomes %s with the native message', (code, cls) => {
    const typed = fromNativeError(nativeFailure(code));
    expect(typed).toBeInstanceOf(cls);
    expect(typed.message).toBe(`native says ${code}`);
  });

  it('anything else is a NativeError carrying nativeCode and step', () => {
    const typed = fromNativeError(nativeFailure('E_NATIVE', { nativeCode: 'CUDNN_STATUS_NOT_SUPPORTED', step: 'features.3.conv' }));
    expect(typed).toBeInstanceOf(NativeError);
    expect((typed as NativeError).nativeCode).toBe('CUDNN_STATUS_NOT_SUPPORTED');
    expect((typed as NativeError).step).toBe('features.3.conv');
  });

  it('passes an already typed error through unchanged', () => {
    const error = new DeviceError('no cuda:7');
    expect(fromNativeError(error)).toBe(error);
  });
});
