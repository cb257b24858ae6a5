/** Dynamic batching of inference requests over one or more sessions. */
export { createBatcher, type Batcher, type BatcherStats, type InferOptions } from './batcher';
export type { BatcherOptions, BatcherObserver, BatchEvent, RequestEvent, RequestOutcome } from './options';
