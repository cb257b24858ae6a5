/** The model endpoints: metadata, infer (JSON and binary tensors) and classify (image bytes). */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Batcher } from '../batcher';
import { ImageDecodeError } from '../errors';
import { imagenetLabels } from '../models/labels';
import type { Preprocessing } from '../models/types';
import { imageToTensor } from '../preprocess/image';
import { loadSharp, type Sharp } from '../preprocess/sharp-loader';
import { topK } from '../runtime/scores';
import type { SessionInfo } from '../runtime/session';
import { type BodyPool, checkDeclaredLength, checkNoContentEncoding, HttpError, readBody, sendBinary, sendJson } from './http';
import { leadingBytes, sniffImageFormat } from '../preprocess/image-format';
import { BINARY_HEADER, encodeInferResponse, parseInferRequest, type InferRequest, type ModelSignature } from './v2-tensors';

export const MODEL_VERSION = '1';

export interface ModelContext {
  readonly name: string;
  readonly info: SessionInfo;
  readonly signature: ModelSignature;
  readonly preprocessing: Preprocessing;
  readonly batcher: Batcher;
  readonly maxBodyBytes: number;
  /** Infer bodies are read into buffers from here and handed back once answered. */
  readonly bodies: BodyPool;
  readonly maxInputPixels: number;
  readonly requestTimeoutMs: number;
}

export function signatureOf(info: SessionInfo, maxBatch: number): ModelSignature {
  return {
    inputName: 'input',
    outputName: info.output,
    height: info.inputShape[2],
    width: info.inputShape[3],
    outputSize: info.outputShape[1],
    maxBatch,
  };
}

export function modelMetadata(model: ModelContext): unknown {
  const s = model.signature;
  return {
    name: model.name,
    versions: [MODEL_VERSION],
    platform: 'inception-cudnn',
    inputs: [{ name: s.inputName, datatype: 'FP32', shape: [-1, 3, s.height, s.width] }],
    outputs: [{ name: s.outputName, datatype: 'FP32', shape: [-1, s.outputSize] }],
  };
}

/** An AbortSignal that fires when the client goes away before its answer is written. */
export function clientGone(req: IncomingMessage, res: ServerResponse): AbortSignal {
  const controller = new AbortController();
  res.on('close', () => {
    if (!res.writableFinished) controller.abort(new Error('the client closed the connection'));
  });
  req.on('aborted', () => controller.abort(new Error('the client aborted the request')));
  return controller.signal;
}

/**
 * What is refused from the headers alone, before a byte of the body is read: an encoded body
 * (415), a declared size over the limit (413), a full queue (429; in a burst of 200 eight-image
 * requests each 429 used to cost reading its 2.4 MB first, 1.3-1.9 s).
 */
function checkBeforeReading(req: IncomingMessage, model: ModelContext): void {
  checkNoContentEncoding(req);
  checkDeclaredLength(req, model.maxBodyBytes);
  model.batcher.checkQueueSpace();
}

export async function handleInfer(req: IncomingMessage, res: ServerResponse, model: ModelContext): Promise<void> {
  const signal = clientGone(req, res);
  checkBeforeReading(req, model);
  const header = req.headers[BINARY_HEADER];
  const headerLength = Array.isArray(header) ? header[0] : header;
  // The binary tensor starts after the JSON header: read the body so that it lands aligned.
  const alignAt = headerLength !== undefined && /^[0-9]+$/.test(headerLength) ? Number(headerLength) : 0;
  const body = await readBody(req, model.maxBodyBytes, alignAt, model.bodies);
  let request: InferRequest;
  let rows: Float32Array;
  try {
    request = parseInferRequest(body, headerLength, model.signature);
    // The tensor (often a view on the body) is this request's alone: handed over, not copied.
    // Once infer() settles the batcher no longer reads it (it was copied into a batch or left
    // the queue), so the body can go back to the pool.
    rows = await model.batcher.infer(request.input, { signal, timeoutMs: model.requestTimeoutMs, transfer: true });
  } finally {
    model.bodies.release(body);
  }
  const { body: out, headers } = encodeInferResponse(rows, request.images, request, { ...model.signature, name: model.name, version: MODEL_VERSION });
  sendBinary(res, 200, out, headers);
}

const IMAGE_TYPES = /^(image\/[a-z0-9.+-]+|application\/octet-stream)$/;

export async function handleClassify(req: IncomingMessage, res: ServerResponse, model: ModelContext, query: URLSearchParams): Promise<void> {
  const signal = clientGone(req, res);
  const type = (req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
  if (!IMAGE_TYPES.test(type)) {
    throw new HttpError(415, `classify takes the image file bytes as the body with Content-Type image/jpeg, image/png or image/webp; got '${type || 'none'}'`);
  }
  const k = parseTopK(query.get('top_k'), model);
  checkBeforeReading(req, model);
  const bytes = await readBody(req, model.maxBodyBytes);
  if (bytes.length === 0) throw new HttpError(400, 'the body is empty; send the image file bytes (JPEG, PNG or WebP)');
  if (sniffImageFormat(bytes) === undefined) {
    throw new HttpError(415, `the body is not a JPEG, PNG or WebP file (it starts with ${leadingBytes(bytes)}); convert the image to one of those`);
  }
  await checkPixels(bytes, model.maxInputPixels);
  const { height, width } = model.signature;
  const tensor = await imageToTensor(bytes, { height, width, preprocessing: model.preprocessing, maxInputPixels: model.maxInputPixels });
  const row = await model.batcher.infer(tensor, { signal, timeoutMs: model.requestTimeoutMs, transfer: true });
  const head = { model_name: model.name, model_version: MODEL_VERSION };
  if (model.info.output === 'embedding') {
    sendJson(res, 200, { ...head, embedding: Array.from(row) });
    return;
  }
  sendJson(res, 200, { ...head, top: topK(row, k, labeller(model.info)) });
}

function parseTopK(value: string | null, model: ModelContext): number {
  if (value === null) return 5;
  if (model.info.output === 'embedding') {
    throw new HttpError(400, `top_k applies to classification models; ${model.info.model} answers with an embedding (drop top_k)`);
  }
  const classes = model.signature.outputSize;
  const k = Number(value);
  if (!/^[0-9]+$/.test(value) || k < 1 || k > classes) throw new HttpError(400, `top_k must be an integer in [1, ${classes}]; got '${value}'`);
  return k;
}

/** Reads only the image header: a decompression bomb is refused (413) before any pixel is decoded. */
async function checkPixels(bytes: Buffer, limit: number): Promise<void> {
  let sharp: Sharp;
  try {
    // Loaded on first use (the package loads without an image decoder); missing means a broken install.
    sharp = loadSharp();
  } catch (error) {
    throw new HttpError(500, (error as Error).message);
  }
  let width: number | undefined;
  let height: number | undefined;
  try {
    const meta = await sharp(bytes, { limitInputPixels: false }).metadata();
    width = meta.autoOrient?.width ?? meta.width;
    height = meta.autoOrient?.height ?? meta.height;
  } catch (error) {
    throw new ImageDecodeError(`cannot decode the image: ${(error as Error).message.trim()}; send JPEG, PNG or WebP file contents`);
  }
  if (width !== undefined && height !== undefined && width * height > limit) {
    throw new HttpError(413, `the image is ${width}x${height} = ${width * height} pixels, over the limit of ${limit}; send a smaller image or raise --max-input-pixels`);
  }
}

function labeller(info: SessionInfo): (index: number) => string {
  // ImageNet labels for the ImageNet models; facenet's classifier head has identity classes.
  if (info.model === 'inception_resnet_v1' || info.outputShape[1] !== 1000) return (i) => `class ${i}`;
  const labels = imagenetLabels();
  return (i) => labels[i] ?? `class ${i}`;
}
