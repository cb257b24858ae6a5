/**
 * Runs the costliest test files first. vitest orders files by its own cache of last durations,
 * which a fresh clone (and so CI) does not have; it then falls back to file size, which here says
 * little (a short file can build three networks). With two workers, a 30 s file picked last keeps
 * one core busy alone at the end. The table holds the files that took 3 s or more in a
 * quiet `npm test` on the 2-core machine kind (2026-12-08, per-file wall seconds); a file missing
 * from it keeps vitest's order after them. The shared-worker files (shared-worker-files.ts) are a
 * pool of their own and are not in it. Only the order changes: stale numbers cost time, not results.
 */
import { BaseSequencer, type TestSpecification } from 'vitest/node';

const SECONDS: Readonly<Record<string, number>> = {
  'tests/e2e/fixtures.test.ts': 31,
  'tests/plan/merged-networks.test.ts': 27,
  'tests/cli/main.test.ts': 16,
  'tests/native/cpu-isa-avx2.test.ts': 11,
  'tests/onnx/export-vs-onnxruntime.test.ts': 11,
  'tests/serve/heap-growth.test.ts': 11,
  'tests/cli/readme-pretrained.test.ts': 9,
  'tests/bench/cli.test.ts': 8,
  'tests/scripts/build-native.test.ts': 8,
  'tests/weights/fixture-files.test.ts': 7,
  'tests/native/cpu-bf16.test.ts': 7,
  'tests/plan/schedule.test.ts': 6,
  'tests/weights/torch-irv1.test.ts': 5,
  'tests/bench/gpu-stage-bench.test.ts': 5,
  'tests/native/cpu-merged-siblings.test.ts': 5,
  'tests/native/parallel-copy.test.ts': 5,
  'tests/plan/networks.test.ts': 5,
  'tests/system/cgroup-real.test.ts': 4,
  'tests/runtime/irv1-logits-head.test.ts': 4,
  'tests/runtime/session-fake.test.ts': 4,
  'tests/runtime/session-cpu.test.ts': 4,
  'tests/serve/cli-serve.test.ts': 4,
  'tests/weights/pull-proxy.test.ts': 4,
  'tests/unit/cudnn-loader.test.ts': 4,
  'tests/weights/pull-processes.test.ts': 3,
  'tests/weights/torch-hostile.test.ts': 3,
  'tests/serve/grpc/grpc-service.test.ts': 3,
  'tests/serve/resources.test.ts': 3,
  'tests/native/cpu-winograd-1d.test.ts': 3,
};

export default class CostliestFirstSequencer extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const defaultOrder = await super.sort(files);
    const root = this.ctx.config.root;
    const cost = (file: TestSpecification): number => SECONDS[file.moduleId.slice(root.length + 1).replace(/\\/g, '/')] ?? 0;
    // Array.prototype.sort is stable: equal costs (every file not in the table) keep vitest's order.
    return [...defaultOrder].sort((a, b) => cost(b) - cost(a));
  }
}
