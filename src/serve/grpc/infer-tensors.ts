/**
 * ModelInfer requests and responses: one FP32 input [N,3,H,W] given as raw_input_contents
 * (little-endian bytes) or as contents.fp32_contents, one FP32 output [N,K] answered as
 * raw_output_contents (what Triton answers and its clients read).
 */
import type { BodyPool } from '../http';
import { bad, checkShape, float32ViewPossible, LITTLE_ENDIAN, readFloat32, type ModelSignature } from '../v2-tensors';

/** The fields of a decoded ModelInferRequest that this server reads (proto-loader with defaults: true). */
export interface ModelInferRequestMessage {
  readonly model_name: string;
  readonly model_version: string;
  readonly id: string;
  readonly inputs: readonly {
    readonly name: string;
    readonly datatype: string;
    readonly shape: readonly number[];
    readonly contents?: { readonly fp32_contents?: readonly number[] } | null;
  }[];
  readonly outputs: readonly { readonly name: string }[];
  readonly raw_input_contents: readonly Buffer[];
}

/** A parsed ModelInfer input; `release()` hands any pooled memory under `input` back once the batcher is done with it. */
export interface ModelInferInput {
  readonly images: number;
  readonly input: Float32Array;
  release(): void;
}

const NOTHING_TO_RELEASE = (): void => {};

/**
 * The request's input as float32. raw_input_contents is a view into the message grpc-js
 * decoded; where that view is 4-byte aligned (and the machine little-endian) the input is a
 * view on it, else its bytes are copied into memory from `pool` (the model's infer body pool),
 * so a request does not allocate a fresh 2.4 MB array that only the garbage collector frees.
 */
export function parseModelInfer(request: ModelInferRequestMessage, model: ModelSignature, pool: BodyPool): ModelInferInput {
  const inputs = request.inputs;
  if (inputs.length !== 1) {
    throw bad(`inputs must hold exactly one tensor named '${model.inputName}' (FP32, shape [N,3,${model.height},${model.width}]); got ${inputs.length}`);
  }
  const tensor = inputs[0];
  if (tensor.name !== model.inputName) throw bad(`unknown input '${tensor.name}'; this model's input is '${model.inputName}'`);
  if (tensor.datatype !== 'FP32') throw bad(`input '${model.inputName}' has datatype '${tensor.datatype}'; only FP32 is accepted`);
  const images = checkShape([...tensor.shape], model);
  const count = images * 3 * model.height * model.width;
  for (const output of request.outputs) {
    if (output.name !== model.outputName) throw bad(`unknown output '${output.name}'; this model's output is '${model.outputName}'`);
  }
  const typed = tensor.contents?.fp32_contents ?? [];
  const raw = request.raw_input_contents;
  if (raw.length > 0) {
    if (typed.length > 0) throw bad('give the input either as raw_input_contents or as contents.fp32_contents, not both');
    if (raw.length !== 1) throw bad(`raw_input_contents has ${raw.length} entries; it needs one per input (1)`);
    if (raw[0].length !== count * 4) {
      throw bad(`raw_input_contents[0] has ${raw[0].length} bytes but shape [${images},3,${model.height},${model.width}] of FP32 needs ${count * 4}`);
    }
    return rawInput(raw[0], images, count, pool);
  }
  if (typed.length !== count) {
    throw bad(`contents.fp32_contents has ${typed.length} values but shape [${images},3,${model.height},${model.width}] needs ${count}; or send raw_input_contents`);
  }
  return { images, input: Float32Array.from(typed), release: NOTHING_TO_RELEASE };
}

function rawInput(bytes: Buffer, images: number, count: number, pool: BodyPool): ModelInferInput {
  if (float32ViewPossible(bytes)) return { images, input: readFloat32(bytes, count), release: NOTHING_TO_RELEASE };
  const copy = pool.acquire(count * 4);
  return { images, input: readFloat32(bytes, count, new Float32Array(copy.buffer, copy.byteOffset, count)), release: () => pool.release(copy) };
}

/** The ModelInferResponse of `rows` ([images, outputSize]). */
export function modelInferResponse(rows: Float32Array, images: number, id: string, model: ModelSignature & { readonly name: string; readonly version: string }): unknown {
  let raw: Buffer;
  if (LITTLE_ENDIAN) raw = Buffer.from(rows.buffer, rows.byteOffset, rows.byteLength);
  else {
    raw = Buffer.alloc(rows.byteLength);
    rows.forEach((v, i) => raw.writeFloatLE(v, i * 4));
  }
  return {
    model_name: model.name,
    model_version: model.version,
    id,
    outputs: [{ name: model.outputName, datatype: 'FP32', shape: [images, model.outputSize] }],
    raw_output_contents: [raw],
  };
}
