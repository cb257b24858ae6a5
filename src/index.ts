/** inception-cudnn: the public API (re-exports only). */
export { createSession } from './runtime/session';
export type { Session, SessionInfo, WeightsSource, DownloadedWeights, ClassifyOptions, EmbedOptions, Classification } from './runtime/session';
export { pullWeights, type PullOptions, type PulledWeights } from './weights/pull';
export { KNOWN_CHECKPOINTS, type KnownCheckpoint } from './weights/known-checkpoints';
export type { DownloadProgress, ProgressListener } from './weights/progress';
export { convertToSafetensors } from './weights/convert';
export type { SessionOptions, DeviceName, Head, SyntheticProfile } from './runtime/options';
export type { Precision, BackendInfo } from './runtime/backend';
export type { MemoryReport } from './plan/types';
export type { ModelName, Preprocessing } from './models/types';
export { MODEL_NAMES } from './models/registry';
export { getModelInfo, type ModelInfo } from './models/model-info';
export { libraryInfo, type LibraryInfo, type ModelSummary } from './info';
export { imagesToTensor, DEFAULT_MAX_INPUT_PIXELS, type ImageTensorOptions } from './preprocess/image';
export { readNpy, readNpySync, writeNpy, writeNpySync, type NpyArray } from './io/npy';
export { createBatcher, type Batcher, type BatcherStats, type InferOptions, type BatcherOptions, type BatcherObserver } from './batcher';
export { exportOnnx, exportGraphOnnx, type ExportOnnxOptions, type ExportGraphOptions } from './onnx/export';
export { createServer, type InferenceServer, type ServeOptions, type ModelConfig, type ModelStatisticsReport } from './serve';
export {
  InceptionError,
  InvalidArgumentError,
  InvalidInputError,
  WeightsError,
  WeightsDownloadError,
  type WeightsDownloadReason,
  SafetensorsError,
  NpyError,
  ImageDecodeError,
  UnknownModelError,
  DeviceError,
  BackendUnavailableError,
  DisposedError,
  NativeError,
  PlanError,
  QueueFullError,
  RequestTimeoutError,
  RequestAbortedError,
  MemoryLimitError,
  type ErrorCode,
} from './errors';
