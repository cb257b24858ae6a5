/**
 * The gRPC packages, loaded on demand. @grpc/grpc-js and @grpc/proto-loader are optional peer
 * dependencies: @grpc/grpc-js brings protobufjs 7, whose postinstall script makes npm print an
 * install-scripts warning to every user of a package that has none of its own; users who serve
 * gRPC install them (`npm install @grpc/grpc-js @grpc/proto-loader`).
 */
import path from 'node:path';
import type * as GrpcJs from '@grpc/grpc-js';
import type * as ProtoLoader from '@grpc/proto-loader';
import { BackendUnavailableError } from '../../errors';

export const GRPC_PACKAGES = ['@grpc/grpc-js', '@grpc/proto-loader'] as const;

/** What to install to serve gRPC. */
export const GRPC_HINT = `serving gRPC needs the optional packages ${GRPC_PACKAGES.join(' and ')}: npm install ${GRPC_PACKAGES.join(' ')}`;

/** The folder of the .proto files (data/grpc in the package). */
export const PROTO_DIR = path.join(__dirname, '..', '..', '..', 'data', 'grpc');
export const CORE_PROTO = 'open_inference_grpc.proto';
export const EXTENSIONS_PROTO = 'inference_extensions.proto';

export interface GrpcModules {
  readonly grpc: typeof GrpcJs;
  readonly protoLoader: typeof ProtoLoader;
}

let cached: GrpcModules | undefined;

/** Loads the two packages, or throws BackendUnavailableError naming the npm command; `names` exists for tests of the missing case. */
export function loadGrpc(names: readonly [string, string] = GRPC_PACKAGES): GrpcModules {
  if (cached !== undefined && names === GRPC_PACKAGES) return cached;
  const load = (name: string): unknown => {
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      return require(name);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'MODULE_NOT_FOUND') throw new BackendUnavailableError(`${GRPC_HINT} (${name} is not installed)`, { cause: error });
      throw error;
    }
  };
  const modules = { grpc: load(names[0]) as typeof GrpcJs, protoLoader: load(names[1]) as typeof ProtoLoader };
  if (names === GRPC_PACKAGES) cached = modules;
  return modules;
}

/** Whether the gRPC packages can be loaded here. */
export function grpcAvailable(): boolean {
  try {
    loadGrpc();
    return true;
  } catch {
    return false;
  }
}

/** How the protos are read: field names as written, int64 as JS numbers (shapes and counts fit), defaults filled in. */
export const PROTO_OPTIONS: ProtoLoader.Options = { keepCase: true, longs: Number, enums: String, defaults: true, oneofs: true };

/**
 * inference.GRPCInferenceService: the core RPCs of open_inference_grpc.proto plus the extension
 * RPCs of inference_extensions.proto, which declares a service of the same name in its own file
 * (each file is loaded on its own, so the two definitions never meet) and so has the same paths.
 */
export function inferenceService(modules: GrpcModules): GrpcJs.ServiceDefinition {
  const service = (file: string): GrpcJs.ServiceDefinition => {
    const definition = modules.protoLoader.loadSync(path.join(PROTO_DIR, file), PROTO_OPTIONS);
    const loaded = modules.grpc.loadPackageDefinition(definition) as unknown as { inference: { GRPCInferenceService: { service: GrpcJs.ServiceDefinition } } };
    return loaded.inference.GRPCInferenceService.service;
  };
  return { ...service(CORE_PROTO), ...service(EXTENSIONS_PROTO) };
}
