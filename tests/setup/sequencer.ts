/**
 * Runs the costliest test files first. vitest orders files by its own cache of last durations,
 * which a fresh clone (and so CI) does not have; it then falls back to file size, which here says
 * little (a short file can build three networks). With two workers, a 30 s file picked last keeps
 * one core busy alone at the end. The table holds the files that took 8 s or more in an
 * `npm test` on the 2-core machine kind (2026-12-07, other jobs running beside it, so the seconds
 * are high but their order holds; per-file wall seconds); a file missing from
 * it keeps vitest's order after them. Only the order changes: stale numbers cost time, not results.
 */
import { BaseSequencer, type TestSpecification } from 'vitest/node';

const SECONDS: Readonly<Record<string, number>> = {
  'tests/e2e/fixtures.test.ts': 38,
  'tests/plan/merged-networks.test.ts': 33,
  'tests/cli/main.test.ts': 24,
  'tests/plan/schedule.test.ts': 19,
  'tests/onnx/export-vs-onnxruntime.test.ts': 17,
  'tests/native/cpu-isa-avx2.test.ts': 16,
  'tests/native/cpu-bf16.test.ts': 14,
  'tests/bench/cli.test.ts': 14,
  'tests/cli/readme-pretrained.test.ts': 14,
  'tests/native/cpu-merged-siblings.test.ts': 13,
  'tests/plan/networks.test.ts': 13,
  'tests/native/parallel-copy.test.ts': 12,
  'tests/weights/torch-irv1.test.ts': 11,
  'tests/scripts/build-native.test.ts': 10,
  'tests/runtime/session-fake.test.ts': 9,
  'tests/weights/fixture-files.test.ts': 8,
  'tests/runtime/session-cpu.test.ts': 8,
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
