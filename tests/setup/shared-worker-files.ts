/**
 * Test files that run one after another in ONE shared worker thread, with modules kept loaded
 * between files (vitest.config.ts, project `shared`). Every other file gets a fresh process.
 *
 * Why: a fresh process costs ~0.5 s of start-up and module loading per file, longer than these
 * files' tests take; 53 of them ran in 31 s of worker time isolated and in 13 s shared (2-core
 * EPYC, 2026-12-08), and the shared thread runs beside the two process workers from the start.
 *
 * A file belongs here only if it leaves no process-wide trace another file could see, and passed
 * four shuffled runs here (`--sequence.shuffle`). Files that set process.env, mock modules, chdir or
 * exit, count requests in module state (serve/server-cpu, serve/token-auth), write the algorithm
 * cache (native/algo-cache-file), or take seconds (the 75x75 and 299x299 network runs) stay
 * isolated. A new file is isolated unless it is added here.
 */
export const SHARED_WORKER_FILES: readonly string[] = [
  'tests/batcher/batcher.test.ts',
  'tests/bench/cuda-profile.test.ts',
  'tests/bench/gpu-overlap-stage.test.ts',
  'tests/bench/gpu-report.test.ts',
  'tests/bench/report.test.ts',
  'tests/bench/roofline.test.ts',
  'tests/graph/builder.test.ts',
  'tests/graph/macs.test.ts',
  'tests/graph/validate.test.ts',
  'tests/io/npy.test.ts',
  'tests/models/checkpoint.test.ts',
  'tests/models/labels.test.ts',
  'tests/models/model-info.test.ts',
  'tests/models/registry.test.ts',
  'tests/models/semantics.test.ts',
  'tests/models/shapes.test.ts',
  'tests/native/cpu-lowered.test.ts',
  'tests/native/cpu-ops.test.ts',
  'tests/native/cpu-random-ops.test.ts',
  'tests/native/cpu-small-map.test.ts',
  'tests/native/cpu-views.test.ts',
  'tests/native/graph-conv-layout.test.ts',
  'tests/native/native-errors.test.ts',
  'tests/native/plan-schedule-decode.test.ts',
  'tests/onnx/random-graphs.test.ts',
  'tests/optimize/reference.test.ts',
  'tests/optimize/sibling-merge-switch.test.ts',
  'tests/plan/arena.test.ts',
  'tests/preprocess/geometry.test.ts',
  'tests/preprocess/image.test.ts',
  'tests/preprocess/pil-parity.test.ts',
  'tests/preprocess/resample.test.ts',
  'tests/runtime/batch-sizes.test.ts',
  'tests/runtime/input-copies.test.ts',
  'tests/runtime/options.test.ts',
  'tests/runtime/queue-scores.test.ts',
  'tests/serve/drain.test.ts',
  'tests/serve/early-rejection.test.ts',
  'tests/serve/grpc/infer-tensors.test.ts',
  'tests/serve/image-format.test.ts',
  'tests/serve/json-tensor.test.ts',
  'tests/serve/request-body.test.ts',
  'tests/serve/request-checks.test.ts',
  'tests/serve/v2-tensors.test.ts',
  'tests/system/cgroup.test.ts',
  'tests/unit/cpu-precision.test.ts',
  'tests/unit/cuda-graphs-option.test.ts',
  'tests/unit/gpu-cases.test.ts',
  'tests/weights/half.test.ts',
  'tests/weights/safetensors.test.ts',
  'tests/weights/synthetic.test.ts',
  'tests/weights/torch-file.test.ts',
  'tests/weights/torch-writer.test.ts',
];
