/**
 * The KServe v2 gRPC endpoint (inference.GRPCInferenceService) on @grpc/grpc-js: the same models,
 * batchers, token and limits as the HTTP endpoint, so requests of both protocols batch together.
 * A request leaves the queue when its deadline passes or its client cancels.
 */
import type * as GrpcJs from '@grpc/grpc-js';
import { MODEL_VERSION, type ModelContext } from '../handlers';
import type { ModelStatisticsReport } from '../statistics';
import { inferenceService, loadGrpc } from './load';
import { modelInferResponse, parseModelInfer, type ModelInferRequestMessage } from './infer-tensors';
import { GrpcCode, grpcStatusOf, type GrpcCodeName } from './status';

/** What the gRPC endpoint asks of the server; errors thrown are HttpErrors and the package's errors (see status.ts). */
export interface GrpcHost {
  readonly ready: boolean;
  /** Throws 401 unless `authorization` is `Bearer <token>` (or no token is set). */
  authorize(authorization: string | undefined): void;
  serverMetadata(): { name: string; version: string; extensions: string[] };
  /** Throws 404 for an unknown model or version. */
  modelMetadata(name: string, version: string | undefined): unknown;
  modelReady(name: string, version: string | undefined): boolean;
  /** The model's context for an inference; throws 404 (unknown) or 503 (not ready, shutting down). */
  inferModel(name: string, version: string | undefined): ModelContext;
  statistics(name: string | undefined, version: string | undefined): ModelStatisticsReport[];
  repositoryIndex(readyOnly: boolean): { name: string; version: string; state: string; reason: string }[];
  loadModel(name: string): Promise<void>;
  unloadModel(name: string): Promise<void>;
  /** Counts an answered RPC in the metrics. */
  answered(model: string, rpc: string, code: GrpcCodeName): void;
  /** Logs an internal error. */
  log(line: string): void;
}

export interface GrpcLimits {
  readonly maxMessageBytes: number;
  readonly requestTimeoutMs: number;
}

type Handler = (call: GrpcJs.ServerUnaryCall<any, unknown>, callback: GrpcJs.sendUnaryData<unknown>) => void; // eslint-disable-line @typescript-eslint/no-explicit-any

/** The RPCs that answer without a token (as HTTP's /v2/health/*). */
const OPEN_RPCS = new Set(['ServerLive', 'ServerReady']);

export class GrpcEndpoint {
  private readonly grpc: typeof GrpcJs;
  readonly server: GrpcJs.Server;

  constructor(
    private readonly host: GrpcHost,
    limits: GrpcLimits,
  ) {
    const modules = loadGrpc();
    this.grpc = modules.grpc;
    this.server = new modules.grpc.Server({
      // The HTTP body limit: a larger message is refused with RESOURCE_EXHAUSTED before it is decoded.
      'grpc.max_receive_message_length': limits.maxMessageBytes,
      'grpc.max_send_message_length': -1,
    });
    widenReceiveWindow(this.server);
    const version = (v: string): string | undefined => (v === '' ? undefined : v);
    const rpcs: Record<string, (request: any, call: GrpcJs.ServerUnaryCall<any, unknown>) => Promise<{ model: string; reply: unknown }>> = { // eslint-disable-line @typescript-eslint/no-explicit-any
      ServerLive: () => Promise.resolve({ model: '', reply: { live: true } }),
      ServerReady: () => Promise.resolve({ model: '', reply: { ready: host.ready } }),
      ModelReady: (r: { name: string; version: string }) => Promise.resolve({ model: r.name, reply: { ready: host.modelReady(r.name, version(r.version)) } }),
      ServerMetadata: () => Promise.resolve({ model: '', reply: host.serverMetadata() }),
      ModelMetadata: (r: { name: string; version: string }) => Promise.resolve({ model: r.name, reply: host.modelMetadata(r.name, version(r.version)) }),
      ModelInfer: (r: ModelInferRequestMessage, call) => this.infer(r, call, limits.requestTimeoutMs),
      ModelStatistics: (r: { name: string; version: string }) =>
        Promise.resolve({ model: r.name, reply: { model_stats: host.statistics(r.name === '' ? undefined : r.name, version(r.version)) } }),
      RepositoryIndex: (r: { ready: boolean }) => Promise.resolve({ model: '', reply: { models: host.repositoryIndex(r.ready) } }),
      RepositoryModelLoad: async (r: { model_name: string }) => {
        await host.loadModel(r.model_name);
        return { model: r.model_name, reply: {} };
      },
      RepositoryModelUnload: async (r: { model_name: string }) => {
        await host.unloadModel(r.model_name);
        return { model: r.model_name, reply: {} };
      },
    };
    const implementation: Record<string, Handler> = {};
    for (const [rpc, run] of Object.entries(rpcs)) implementation[rpc] = (call, callback) => this.answer(rpc, call, callback, run);
    this.server.addService(inferenceService(modules), implementation);
  }

  /** Binds host:port (0 picks a free port); resolves to the port bound. */
  listen(host: string, port: number): Promise<number> {
    return new Promise((resolve, reject) => {
      const address = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
      this.server.bindAsync(address, this.grpc.ServerCredentials.createInsecure(), (error, bound) => (error === null ? resolve(bound) : reject(error)));
    });
  }

  /** Stops accepting calls and waits for those running (they finish with the batchers' drain); forces them closed after `graceMs`. */
  close(graceMs: number): Promise<void> {
    return new Promise((resolve) => {
      const force = setTimeout(() => this.server.forceShutdown(), graceMs);
      this.server.tryShutdown(() => {
        clearTimeout(force);
        resolve();
      });
    });
  }

  private answer(
    rpc: string,
    call: GrpcJs.ServerUnaryCall<any, unknown>, // eslint-disable-line @typescript-eslint/no-explicit-any
    callback: GrpcJs.sendUnaryData<unknown>,
    run: (request: any, call: GrpcJs.ServerUnaryCall<any, unknown>) => Promise<{ model: string; reply: unknown }>, // eslint-disable-line @typescript-eslint/no-explicit-any
  ): void {
    const named = (call.request as { name?: unknown; model_name?: unknown } | null) ?? {};
    const model = typeof named.model_name === 'string' ? named.model_name : typeof named.name === 'string' ? named.name : '';
    const work = async (): Promise<{ model: string; reply: unknown }> => {
      if (!OPEN_RPCS.has(rpc)) {
        const auth = call.metadata.get('authorization')[0];
        this.host.authorize(typeof auth === 'string' ? auth : undefined);
      }
      return run(call.request, call);
    };
    work().then(
      ({ reply }) => {
        this.host.answered(model, rpc, call.cancelled ? 'CANCELLED' : 'OK');
        callback(null, reply);
      },
      (error: unknown) => {
        const status = grpcStatusOf(error);
        if (status.internal) this.host.log(`inception-cudnn serve: internal error in gRPC ${rpc}: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
        this.host.answered(model, rpc, status.code);
        callback({ code: GrpcCode[status.code], details: status.message });
      },
    );
  }

  private async infer(
    request: ModelInferRequestMessage,
    call: GrpcJs.ServerUnaryCall<any, unknown>, // eslint-disable-line @typescript-eslint/no-explicit-any
    requestTimeoutMs: number,
  ): Promise<{ model: string; reply: unknown }> {
    const model = this.host.inferModel(request.model_name, request.model_version === '' ? undefined : request.model_version);
    const controller = new AbortController();
    const cancelled = (): void => controller.abort(new Error('the client cancelled the call (or its deadline passed)'));
    if (call.cancelled) cancelled();
    call.once('cancelled', cancelled);
    const deadline = call.getDeadline();
    const at = deadline instanceof Date ? deadline.getTime() : deadline;
    // The call's deadline bounds its time in the queue, as the server's request timeout does.
    const timeoutMs = Number.isFinite(at) ? Math.max(1, Math.min(requestTimeoutMs, at - Date.now())) : requestTimeoutMs;
    try {
      const parsed = parseModelInfer(request, model.signature, model.bodies);
      let rows: Float32Array;
      try {
        model.batcher.checkQueueSpace();
        // Handed over, not copied; once infer() settles the batcher no longer reads it.
        rows = await model.batcher.infer(parsed.input, { signal: controller.signal, timeoutMs, transfer: true });
      } finally {
        parsed.release();
      }
      return { model: model.name, reply: modelInferResponse(rows, parsed.images, request.id, { ...model.signature, name: model.name, version: MODEL_VERSION }) };
    } finally {
      call.off('cancelled', cancelled);
    }
  }
}

/** HTTP/2 flow-control window the server grants each stream and each connection (bytes). */
export const RECEIVE_WINDOW_BYTES = 16 * 1024 * 1024;

/**
 * Grants clients a 16 MiB receive window instead of HTTP/2's 64 KiB default. A batch of eight
 * 160x160 images is a 2.4 MB message: with 64 KiB the client sends 37 windows per request, each
 * waiting for the server's WINDOW_UPDATE. @grpc/grpc-js has a client option for this
 * (grpc-node.flow_control_window) but none for its server, so the setting goes into the options
 * it creates its HTTP/2 servers with (the stream window), and each new session widens its
 * connection window. Both are internals of @grpc/grpc-js 1.x: when they are not there the
 * server keeps the default window (slower for large messages, still correct).
 */
function widenReceiveWindow(server: GrpcJs.Server): void {
  const internals = server as unknown as { commonServerOptions?: { settings?: Record<string, unknown> }; http2Servers?: Map<unknown, unknown> };
  const common = internals.commonServerOptions;
  if (common === undefined || typeof common !== 'object') return;
  common.settings = { ...(common.settings ?? {}), initialWindowSize: RECEIVE_WINDOW_BYTES };
  const servers = internals.http2Servers;
  if (!(servers instanceof Map)) return;
  const set = servers.set.bind(servers);
  // Each HTTP/2 server is added to this map once it listens: its sessions get the wide connection window.
  servers.set = (key: unknown, value: unknown) => {
    const http2Server = key as { on?: (event: string, listener: (session: { setLocalWindowSize?: (n: number) => void }) => void) => void };
    http2Server.on?.('session', (session) => {
      try {
        session.setLocalWindowSize?.(RECEIVE_WINDOW_BYTES);
      } catch {
        // A session already closing: nothing to widen.
      }
    });
    return set(key, value);
  };
}
