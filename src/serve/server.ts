/**
 * The inference server: Open Inference Protocol v2 REST on Node's http, one dynamic batcher
 * in front of one or more session instances, Prometheus metrics, bearer-token auth, limits,
 * pipelined requests taken one at a time per connection, JSON answers to what the HTTP parser
 * refuses, and a graceful close (stop accepting, answer everything received, each answer saying
 * Connection: close, then release).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer as createHttpServer, maxHeaderSize, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Registry } from 'prom-client';
import { createBatcher, type Batcher } from '../batcher';
import { checkSessions } from '../batcher/options';
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
import { getModel } from '../models/registry';
import { createSession, type Session } from '../runtime/session';
import { clientErrorReply, rawErrorResponse, type ParserError } from './client-errors';
import { handleClassify, handleInfer, MODEL_VERSION, modelMetadata, signatureOf, type ModelContext } from './handlers';
import { BodyPool, HttpError, sendError, sendJson, stopAccepting } from './http';
import { ServerMetrics, type OpenRequests } from './metrics';
import { resolveServeOptions, type ResolvedServeOptions, type ServeOptions } from './options';
import { ConnectionQueues } from './pipeline';
import { METHODS, route, splitTarget, type Route } from './routes';
import { warmRunSizes, type WarmupReport } from './warmup';
import { checkCompiledMemory, checkWeightsFit, compiledMemory, splitThreads } from './resources';
import { readMemoryLimit, type CgroupReading, type MemoryLimit } from '../system/cgroup';
import { defaultCpuThreads, describeThreads } from '../system/cpu-threads';
import type { MemoryFit } from '../system/memory-fit';

export interface InferenceServer {
  /** The model's name in URLs. */
  readonly modelName: string;
  readonly http: Server;
  readonly batcher: Batcher;
  readonly registry: Registry;
  readonly sessions: readonly Session[];
  /** What the warm-up before listening did (batch sizes set up, runs, ms); zeros when off or nothing to warm. */
  readonly warmup: WarmupReport;
  /** False once close() has begun. */
  readonly ready: boolean;
  /** HTTP requests received and not yet answered; `waiting` of them pipelined behind an earlier request on their connection. */
  readonly requests: OpenRequests;
  /** The CPU threads of the instances and why, and the memory they hold against the container's limit. */
  readonly resources: ServerResources;
  /** Starts listening on the options' host and port; resolves to the address bound. */
  listen(): Promise<{ host: string; port: number; url: string }>;
  /** Stops accepting, answers every accepted request, disposes owned sessions; idempotent. */
  close(): Promise<void>;
}

export interface ServerResources {
  /** E.g. 'threads 1 per instance (cgroup quota 2.0 CPU of 4, split over 2 instances)'. */
  readonly threads: string;
  /** The CPU sessions' weights + arena + workspace against the cgroup memory limit (describeMemoryFit prints it). */
  readonly memory: MemoryFit;
}

const NO_WARMUP: WarmupReport = Object.freeze({ sizes: 0, runs: 0, ms: 0 });

/** Creates the sessions (or takes the caller's), warms their batch sizes, the batcher and the HTTP server; call listen(). */
export async function createServer(options: ServeOptions): Promise<InferenceServer> {
  const resolved = resolveServeOptions(options);
  const owned = options.sessions === undefined;
  const limit = readMemoryLimit();
  // The caller's sessions are checked (a Session or a non-empty array of them, one model and input size) before use.
  const { sessions, threads } = owned ? await createSessions(options, resolved, limit) : { sessions: [...checkSessions(options.sessions)], threads: '' };
  let server: V2Server;
  try {
    const memory = compiledMemory(sessions, limit);
    if (owned) checkCompiledMemory(memory, sessions);
    server = new V2Server(options, resolved, sessions, owned, { threads: owned ? threads : callerThreads(sessions), memory });
  } catch (error) {
    if (owned) await Promise.all(sessions.map((s) => s.dispose()));
    throw error;
  }
  if (resolved.warmup) {
    try {
      server.warmup = await warmRunSizes(sessions, server.batcher.maxBatch);
    } catch (error) {
      await server.close();
      throw error;
    }
  }
  return server;
}

async function createSessions(options: ServeOptions, resolved: ResolvedServeOptions, limit: CgroupReading<MemoryLimit>): Promise<{ sessions: Session[]; threads: string }> {
  const base = options.session as NonNullable<ServeOptions['session']>;
  // CPU instances split the CPU figure (the affinity mask capped by the cgroup quota) between them
  // unless told otherwise; CUDA sessions size their input copy by the same figure themselves.
  const cpu = base.device === undefined || base.device === 'cpu';
  const split = splitThreads(defaultCpuThreads(base.threads), resolved.instances);
  const sessionOptions = cpu ? { ...base, threads: split.perInstance } : base;
  // Refuse before reading any weights when even their lower bound cannot fit the memory limit.
  checkWeightsFit(base, resolved.instances, limit);
  const sessions: Session[] = [];
  try {
    for (let i = 0; i < resolved.instances; i++) sessions.push(await createSession(sessionOptions));
  } catch (error) {
    await Promise.all(sessions.map((s) => s.dispose()));
    throw error;
  }
  return { sessions, threads: cpu ? split.text : `staging copy ${describeThreads(sessions[0]!.threads)}` };
}

/** The threads text of sessions the caller made. */
function callerThreads(sessions: readonly Session[]): string {
  const first = sessions[0]!;
  const what = first.info.device === 'cpu' ? '' : 'staging copy ';
  return `${what}${describeThreads(first.threads)}${sessions.length > 1 ? ' per instance' : ''}`;
}

/** Most bytes of infer body buffers kept for reuse (what the busiest moment needed, up to this). */
const BODY_POOL_BYTES = 256 * 1024 * 1024;

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

class V2Server implements InferenceServer {
  readonly modelName: string;
  readonly http: Server;
  readonly batcher: Batcher;
  readonly registry: Registry;
  private readonly metrics: ServerMetrics;
  private readonly model: ModelContext;
  private readonly tokenDigest: Buffer | undefined;
  private closing: Promise<void> | undefined;
  /** Responses of requests not yet answered (or whose connection has not closed). */
  private readonly open = new Set<ServerResponse>();
  private readonly idle: (() => void)[] = [];
  private readonly queues = new ConnectionQueues();
  /** Connections answered after a parse error: their parser is spent, later errors are ignored. */
  private readonly spentSockets = new WeakSet<Duplex>();
  warmup: WarmupReport = NO_WARMUP;

  constructor(
    options: ServeOptions,
    private readonly resolved: ResolvedServeOptions,
    readonly sessions: readonly Session[],
    private readonly ownsSessions: boolean,
    readonly resources: ServerResources,
  ) {
    const info = sessions[0].info;
    this.modelName = options.modelName ?? info.model;
    let metrics: ServerMetrics | undefined;
    this.batcher = createBatcher(sessions, {
      maxBatch: options.maxBatch,
      maxQueueDelayMicroseconds: options.maxQueueDelayMicroseconds,
      preferredBatchSizes: options.preferredBatchSizes,
      maxQueueSize: options.maxQueueSize,
      observer: { batch: (e) => metrics?.observer.batch?.(e), request: (e) => metrics?.observer.request?.(e) },
    });
    metrics = new ServerMetrics(this.modelName, this.batcher.maxBatch, sessions, () => this.batcher.stats, () => this.requests);
    this.metrics = metrics;
    this.registry = metrics.registry;
    this.model = {
      name: this.modelName,
      info,
      signature: signatureOf(info, this.batcher.maxBatch),
      preprocessing: getModel(info.model).preprocessing,
      batcher: this.batcher,
      maxBodyBytes: resolved.maxBodyBytes,
      bodies: new BodyPool(BODY_POOL_BYTES),
      maxInputPixels: resolved.maxInputPixels,
      requestTimeoutMs: resolved.requestTimeoutMs,
    };
    this.tokenDigest = resolved.token === undefined ? undefined : digest(resolved.token);
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

  get ready(): boolean {
    return this.closing === undefined;
  }

  get requests(): OpenRequests {
    return { open: this.open.size, waiting: this.queues.waiting };
  }

  listen(): Promise<{ host: string; port: number; url: string }> {
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
    // Everything accepted runs (the queue is drained without waiting for the batching delay).
    await this.batcher.close();
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
    if (this.ownsSessions) await Promise.all(this.sessions.map((s) => s.dispose()));
  }

  private requestsAnswered(): Promise<void> {
    if (this.open.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.idle.push(resolve));
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    this.open.add(res);
    let endpoint = 'unknown';
    let counted = false;
    const answered = (status: number): void => {
      if (counted) return;
      counted = true;
      this.metrics.request(endpoint, status);
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
      this.metrics.request('malformed', reply.status);
    });
  }

  private async dispatch(req: IncomingMessage, res: ServerResponse, found: Route | undefined, path: string, query: string): Promise<void> {
    const health = found?.kind === 'live' || found?.kind === 'ready';
    if (!health) this.authorize(req);
    if (found === undefined) throw new HttpError(404, `no route ${path}; see GET /v2 and GET /v2/models/${this.modelName}`);
    const method = METHODS[found.kind];
    if (req.method !== method && !(method === 'GET' && req.method === 'HEAD')) {
      throw new HttpError(405, `${req.method ?? '?'} is not allowed on ${path}; use ${method}`, { Allow: method === 'GET' ? 'GET, HEAD' : 'POST' });
    }
    switch (found.kind) {
      case 'live':
        return sendJson(res, 200, { live: true });
      case 'ready':
        if (!this.ready) throw new HttpError(503, 'the server is shutting down');
        return sendJson(res, 200, { ready: true });
      case 'server':
        return sendJson(res, 200, { name: 'inception-cudnn', version: packageVersion(), extensions: ['binary_tensor_data', 'classify'] });
      case 'metrics': {
        const text = await this.metrics.text();
        if (res.destroyed) return;
        res.writeHead(200, { 'Content-Type': this.registry.contentType, 'Content-Length': text.length });
        res.end(text);
        return;
      }
    }
    this.checkModel(found.model, found.version);
    switch (found.kind) {
      case 'model':
        return sendJson(res, 200, modelMetadata(this.model));
      case 'model-ready':
        if (!this.ready) throw new HttpError(503, `model '${this.modelName}' is not ready: the server is shutting down`);
        return sendJson(res, 200, { name: this.modelName, ready: true });
      case 'infer':
        this.checkAccepting();
        return handleInfer(req, res, this.model);
      case 'classify':
        this.checkAccepting();
        return handleClassify(req, res, this.model, new URLSearchParams(query));
    }
  }

  private checkModel(name: string, version: string | undefined): void {
    if (name !== this.modelName) throw new HttpError(404, `unknown model '${name}'; this server serves '${this.modelName}'`);
    if (version !== undefined && version !== MODEL_VERSION) {
      throw new HttpError(404, `unknown version '${version}' of model '${name}'; the only version is '${MODEL_VERSION}'`);
    }
  }

  private checkAccepting(): void {
    if (this.closing !== undefined) throw new HttpError(503, 'the server is shutting down; retry on another instance', { 'Retry-After': '1' });
  }

  private authorize(req: IncomingMessage): void {
    if (this.tokenDigest === undefined) return;
    const header = req.headers.authorization ?? '';
    const match = /^Bearer (.+)$/i.exec(header);
    if (match === null || !timingSafeEqual(digest(match[1]), this.tokenDigest)) {
      throw new HttpError(401, 'missing or wrong bearer token; send Authorization: Bearer <token>', { 'WWW-Authenticate': 'Bearer' });
    }
  }

  /** Maps an error to its status; internal errors are logged here and answered without details. */
  private fail(res: ServerResponse, error: unknown): void {
    if (res.destroyed || res.headersSent) return;
    const retry = { 'Retry-After': String(this.resolved.retryAfterSeconds) };
    if (error instanceof HttpError) return sendError(res, error.status, error.message, error.headers);
    if (error instanceof QueueFullError) return sendError(res, 429, error.message, retry);
    if (error instanceof RequestTimeoutError) return sendError(res, 504, error.message);
    if (error instanceof DisposedError) return sendError(res, 503, 'the server is shutting down; retry on another instance', retry);
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
