/** The inference server (Open Inference Protocol v2: REST, and gRPC with the optional @grpc packages). */
export { createServer, type InferenceServer, type ServerResources } from './server';
export type { WarmupReport } from './warmup';
export type { ServeOptions, ModelControl } from './options';
export type { ModelConfig } from './model-config';
export type { ServedModel, ModelState } from './served-model';
export type { ModelStatisticsReport } from './statistics';
