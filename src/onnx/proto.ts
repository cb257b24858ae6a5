/**
 * Small constructors for ONNX protobuf messages (onnx-proto's protobufjs classes): attributes,
 * float initializers, value infos with a symbolic batch dimension, and the final encoding.
 */
import type { onnx } from 'onnx-proto';
import { endianness } from 'node:os';
import { BackendUnavailableError, InvalidArgumentError } from '../errors';

/** TensorProto.DataType.FLOAT */
export const FLOAT = 1;
/** TensorProto.DataType.INT64 */
export const INT64 = 7;

type OnnxNamespace = typeof onnx;
let cached: OnnxNamespace | undefined;

/** What to install for ONNX export: onnx-proto is an optional peer dependency, not installed by default. */
export const ONNX_PROTO_HINT = 'ONNX export needs the optional package onnx-proto: npm install onnx-proto';

/**
 * onnx-proto's message classes, loaded on first use. It is an optional peer dependency (with
 * protobufjs 6 it weighs ~23 MB and carries an install script), so only export needs it.
 */
function proto(): OnnxNamespace {
  if (cached !== undefined) return cached;
  let loaded: { onnx: OnnxNamespace };
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    loaded = require('onnx-proto') as { onnx: OnnxNamespace };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'MODULE_NOT_FOUND') throw new BackendUnavailableError(ONNX_PROTO_HINT, { cause: error });
    throw error;
  }
  cached = loaded.onnx;
  return cached;
}

export type AttributeValue = number | readonly number[] | string;

/** One attribute; `int` vs `float` is explicit because JS numbers do not say which ONNX wants. */
export interface Attr {
  readonly name: string;
  readonly kind: 'int' | 'ints' | 'float' | 'string';
  readonly value: AttributeValue;
}

export const intAttr = (name: string, value: number): Attr => ({ name, kind: 'int', value });
export const intsAttr = (name: string, value: readonly number[]): Attr => ({ name, kind: 'ints', value });
export const floatAttr = (name: string, value: number): Attr => ({ name, kind: 'float', value });

function attribute(attr: Attr): onnx.IAttributeProto {
  const T = proto().AttributeProto.AttributeType;
  switch (attr.kind) {
    case 'int':
      return { name: attr.name, type: T.INT, i: attr.value as number };
    case 'ints':
      return { name: attr.name, type: T.INTS, ints: [...(attr.value as readonly number[])] };
    case 'float':
      return { name: attr.name, type: T.FLOAT, f: attr.value as number };
    case 'string':
      return { name: attr.name, type: T.STRING, s: new TextEncoder().encode(attr.value as string) };
  }
}

export function node(opType: string, name: string, inputs: readonly string[], outputs: readonly string[], attrs: readonly Attr[] = []): onnx.INodeProto {
  return { opType, name, input: [...inputs], output: [...outputs], attribute: attrs.map(attribute) };
}

/** A float32 initializer stored as little-endian raw bytes. */
export function floatTensor(name: string, dims: readonly number[], values: Float32Array): onnx.ITensorProto {
  const count = dims.reduce((a, b) => a * b, 1);
  if (values.length !== count) {
    throw new InvalidArgumentError(`initializer '${name}' has ${values.length} values but its shape [${dims.join(',')}] needs ${count}`);
  }
  if (endianness() !== 'LE') throw new InvalidArgumentError('ONNX export writes raw little-endian floats and needs a little-endian host');
  const bytes = new Uint8Array(values.buffer, values.byteOffset, values.byteLength).slice();
  return { name, dims: [...dims], dataType: FLOAT, rawData: bytes };
}

/** A float32 tensor value info; a string dimension is symbolic (e.g. 'N' for the batch). */
export function floatValueInfo(name: string, dims: readonly (number | string)[]): onnx.IValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType: FLOAT,
        shape: { dim: dims.map((d) => (typeof d === 'string' ? { dimParam: d } : { dimValue: d })) },
      },
    },
  };
}

export interface ModelParts {
  readonly graphName: string;
  readonly nodes: readonly onnx.INodeProto[];
  readonly initializers: readonly onnx.ITensorProto[];
  readonly inputs: readonly onnx.IValueInfoProto[];
  readonly outputs: readonly onnx.IValueInfoProto[];
  readonly opset: number;
  readonly producerVersion: string;
  readonly docString: string;
}

/** The serialised ModelProto (IR version 8: opsets 13..17 of the default domain). */
export function encodeModel(parts: ModelParts): Uint8Array {
  const model = proto().ModelProto.create({
    irVersion: 8,
    producerName: 'inception-cudnn',
    producerVersion: parts.producerVersion,
    docString: parts.docString,
    opsetImport: [{ domain: '', version: parts.opset }],
    graph: {
      name: parts.graphName,
      node: [...parts.nodes],
      initializer: [...parts.initializers],
      input: [...parts.inputs],
      output: [...parts.outputs],
    },
  });
  return proto().ModelProto.encode(model).finish();
}
