/**
 * gRPC load for the serve benchmark: ModelInfer calls with raw_input_contents, each answer
 * checked (status OK, one output of `images` rows).
 *
 * Two clients, both sending a request encoded once, up front (as autocannon sends one prepared
 * HTTP body): the load generator runs on the same cores as the server, so whatever it spends
 * per call is taken from the server's compute.
 * - `preparedClient`: the whole gRPC frame (flag, length, message) prepared once and written to
 *   a node:http2 stream per call, as a lean load generator (ghz, perf_analyzer) does; on the
 *   2-core VM it costs about 2 ms of CPU per 2.4 MB call, what autocannon costs for HTTP. Its
 *   session has no memory limit, as grpc-js clients' have none: under Node's default
 *   (maxSessionMemory 10 MB) 64 calls of 307 KB in flight had new streams refused with
 *   ENHANCE_YOUR_CALM by the client's own session (15 of 1,060 calls; 0 of 1,039 without the limit).
 * - `grpcJsClient`: an @grpc/grpc-js client (the one users of Node have); it copies every message
 *   into a new framed buffer and costs 5-6 ms of CPU per such call on the same VM.
 */
import { connect, constants, type ClientHttp2Session } from 'node:http2';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
// Compiled to lib/bench/grpc-load.js: '../../lib/...' resolves to the package's lib/ from both places.
import { CORE_PROTO, PROTO_DIR, PROTO_OPTIONS } from '../../lib/serve/grpc/load';
import { randomInput } from './samples';

/** One kind of ModelInfer call, ready to send again and again. */
export interface PreparedInfer {
  readonly model: string;
  readonly images: number;
  /** The encoded ModelInferRequest. */
  readonly message: Buffer;
}

/** Sends one prepared call; resolves when its answer has been checked, rejects with what went wrong. */
export type InferCall = (prepared: PreparedInfer) => Promise<void>;

export interface GrpcLoadClient {
  readonly call: InferCall;
  close(): void;
}

const PATH = '/inference.GRPCInferenceService/ModelInfer';

interface InferMethod {
  requestSerialize(request: unknown): Buffer;
  responseDeserialize(bytes: Buffer): { outputs: { shape: number[] }[]; raw_output_contents: Buffer[] };
}

let method: InferMethod | undefined;

/** ModelInfer as @grpc/proto-loader generates it from the committed proto. */
function inferMethod(): InferMethod {
  if (method !== undefined) return method;
  // The server's own proto file and loader options (lib/serve/grpc/load): the same field names and defaults.
  const definition = protoLoader.loadSync(join(PROTO_DIR, CORE_PROTO), PROTO_OPTIONS);
  const loaded = grpc.loadPackageDefinition(definition) as unknown as { inference: { GRPCInferenceService: { service: Record<string, InferMethod> } } };
  method = loaded.inference.GRPCInferenceService.service.ModelInfer;
  return method;
}

/** A ModelInfer request of `images` images (deterministic values) for `model`, encoded. */
export function prepareInfer(model: string, images: number, size: number): PreparedInfer {
  const input = randomInput(images * 3 * size * size);
  const request = { model_name: model, inputs: [{ name: 'input', datatype: 'FP32', shape: [images, 3, size, size] }], raw_input_contents: [Buffer.from(input.buffer)] };
  return { model, images, message: inferMethod().requestSerialize(request) };
}

/** Throws unless the answer is one output of `images` rows with its raw bytes. */
function checkAnswer(message: Buffer, prepared: PreparedInfer): void {
  const reply = inferMethod().responseDeserialize(message);
  const output = reply.outputs[0];
  const raw = reply.raw_output_contents[0];
  if (reply.outputs.length !== 1 || output?.shape[0] !== prepared.images || raw === undefined || raw.length === 0 || raw.length % prepared.images !== 0) {
    throw new Error(`ModelInfer answered ${reply.outputs.length} outputs, shape [${output?.shape.join(',') ?? ''}], ${raw?.length ?? 0} raw bytes for ${prepared.images} images`);
  }
}

/** The gRPC frame of a message: compressed flag 0, 4-byte big-endian length, the message. */
function framed(message: Buffer): Buffer {
  const frame = Buffer.allocUnsafe(5 + message.length);
  frame.writeUInt8(0, 0);
  frame.writeUInt32BE(message.length, 1);
  message.copy(frame, 5);
  return frame;
}

/** Prepared frames written to node:http2 streams on one connection (see the file comment). */
export function preparedClient(port: number): GrpcLoadClient {
  // maxSessionMemory (MB): Node's default of 10 rejects new streams with ENHANCE_YOUR_CALM once the
  // session holds more than 10 MB, which 64 calls of 307 KB in flight do (grpc-js clients set no limit).
  const session: ClientHttp2Session = connect(`http://127.0.0.1:${port}`, { settings: { initialWindowSize: 16 * 1024 * 1024 }, maxSessionMemory: 1024 });
  session.on('error', () => {}); // each stream reports its own failure
  const frames = new WeakMap<PreparedInfer, Buffer>();
  const call: InferCall = (prepared) =>
    new Promise<void>((resolve, reject) => {
      let frame = frames.get(prepared);
      if (frame === undefined) frames.set(prepared, (frame = framed(prepared.message)));
      const stream = session.request({
        [constants.HTTP2_HEADER_METHOD]: 'POST',
        [constants.HTTP2_HEADER_PATH]: PATH,
        'content-type': 'application/grpc',
        te: 'trailers',
      });
      const chunks: Buffer[] = [];
      let status: string | undefined;
      let details = '';
      stream.on('response', (headers) => {
        // A call refused at once answers with its status in the headers (trailers-only).
        if (headers['grpc-status'] !== undefined) ({ status, details } = grpcStatus(headers));
      });
      stream.on('trailers', (trailers) => ({ status, details } = grpcStatus(trailers)));
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('error', reject);
      stream.on('end', () => {
        if (status !== '0') {
          reject(new Error(`grpc-status ${status ?? 'missing'}: ${details}`));
          return;
        }
        try {
          const body = Buffer.concat(chunks);
          if (body.length < 5 || body.readUInt32BE(1) !== body.length - 5) throw new Error(`a malformed gRPC answer of ${body.length} bytes`);
          checkAnswer(body.subarray(5), prepared);
          resolve();
        } catch (error) {
          reject(error as Error);
        }
      });
      stream.end(frame);
    });
  return { call, close: () => session.close() };
}

function grpcStatus(headers: Record<string, unknown>): { status: string | undefined; details: string } {
  const status = headers['grpc-status'];
  const message = headers['grpc-message'];
  return { status: typeof status === 'string' ? status : undefined, details: typeof message === 'string' ? decodeURIComponent(message) : '' };
}

/** An @grpc/grpc-js client whose ModelInfer takes the encoded request as it is (no encoding per call). */
export function grpcJsClient(port: number): GrpcLoadClient {
  const infer = inferMethod() as unknown as grpc.MethodDefinition<Buffer, unknown>;
  const Client = grpc.makeGenericClientConstructor({ ModelInfer: { ...infer, requestSerialize: (encoded: Buffer) => encoded, responseDeserialize: (bytes: Buffer) => bytes } }, 'GRPCInferenceService');
  const client = new Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure()) as unknown as grpc.Client & {
    ModelInfer(request: Buffer, callback: (error: grpc.ServiceError | null, reply: Buffer) => void): void;
  };
  const call: InferCall = (prepared) =>
    new Promise<void>((resolve, reject) =>
      client.ModelInfer(prepared.message, (error, reply) => {
        if (error !== null) reject(error);
        else {
          try {
            checkAnswer(reply, prepared);
            resolve();
          } catch (problem) {
            reject(problem as Error);
          }
        }
      }),
    );
  return { call, close: () => client.close() };
}

export interface ClosedLoopResult {
  readonly ok: number;
  readonly errors: number;
  /** The first error's message, if any. */
  readonly firstError: string | undefined;
  readonly seconds: number;
  /** Latencies of the answered calls, ms, sorted. */
  readonly latenciesMs: number[];
}

/**
 * `inFlight` loops, each sending its next call when its last is answered, until `seconds` have
 * passed or `maxCalls` were sent in all (both bound the phase; each call is bounded by the server's
 * request timeout).
 */
export async function closedLoop(send: () => Promise<void>, inFlight: number, seconds: number, maxCalls: number): Promise<ClosedLoopResult> {
  const latenciesMs: number[] = [];
  let errors = 0;
  let firstError: string | undefined;
  let sent = 0;
  const start = performance.now();
  const loop = async (): Promise<void> => {
    while (sent < maxCalls && performance.now() - start < seconds * 1000) {
      sent++;
      const t = performance.now();
      try {
        await send();
        latenciesMs.push(performance.now() - t);
      } catch (error) {
        errors++;
        firstError ??= (error as Error).message;
      }
    }
  };
  await Promise.all(Array.from({ length: inFlight }, loop));
  latenciesMs.sort((a, b) => a - b);
  return { ok: latenciesMs.length, errors, firstError, seconds: (performance.now() - start) / 1000, latenciesMs };
}
