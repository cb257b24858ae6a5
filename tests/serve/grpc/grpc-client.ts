/**
 * gRPC clients for the tests, generated at run time by @grpc/proto-loader from the committed
 * proto files (data/grpc), as a user's client would be: the core service of
 * open_inference_grpc.proto and the extension RPCs of inference_extensions.proto.
 */
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

const PROTO_DIR = path.join(__dirname, '..', '..', '..', 'data', 'grpc');
const OPTIONS: protoLoader.Options = { keepCase: true, longs: Number, enums: String, defaults: true, oneofs: true };

type ClientClass = new (address: string, credentials: grpc.ChannelCredentials, options?: grpc.ClientOptions) => grpc.Client;

function clientClass(file: string): ClientClass {
  const loaded = grpc.loadPackageDefinition(protoLoader.loadSync(path.join(PROTO_DIR, file), OPTIONS)) as unknown as {
    inference: { GRPCInferenceService: ClientClass };
  };
  return loaded.inference.GRPCInferenceService;
}

export interface CallOptions {
  readonly token?: string;
  /** ms from now. */
  readonly deadlineMs?: number;
}

export interface GrpcResult {
  readonly code: grpc.status;
  readonly details: string;
  readonly reply: any; // eslint-disable-line @typescript-eslint/no-explicit-any
}

export class TestClient {
  private readonly core: grpc.Client;
  private readonly extensions: grpc.Client;

  constructor(port: number, options: grpc.ClientOptions = {}) {
    const address = `127.0.0.1:${port}`;
    this.core = new (clientClass('open_inference_grpc.proto'))(address, grpc.credentials.createInsecure(), options);
    this.extensions = new (clientClass('inference_extensions.proto'))(address, grpc.credentials.createInsecure(), options);
  }

  /** Starts a unary call; resolves to its status (OK or the error's) and reply, never rejects. */
  start(rpc: string, request: unknown, options: CallOptions = {}): { result: Promise<GrpcResult>; call: grpc.ClientUnaryCall } {
    const client = rpc in this.core && typeof (this.core as unknown as Record<string, unknown>)[rpc] === 'function' ? this.core : this.extensions;
    const metadata = new grpc.Metadata();
    if (options.token !== undefined) metadata.set('authorization', `Bearer ${options.token}`);
    const callOptions: grpc.CallOptions = options.deadlineMs === undefined ? {} : { deadline: Date.now() + options.deadlineMs };
    let call!: grpc.ClientUnaryCall;
    const result = new Promise<GrpcResult>((resolve) => {
      const method = (client as unknown as Record<string, (...args: unknown[]) => grpc.ClientUnaryCall>)[rpc].bind(client);
      call = method(request, metadata, callOptions, (error: grpc.ServiceError | null, reply: unknown) => {
        if (error === null) resolve({ code: grpc.status.OK, details: '', reply });
        else resolve({ code: error.code, details: error.details, reply: undefined });
      });
    });
    return { result, call };
  }

  call(rpc: string, request: unknown, options: CallOptions = {}): Promise<GrpcResult> {
    return this.start(rpc, request, options).result;
  }

  /** The core service's method definition (its serializers), for tests that speak raw HTTP/2. */
  static serviceOf(rpc: string): unknown {
    return (clientClass('open_inference_grpc.proto') as unknown as { service: Record<string, unknown> }).service[rpc];
  }

  close(): void {
    this.core.close();
    this.extensions.close();
  }
}

/** A ModelInfer request with the input as raw little-endian bytes. */
export function rawInfer(model: string, input: Float32Array, shape: number[], id = ''): unknown {
  return {
    model_name: model,
    id,
    inputs: [{ name: 'input', datatype: 'FP32', shape }],
    raw_input_contents: [Buffer.from(input.buffer, input.byteOffset, input.byteLength)],
  };
}

/** A ModelInfer request with the input as typed contents (fp32_contents). */
export function typedInfer(model: string, input: Float32Array, shape: number[]): unknown {
  return { model_name: model, inputs: [{ name: 'input', datatype: 'FP32', shape, contents: { fp32_contents: Array.from(input) } }] };
}

/** The output of a ModelInfer reply as float32 rows. */
export function outputOf(reply: { raw_output_contents: Buffer[] }): Float32Array {
  const bytes = reply.raw_output_contents[0];
  const out = new Float32Array(bytes.length / 4);
  new Uint8Array(out.buffer).set(bytes);
  return out;
}

export { grpc };
