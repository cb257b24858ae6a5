/**
 * The inference server: Open Inference Protocol v2 REST on Node's http (and its gRPC service,
 * see grpc/), a repository of models each with its own dynamic batcher in front of one or more
 * session instances, the statistics and model repository extensions, Prometheus metrics, bearer-token auth, limits,
 * pipelined requests taken one at a time per connection, JSON answers to what the HTTP parser
 * refuses, and a graceful close (stop accepting, answer everything received, each answer saying
 * Connection: close, then release).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer as createHttpServer, maxHeaderSize, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Registry } from 'prom-client';
import type { Batcher } from '../batcher';
import {
  DisposedError,
  ImageDecodeError,
  InceptionError,
  InvalidArgumentError,
  InvalidInputError,
  QueueFullError,
  RequestAbortedError,
  RequestTimeoutError,
} from '../errors';
import { packageVersion } from '../info';
import type { Session } from '../runtime/session';
import { clientErrorReply, rawErrorResponse, type ParserError } from './client-errors';
import { GrpcEndpoint, type GrpcHost } from './grpc/service';
import { handleClassify, handleInfer, MODEL_VERSION, modelMetadata, type ModelContext } from './handlers';
import { HttpError, readBody, sendError, sendJson, stopAccepting } from './http';
import { ServerMetrics, type OpenRequests } from './metrics';
import { resolveServeOptions, type ResolvedServeOptions, type ServeOptions } from './options';
import { ConnectionQueues } from './pipeline';
import { METHODS, route, splitTarget, type Route } from './routes';
import { ServedModel, type ModelResources } from './served-model';
import type { ModelStatisticsReport } from './statistics';
import type { WarmupReport } from './warmup';

/** A model's threads and memory (ServedModel.loaded.resources has every model's). */
export type ServerResources = ModelResources;

export interface InferenceServer {
  /** The first model's name in URLs (the one model of the one-model options). */
  readonly modelName: string;
  /** Every model of the repository, in config order. */
  readonly models: readonly ServedModel[];
  readonly http: Server;
  /** The first model's batcher; throws when that model is not loaded. */
  readonly batcher: Batcher;
  readonly registry: Registry;
  /** The first model's sessions; throws when that model is not loaded. */
  readonly sessions: readonly Session[];
  /** What the warm-up before listening did, all models together (batch sizes set up, runs, ms); zeros when off or nothing to warm. */
  readonly warmup: WarmupReport;
  /** The first model's CPU threads and why, and the memory its sessions hold against the container's limit; throws when that model is not loaded. */
  readonly resources: ServerResources;
  /** Whether gRPC is served (grpcPort was given). */
  readonly grpc: boolean;
  /** False once close() has begun, or while a model loads. */
  readonly ready: boolean;
  /** HTTP requests received and not yet answered; `waiting` of them pipelined behind an earlier request on their connection. */
  readonly requests: OpenRequests;
  /** Starts listening on the options' host and port (and grpcPort); resolves to the addresses bound. */
  listen(): Promise<{ host: string; port: number; url: string; grpcPort: number | undefined }>;
  /** Stops accepting, answers every accepted request, disposes owned sessions; idempotent. */
  close(): Promise<void>;
}

/** Creates the sessions (or takes the caller's) of every model, warms their batch sizes, the batchers, the HTTP (and gRPC) server; call listen(). */
export async function createServer(options: ServeOptions): Promise<InferenceServer> {
  const resolved = resolveServeOptions(options);
  const models = resolved.models.map((config) => new ServedModel(config, resolved));
  try {
    for (const model of models) await model.load();
  } catch (error) {
    await Promise.all(models.map((m) => m.unload('the server did not start')));
    throw error;
  }
  try {
    return new V2Server(resolved, models);
  } catch (error) {
    await Promise.all(models.map((m) => m.unload('the server did not start')));
    throw error;
  }
}

/** How long close() waits for connections to go idle once every accepted request is answered. */
const CLOSE_GRACE_MS = 500;

/**
 * How long after close() begins a keep-alive connection with no request on it may be closed. A
 * client that had its answer just before (without Connection: close) sends its next request on
 * the same connection within this time and gets an answer that says close, instead of a closed
 * socket and no reply (8 of 48 keep-alive clients met one in issue 16's SIGTERM trial).
 */
const IDLE_CLOSE_AFTER_MS = 100;

/**
 * How often Node checks headersTimeout and requestTimeout (its default, 30 s, let a header
 * timeout fire up to 30 s late).
 */
const CONNECTIONS_CHECK_MS = 1000;

/** How long a connection answered after a parse error may stay half-open before it is closed. */
const CLIENT_ERROR_LINGER_MS = 1000;

class V2Server implements InferenceServer, GrpcHost {
  readonly http: Server;
  readonly registry: Registry;
  private readonly metrics: ServerMetrics;
  private readonly byName: ReadonlyMap<string, ServedModel>;
  private readonly grpcEndpoint: GrpcEndpoint | undefined;
  private readonly tokenDigest: Buffer | undefined;
  private closing: Promise<void> | undefined;
  /** Responses of requests not yet answered (or whose connection has not closed). */
  private readonly open = new Set<ServerResponse>();
  private readonly idle: (() => void)[] = [];
  private readonly queues = new ConnectionQueues();
  /** Connections answered after a parse error: their parser is spent, later errors are ignored. */
  private readonly spentSockets = new WeakSet<Duplex>();
  readonly warmup: WarmupReport;

  constructor(
    private readonly resolved: ResolvedServeOptions,
    readonly models: readonly ServedModel[],
  ) {
    this.byName = new Map(models.map((m) => [m.name, m]));
    this.warmup = models.reduce<WarmupReport>((sum, m) => {
      const w = m.loaded?.warmup;
      return w === undefined ? sum : { sizes: sum.sizes + w.sizes, runs: sum.runs + w.runs, ms: sum.ms + w.ms };
    }, { sizes: 0, runs: 0, ms: 0 });
    const largestBatch = Math.max(...models.map((m) => m.loaded?.batcher.maxBatch ?? m.config.maxBatch ?? 1));
    this.metrics = new ServerMetrics(largestBatch, () => this.requests);
    for (const model of models) model.attachMetrics(this.metrics);
    this.registry = this.metrics.registry;
    this.tokenDigest = resolved.token === undefined ? undefined : digest(resolved.token);
    // Throws BackendUnavailableError (naming the npm command) when the gRPC packages are missing.
    this.grpcEndpoint = resolved.grpcPort === undefined ? undefined : new GrpcEndpoint(this, { maxMessageBytes: resolved.maxBodyBytes, requestTimeoutMs: resolved.requestTimeoutMs });
    this.http = createHttpServer({ connectionsCheckingInterval: CONNECTIONS_CHECK_MS }, (req, res) => this.handle(req, res));
    this.http.on('clientError', (error: ParserError, socket: Duplex) => this.clientError(error, socket));
    // Errors of a listening server (e.g. accept() failing with EMFILE under load) would otherwise be
    // thrown as an uncaught 'error' event and end the process; listen() handles its own errors.
    this.http.on('error', (error: Error) => {
      if (this.http.listening) this.resolved.log(`inception-cudnn serve: server error (still serving): ${error.message}`);
    });
    // Time allowed to receive a whole request (slow clients), separate from the inference timeout.
    this.http.requestTimeout = Math.max(60_000, resolved.requestTimeoutMs);
    // Node's socket inactivity timeout is off by default, so a client that stops reading its
    // response held the socket and the response buffer forever. Longer than any request may take
    // without socket activity (inference answers 504 after requestTimeoutMs).
    this.http.timeout = this.http.requestTimeout + 60_000;
  }

  get modelName(): string {
    return this.models[0].name;
  }

  get batcher(): Batcher {
    return this.firstLoaded().batcher;
  }

  get sessions(): readonly Session[] {
    return this.firstLoaded().sessions;
  }

  get resources(): ServerResources {
    return this.firstLoaded().resources;
  }

  get grpc(): boolean {
    return this.grpcEndpoint !== undefined;
  }

  private firstLoaded(): NonNullable<ServedModel['loaded']> {
    const loaded = this.models[0].loaded;
    if (loaded === undefined) throw new InvalidArgumentError(`model '${this.modelName}' is not loaded (${this.models[0].reason})`);
    return loaded;
  }

  get ready(): boolean {
    return this.closing === undefined && this.models.every((m) => m.state !== 'loading');
  }

  get requests(): OpenRequests {
    return { open: this.open.size, waiting: this.queues.waiting };
  }

  async listen(): Promise<{ host: string; port: number; url: string; grpcPort: number | undefined }> {
    const http = await this.listenHttp();
    const grpcPort = this.grpcEndpoint === undefined ? undefined : await this.grpcEndpoint.listen(this.resolved.host, this.resolved.grpcPort ?? 0);
    return { ...http, grpcPort };
  }

  private listenHttp(): Promise<{ host: string; port: number; url: string }> {
    return new Promise((resolve, reject) => {
      const onError = (error: Error): void => reject(error);
      this.http.once('error', onError);
      this.http.listen(this.resolved.port, this.resolved.host, () => {
        this.http.off('error', onError);
        const address = this.http.address();
        const port = typeof address === 'object' && address !== null ? address.port : this.resolved.port;
        const host = this.resolved.host;
        resolve({ host, port, url: `http://${host.includes(':') ? `[${host}]` : host}:${port}` });
      });
    });
  }

  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    const began = performance.now();
    // From now on every answer says Connection: close, those of requests already received
    // included, so that no client sends another request on a connection about to be closed.
    for (const res of this.open) if (!res.headersSent) res.setHeader('Connection', 'close');
    const stopped = stopAccepting(this.http);
    // gRPC stops taking calls; those running finish as the batchers drain.
    const grpcStopped = this.grpcEndpoint?.close(this.resolved.requestTimeoutMs + CLOSE_GRACE_MS);
    // Everything accepted runs (the queues are drained without waiting for the batching delay).
    await Promise.all(this.models.map((m) => m.loaded?.batcher.close()));
    // What is still open never reached the closed batcher (e.g. a client still sending its body,
    // held open by it for up to requestTimeout) and can only get a 503: after a grace period it
    // gets that 503 now, with Connection: close, instead of holding close() up.
    let graceTimer: NodeJS.Timeout | undefined;
    await Promise.race([this.requestsAnswered(), new Promise<void>((resolve) => (graceTimer = setTimeout(resolve, CLOSE_GRACE_MS)))]);
    clearTimeout(graceTimer);
    for (const res of this.open) {
      this.fail(res, new HttpError(503, 'the server shut down before this request was accepted; retry on another instance', { Connection: 'close', 'Retry-After': '1' }));
    }
    // Every request received is answered, and each answer closed its connection. What is left
    // are keep-alive connections with no request on them: they are closed once
    // IDLE_CLOSE_AFTER_MS has passed since close() began (see there), and kept closing as they
    // turn idle; after a grace period whatever is left (e.g. a client that stopped in the middle
    // of a request) is closed too.
    const quietMs = began + IDLE_CLOSE_AFTER_MS - performance.now();
    if (quietMs > 0) await new Promise((resolve) => setTimeout(resolve, quietMs));
    const sweep = setInterval(() => this.http.closeIdleConnections(), 20);
    const grace = setTimeout(() => this.http.closeAllConnections(), CLOSE_GRACE_MS);
    this.http.closeIdleConnections();
    await stopped;
    clearInterval(sweep);
    clearTimeout(grace);
    await grpcStopped;
    await Promise.all(this.models.map((m) => m.unload('the server shut down')));
  }

  private requestsAnswered(): Promise<void> {
    if (this.open.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.idle.push(resolve));
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    this.open.add(res);
    let endpoint = 'unknown';
    let model = '';
    let counted = false;
    const answered = (status: number): void => {
      if (counted) return;
      counted = true;
      this.metrics.request(model, endpoint, status);
      this.open.delete(res);
      if (this.open.size === 0) for (const resolve of this.idle.splice(0)) resolve();
    };
    // A client that left before its answer was written counts as a failure (499, nginx's code),
    // and so does a pipelined request dropped because its connection closed before its turn.
    res.on('close', () => answered(res.writableFinished ? res.statusCode : 499));
    if (this.closing !== undefined) res.setHeader('Connection', 'close');
    const { path, query } = splitTarget(req.url ?? '/');
    let found: Route | undefined;
    let refused: unknown;
    try {
      found = route(path);
    } catch (error) {
      refused = error;
    }
    if (found !== undefined) endpoint = found.kind;
    if (found !== undefined && 'model' in found) model = found.model;
    const start = (): void => {
      const work = refused === undefined ? this.dispatch(req, res, found, path, query) : Promise.reject(refused);
      work.catch((error: unknown) => this.fail(res, error));
    };
    this.queues.enqueue(req, res, start, () => answered(499));
  }

  /**
   * What Node's HTTP parser refused on a connection (Node's own answer has no body). When a
   * request on the connection is still being read, the error is in its body and it gets the
   * answer; otherwise the error is in the request after the last one received, and the answer
   * follows the answers of every earlier request. The connection closes after it either way.
   */
  private clientError(error: ParserError, socket: Duplex): void {
    if (this.spentSockets.has(socket)) return;
    this.spentSockets.add(socket);
    if (error.code === 'ECONNRESET' || !socket.writable) {
      socket.destroy();
      return;
    }
    const limits = { headersTimeoutMs: this.http.headersTimeout, requestTimeoutMs: this.http.requestTimeout, maxHeaderBytes: maxHeaderSize };
    const running = this.queues.running(socket as Socket);
    if (running !== undefined && !running.req.complete) {
      const reply = clientErrorReply(error, 'body', limits);
      if (running.res.headersSent) socket.destroy();
      else this.fail(running.res, new HttpError(reply.status, reply.message, { Connection: 'close' }));
      return;
    }
    const reply = clientErrorReply(error, 'headers', limits);
    this.queues.afterLast(socket as Socket, () => {
      if (!socket.writable) {
        socket.destroy();
        return;
      }
      // end() lets the answer reach a client still sending; one that never closes its side is cut off.
      const linger = setTimeout(() => socket.destroy(), CLIENT_ERROR_LINGER_MS);
      socket.once('close', () => clearTimeout(linger));
      socket.end(rawErrorResponse(reply.status, reply.message));
      this.metrics.request('', 'malformed', reply.status);
    });
  }

  private async dispatch(req: IncomingMessage, res: ServerResponse, found: Route | undefined, path: string, query: string): Promise<void> {
    const health = found?.kind === 'live' || found?.kind === 'ready';
    if (!health) this.authorize(req.headers.authorization);
    if (found === undefined) throw new HttpError(404, `no route ${path}; see GET /v2 and GET /v2/models/${this.modelName}`);
    const method = METHODS[found.kind];
    if (req.method !== method && !(method === 'GET' && req.method === 'HEAD')) {
      throw new HttpError(405, `${req.method ?? '?'} is not allowed on ${path}; use ${method}`, { Allow: method === 'GET' ? 'GET, HEAD' : 'POST' });
    }
    switch (found.kind) {
      case 'live':
        return sendJson(res, 200, { live: true });
      case 'ready':
        if (!this.ready) throw new HttpError(503, this.closing === undefined ? 'a model is loading' : 'the server is shutting down');
        return sendJson(res, 200, { ready: true });
      case 'server':
        return sendJson(res, 200, this.serverMetadata());
      case 'metrics': {
        const text = await this.metrics.text();
        if (res.destroyed) return;
        res.writeHead(200, { 'Content-Type': this.registry.contentType, 'Content-Length': text.length });
        res.end(text);
        return;
      }
      case 'all-stats':
        return sendJson(res, 200, { model_stats: this.statistics(undefined, undefined) });
      case 'repository-index':
        return sendJson(res, 200, this.repositoryIndex(await readReadyFlag(req)));
      case 'model-load':
        await this.loadModel(found.model);
        return sendJson(res, 200, {});
      case 'model-unload':
        await this.unloadModel(found.model);
        return sendJson(res, 200, {});
    }
    switch (found.kind) {
      case 'model':
        return sendJson(res, 200, this.modelMetadata(found.model, found.version));
      case 'model-ready': {
        if (!this.modelReady(found.model, found.version)) {
          const model = this.lookup(found.model, found.version);
          throw new HttpError(503, `model '${model.name}' is not ready: ${this.closing === undefined ? model.reason : 'the server is shutting down'}`);
        }
        return sendJson(res, 200, { name: found.model, ready: true });
      }
      case 'stats':
        return sendJson(res, 200, { model_stats: this.statistics(found.model, found.version) });
      case 'infer':
        return handleInfer(req, res, this.inferModel(found.model, found.version));
      case 'classify':
        return handleClassify(req, res, this.inferModel(found.model, found.version), new URLSearchParams(query));
    }
  }

  // The model repository, for both protocols (GrpcHost).

  serverMetadata(): { name: string; version: string; extensions: string[] } {
    const extensions = ['binary_tensor_data', 'classify', 'statistics'];
    if (this.resolved.modelControl === 'explicit') extensions.push('model_repository');
    return { name: 'inception-cudnn', version: packageVersion(), extensions };
  }

  /** The model named, or 404. */
  private lookup(name: string, version: string | undefined): ServedModel {
    const model = this.byName.get(name);
    if (model === undefined) throw new HttpError(404, `unknown model '${name}'; this server serves ${[...this.byName.keys()].map((n) => `'${n}'`).join(', ')}`);
    if (version !== undefined && version !== MODEL_VERSION) {
      throw new HttpError(404, `unknown version '${version}' of model '${name}'; the only version is '${MODEL_VERSION}'`);
    }
    return model;
  }

  modelMetadata(name: string, version: string | undefined): unknown {
    const model = this.lookup(name, version);
    const loaded = model.loaded;
    if (loaded === undefined) throw new HttpError(503, `model '${name}' is not loaded (${model.reason}); its metadata comes from its sessions`);
    return modelMetadata(loaded.context);
  }

  modelReady(name: string, version: string | undefined): boolean {
    return this.closing === undefined && this.lookup(name, version).state === 'ready';
  }

  inferModel(name: string, version: string | undefined): ModelContext {
    const model = this.lookup(name, version);
    this.checkAccepting();
    const loaded = model.loaded;
    if (model.state !== 'ready' || loaded === undefined) {
      throw new HttpError(503, `model '${name}' is not ready (${model.reason}); load it or retry later`, { 'Retry-After': String(this.resolved.retryAfterSeconds) });
    }
    return loaded.context;
  }

  statistics(name: string | undefined, version: string | undefined): ModelStatisticsReport[] {
    if (name !== undefined) return [this.lookup(name, version).statisticsReport()];
    return this.models.map((m) => m.statisticsReport());
  }

  repositoryIndex(readyOnly: boolean): { name: string; version: string; state: string; reason: string }[] {
    return this.models
      .filter((m) => !readyOnly || m.state === 'ready')
      .map((m) => ({ name: m.name, version: MODEL_VERSION, state: m.state.toUpperCase(), reason: m.reason }));
  }

  async loadModel(name: string): Promise<void> {
    this.checkModelControl('load');
    const model = this.lookup(name, undefined);
    this.checkAccepting();
    try {
      await model.load();
    } catch (error) {
      throw new HttpError(400, `failed to load model '${name}': ${(error as Error).message}`);
    }
  }

  /** Refuses new requests for the model, answers everything it queued, then frees its sessions. */
  async unloadModel(name: string): Promise<void> {
    this.checkModelControl('unload');
    await this.lookup(name, undefined).unload();
  }

  private checkModelControl(action: string): void {
    if (this.resolved.modelControl !== 'explicit') {
      throw new HttpError(403, `cannot ${action} models: model control is off; start the server with --model-control explicit (modelControl: 'explicit')`);
    }
  }

  authorize(authorization: string | undefined): void {
    if (this.tokenDigest === undefined) return;
    const match = /^Bearer (.+)$/i.exec(authorization ?? '');
    if (match === null || !timingSafeEqual(digest(match[1]), this.tokenDigest)) {
      throw new HttpError(401, 'missing or wrong bearer token; send Authorization: Bearer <token> (gRPC: authorization metadata)', { 'WWW-Authenticate': 'Bearer' });
    }
  }

  answered(model: string, rpc: string, code: string): void {
    this.metrics.request(model, `grpc_${rpc}`, code);
  }

  log(line: string): void {
    this.resolved.log(line);
  }

  private checkAccepting(): void {
    if (this.closing !== undefined) throw new HttpError(503, 'the server is shutting down; retry on another instance', { 'Retry-After': '1' });
  }

  /** Maps an error to its status; internal errors are logged here and answered without details. */
  private fail(res: ServerResponse, error: unknown): void {
    if (res.destroyed || res.headersSent) return;
    const retry = { 'Retry-After': String(this.resolved.retryAfterSeconds) };
    if (error instanceof HttpError) return sendError(res, error.status, error.message, error.headers);
    if (error instanceof QueueFullError) return sendError(res, 429, error.message, retry);
    if (error instanceof RequestTimeoutError) return sendError(res, 504, error.message);
    if (error instanceof DisposedError) return sendError(res, 503, 'the model is unloading or the server is shutting down; retry (on another instance)', retry);
    if (error instanceof RequestAbortedError) return sendError(res, 499, error.message);
    if (error instanceof InvalidInputError || error instanceof InvalidArgumentError || error instanceof ImageDecodeError) {
      return sendError(res, 400, error.message);
    }
    const what = error instanceof InceptionError ? `${error.code}: ${error.message}` : error instanceof Error ? (error.stack ?? error.message) : String(error);
    this.resolved.log(`inception-cudnn serve: internal error: ${what}`);
    sendError(res, 500, error instanceof InceptionError ? `internal error (${error.code}): ${error.message}` : 'internal server error (logged on the server)');
  }
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

/** The `ready` flag of a repository index request body (`{"ready": true}`; an empty body is all models). */
async function readReadyFlag(req: IncomingMessage): Promise<boolean> {
  const body = await readBody(req, 64 * 1024);
  if (body.length === 0) return false;
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch (error) {
    throw new HttpError(400, `the repository index body is not valid JSON: ${(error as Error).message}; send {} or {"ready": true}`);
  }
  const ready = (parsed as { ready?: unknown } | null)?.ready;
  if (ready !== undefined && typeof ready !== 'boolean') throw new HttpError(400, '"ready" must be true or false');
  return ready === true;
}
