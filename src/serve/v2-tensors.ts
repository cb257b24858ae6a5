/**
 * Open Inference Protocol (KServe v2) infer request/response bodies: JSON tensors (flat or
 * nested `data`) and the binary tensor data extension (JSON header of
 * `Inference-Header-Content-Length` bytes, then raw little-endian tensors in input order,
 * each sized by `parameters.binary_data_size`).
 */
import { endianness } from 'node:os';
import { HttpError } from './http';
import { readDataSpan, splitDataArray, type DataSpan } from './json-tensor';

export const BINARY_HEADER = 'inference-header-content-length';

/** The tensors one model exposes: one FP32 input [-1,3,H,W] and one FP32 output [-1,K]. */
export interface ModelSignature {
  readonly inputName: string;
  readonly outputName: string;
  readonly height: number;
  readonly width: number;
  readonly outputSize: number;
  readonly maxBatch: number;
}

export interface InferRequest {
  readonly id: string | undefined;
  readonly images: number;
  readonly input: Float32Array;
  /** Whether the output goes back as binary data. */
  readonly binaryOutput: boolean;
}

/** Whether this machine stores numbers little-endian, as the protocol's binary tensors are. */
export const LITTLE_ENDIAN = endianness() === 'LE';

/** A 400 answer (HTTP) or INVALID_ARGUMENT (gRPC, src/serve/grpc/status.ts) with this message. */
export function bad(message: string): HttpError {
  return new HttpError(400, message);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** JSON bodies smaller than this are parsed whole (JSON.parse is quick on them). */
const FAST_JSON_MIN_BYTES = 16 * 1024;

/**
 * Parses an infer body; `headerLength` is the Inference-Header-Content-Length value, if any.
 * A large JSON body has its tensor numbers read straight from the bytes (json-tensor.ts); when
 * that reader gives up, the body is parsed again the ordinary way (`fast` false), which gives
 * the same result or the error that names the problem.
 */
export function parseInferRequest(body: Buffer, headerLength: string | undefined, model: ModelSignature, fast = true): InferRequest {
  let jsonBytes = body;
  let binary: Buffer | undefined;
  if (headerLength !== undefined) {
    const n = Number(headerLength);
    if (!/^[0-9]+$/.test(headerLength) || n > body.length) {
      throw bad(`Inference-Header-Content-Length is '${headerLength}' but the body has ${body.length} bytes; it must be the byte length of the JSON header`);
    }
    jsonBytes = body.subarray(0, n);
    binary = body.subarray(n);
  }
  let request: unknown;
  const split = fast && headerLength === undefined && body.length >= FAST_JSON_MIN_BYTES ? splitDataArray(body) : undefined;
  const dataSpan: DataSpan | undefined = split?.span;
  if (split !== undefined) {
    request = split.request;
  } else {
    try {
      request = JSON.parse(jsonBytes.toString('utf8'));
    } catch (error) {
      const hint = headerLength === undefined ? ' (binary tensor data needs the Inference-Header-Content-Length header)' : '';
      throw bad(`the request body is not valid JSON${hint}: ${(error as Error).message}`);
    }
  }
  if (!isObject(request)) throw bad('the request body must be a JSON object with an "inputs" array');

  const id = request.id;
  if (id !== undefined && typeof id !== 'string') throw bad('"id" must be a string');
  const inputs = request.inputs;
  if (!Array.isArray(inputs) || inputs.length !== 1) {
    throw bad(`"inputs" must be an array with exactly one tensor named '${model.inputName}' (FP32, shape [N,3,${model.height},${model.width}])`);
  }
  const tensor = inputs[0] as unknown;
  if (!isObject(tensor)) throw bad('inputs[0] must be an object with name, shape, datatype and data');
  if (tensor.name !== model.inputName) throw bad(`unknown input '${String(tensor.name)}'; this model's input is '${model.inputName}'`);
  if (tensor.datatype !== 'FP32') throw bad(`input '${model.inputName}' has datatype '${String(tensor.datatype)}'; only FP32 is accepted`);
  const images = checkShape(tensor.shape, model);
  const count = images * 3 * model.height * model.width;

  const binarySize = isObject(tensor.parameters) ? tensor.parameters.binary_data_size : undefined;
  let input: Float32Array;
  if (binarySize !== undefined) {
    if (typeof binarySize !== 'number' || !Number.isSafeInteger(binarySize)) {
      const got = typeof binarySize === 'string' ? `the string '${binarySize.slice(0, 40)}'` : JSON.stringify(binarySize).slice(0, 40);
      throw bad(`inputs[0].parameters.binary_data_size must be an integer number of bytes (${count * 4} for shape [${images},3,${model.height},${model.width}] of FP32); got ${got}`);
    }
    if (binary === undefined) throw bad('binary_data_size is set but the Inference-Header-Content-Length header is missing');
    if (binarySize !== count * 4) {
      throw bad(`binary_data_size is ${String(binarySize)} but shape [${images},3,${model.height},${model.width}] of FP32 needs ${count * 4} bytes`);
    }
    if (binary.length !== count * 4) throw bad(`the body has ${binary.length} bytes after the JSON header; binary_data_size says ${count * 4}`);
    input = readFloat32(binary, count);
  } else {
    if (binary !== undefined && binary.length > 0) throw bad(`${binary.length} bytes follow the JSON header but no input has parameters.binary_data_size`);
    const shape = [images, 3, model.height, model.width];
    if (dataSpan !== undefined) {
      input = new Float32Array(count);
      if (!readDataSpan(body, dataSpan, shape, input)) return parseInferRequest(body, headerLength, model, false);
    } else {
      input = flattenData(tensor.data, shape, model.inputName);
    }
  }
  return { id, images, input, binaryOutput: wantsBinaryOutput(request, model) };
}

export function checkShape(shape: unknown, model: ModelSignature): number {
  const wanted = `[N,3,${model.height},${model.width}] with 1 <= N <= ${model.maxBatch}`;
  if (!Array.isArray(shape) || shape.length !== 4 || !shape.every((d) => typeof d === 'number' && Number.isInteger(d))) {
    throw bad(`input '${model.inputName}' needs shape ${wanted}; got ${JSON.stringify(shape)}`);
  }
  const [n, c, h, w] = shape as number[];
  if (c !== 3 || h !== model.height || w !== model.width || n < 1 || n > model.maxBatch) {
    throw bad(`input '${model.inputName}' needs shape ${wanted}; got [${shape.join(',')}]${n > model.maxBatch ? ': split the batch' : ''}`);
  }
  return n;
}

/** Whether readFloat32 can view `bytes` in place (little-endian machine, 4-byte aligned address). */
export function float32ViewPossible(bytes: Buffer): boolean {
  return LITTLE_ENDIAN && bytes.byteOffset % 4 === 0;
}

/**
 * The binary tensor (little-endian float32) as float32: a view on the bytes themselves where
 * float32ViewPossible (readBody arranges that), else one copy into `out` (a new array unless
 * given; `count` floats). The view shares the bytes' memory, so they must stay unchanged while
 * the tensor is used.
 */
export function readFloat32(bytes: Buffer, count: number, out?: Float32Array): Float32Array {
  if (float32ViewPossible(bytes)) return new Float32Array(bytes.buffer, bytes.byteOffset, count);
  const target = out ?? new Float32Array(count);
  if (LITTLE_ENDIAN) {
    new Uint8Array(target.buffer, target.byteOffset, count * 4).set(bytes.subarray(0, count * 4));
  } else {
    for (let i = 0; i < count; i++) target[i] = bytes.readFloatLE(i * 4);
  }
  return target;
}

/**
 * `data` as a flat row-major array of exactly `count` numbers, or nested exactly as `shape`
 * (every array at depth d has shape[d] entries). A ragged or partly nested array is refused:
 * flattening it would shift values between rows and images.
 */
function flattenData(data: unknown, shape: readonly number[], name: string): Float32Array {
  const count = shape.reduce((a, b) => a * b, 1);
  if (!Array.isArray(data)) throw bad(`input '${name}' needs "data" (an array of ${count} numbers, flat or nested) or binary data`);
  const out = new Float32Array(count);
  if (copyNumbers(data, shape, out)) return out;
  // Something is off: the walk below names what and where (it builds a path per array, so it is
  // the slow way and runs only for a request that is refused).
  out.fill(0);
  const nested = data.length > 0 && Array.isArray(data[0]);
  const dims = nested ? shape : [count];
  let n = 0;
  const walk = (value: unknown, depth: number, path: string): void => {
    if (depth < dims.length) {
      if (!Array.isArray(value) || value.length !== dims[depth]) {
        if (!nested) throw bad(`input '${name}' data has ${(value as unknown[]).length} numbers but its shape needs ${count}`);
        const found = Array.isArray(value) ? `${value.length} entries` : value === null ? 'null' : `a ${typeof value}`;
        throw bad(
          `input '${name}' data${path} has ${found} but shape [${shape.join(',')}] needs ${dims[depth]} there; ` +
            `give "data" flat (${count} numbers) or nested exactly as the shape`,
        );
      }
      for (let i = 0; i < value.length; i++) walk(value[i], depth + 1, `${path}[${i}]`);
      return;
    }
    if (typeof value !== 'number') throw bad(`input '${name}' data holds a ${value === null ? 'null' : Array.isArray(value) ? 'nested array' : typeof value} at element ${n}; only numbers are accepted`);
    out[n++] = value;
  };
  walk(data, 0, '');
  return out;
}

/**
 * The fast path of flattenData: copies `data` (flat with exactly `out.length` numbers, or nested
 * exactly as `shape`) into `out` and returns true; returns false at the first thing that is not
 * so, leaving the error message to the slow walk.
 */
function copyNumbers(data: unknown[], shape: readonly number[], out: Float32Array): boolean {
  if (data.length > 0 && !Array.isArray(data[0])) {
    if (data.length !== out.length) return false;
    for (let i = 0; i < data.length; i++) {
      const v = data[i];
      if (typeof v !== 'number') return false;
      out[i] = v;
    }
    return true;
  }
  let n = 0;
  const rows = (value: unknown, depth: number): boolean => {
    if (!Array.isArray(value) || value.length !== shape[depth]) return false;
    if (depth < shape.length - 1) {
      for (let i = 0; i < value.length; i++) if (!rows(value[i], depth + 1)) return false;
      return true;
    }
    for (let i = 0; i < value.length; i++) {
      const v: unknown = value[i];
      if (typeof v !== 'number') return false;
      out[n++] = v;
    }
    return true;
  };
  return rows(data, 0) && n === out.length;
}

function wantsBinaryOutput(request: Record<string, unknown>, model: ModelSignature): boolean {
  let binary = isObject(request.parameters) && request.parameters.binary_data_output === true;
  const outputs = request.outputs;
  if (outputs === undefined) return binary;
  if (!Array.isArray(outputs)) throw bad('"outputs" must be an array of {name, parameters}');
  for (const output of outputs as unknown[]) {
    if (!isObject(output) || output.name !== model.outputName) {
      throw bad(`unknown output '${isObject(output) ? String(output.name) : String(output)}'; this model's output is '${model.outputName}'`);
    }
    if (isObject(output.parameters) && typeof output.parameters.binary_data === 'boolean') binary = output.parameters.binary_data;
  }
  return binary;
}

export interface EncodedResponse {
  readonly body: Buffer;
  readonly headers: Record<string, string>;
}

/** The infer response: JSON, or a JSON header plus the output's raw little-endian bytes. */
export function encodeInferResponse(
  rows: Float32Array,
  images: number,
  request: InferRequest,
  model: ModelSignature & { readonly name: string; readonly version: string },
): EncodedResponse {
  const tensor = { name: model.outputName, datatype: 'FP32', shape: [images, model.outputSize] };
  const head = { model_name: model.name, model_version: model.version, ...(request.id === undefined ? {} : { id: request.id }) };
  if (!request.binaryOutput) {
    const json = JSON.stringify({ ...head, outputs: [{ ...tensor, data: Array.from(rows) }] });
    return { body: Buffer.from(json), headers: { 'Content-Type': 'application/json' } };
  }
  const header = Buffer.from(JSON.stringify({ ...head, outputs: [{ ...tensor, parameters: { binary_data_size: rows.byteLength } }] }));
  const data = Buffer.alloc(rows.byteLength);
  if (LITTLE_ENDIAN) data.set(new Uint8Array(rows.buffer, rows.byteOffset, rows.byteLength));
  else rows.forEach((v, i) => data.writeFloatLE(v, i * 4));
  return {
    body: Buffer.concat([header, data]),
    headers: { 'Content-Type': 'application/octet-stream', 'Inference-Header-Content-Length': String(header.length) },
  };
}
