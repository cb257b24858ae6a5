/** Errors to gRPC status codes: the same decisions as the HTTP statuses of server.ts. */
import { DisposedError, ImageDecodeError, InceptionError, InvalidArgumentError, InvalidInputError, QueueFullError, RequestAbortedError, RequestTimeoutError } from '../../errors';
import { HttpError } from '../http';

/** gRPC status codes (grpc/include/grpc/impl/codegen/status.h); kept here so this module loads without @grpc/grpc-js. */
export const GrpcCode = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  FAILED_PRECONDITION: 9,
  RESOURCE_EXHAUSTED: 8,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  UNAUTHENTICATED: 16,
} as const;

export type GrpcCodeName = keyof typeof GrpcCode;

const BY_HTTP_STATUS: Readonly<Record<number, GrpcCodeName>> = {
  400: 'INVALID_ARGUMENT',
  401: 'UNAUTHENTICATED',
  403: 'FAILED_PRECONDITION',
  404: 'NOT_FOUND',
  409: 'FAILED_PRECONDITION',
  413: 'RESOURCE_EXHAUSTED',
  415: 'INVALID_ARGUMENT',
  429: 'RESOURCE_EXHAUSTED',
  499: 'CANCELLED',
  503: 'UNAVAILABLE',
  504: 'DEADLINE_EXCEEDED',
};

/** The code and message of an error; `internal` is true for what must be logged (answered without details). */
export function grpcStatusOf(error: unknown): { code: GrpcCodeName; message: string; internal: boolean } {
  if (error instanceof HttpError) return { code: BY_HTTP_STATUS[error.status] ?? (error.status >= 500 ? 'INTERNAL' : 'INVALID_ARGUMENT'), message: error.message, internal: false };
  if (error instanceof QueueFullError) return { code: 'RESOURCE_EXHAUSTED', message: error.message, internal: false };
  if (error instanceof RequestTimeoutError) return { code: 'DEADLINE_EXCEEDED', message: error.message, internal: false };
  if (error instanceof DisposedError) return { code: 'UNAVAILABLE', message: 'the model is unloading or the server is shutting down; retry (on another instance)', internal: false };
  if (error instanceof RequestAbortedError) return { code: 'CANCELLED', message: error.message, internal: false };
  if (error instanceof InvalidInputError || error instanceof InvalidArgumentError || error instanceof ImageDecodeError) {
    return { code: 'INVALID_ARGUMENT', message: error.message, internal: false };
  }
  if (error instanceof InceptionError) return { code: 'INTERNAL', message: `internal error (${error.code}): ${error.message}`, internal: true };
  return { code: 'INTERNAL', message: 'internal server error (logged on the server)', internal: true };
}
