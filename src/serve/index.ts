/** The HTTP inference server (Open Inference Protocol v2 REST). */
export { createServer, type InferenceServer, type ServerResources } from './server';
export type { WarmupReport } from './warmup';
export type { ServeOptions } from './options';
