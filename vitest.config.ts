import { defineConfig } from 'vitest/config';
import { SUITE_ENV } from './tests/helpers/suite-env';
import CostliestFirstSequencer from './tests/setup/sequencer';
import { SHARED_WORKER_FILES } from './tests/setup/shared-worker-files';

export default defineConfig({
  test: {
    setupFiles: ['tests/setup/event-loop-stalls.ts'],
    // Generous per-test limits: a loaded two-core machine runs the network tests several times slower
    // than an idle one, and a timeout here is a false failure, not a finding.
    testTimeout: 120_000,
    hookTimeout: 300_000,
    // Two files at once on two cores. vitest's default (cores - 1) ran one file at a time here, and
    // that worker kept about 0.85 of a core busy: much of a file is JavaScript on one thread, child
    // processes and sockets. A second worker fills the other core.
    maxWorkers: 2,
    minWorkers: 1,
    // The shared project's pool: one worker thread, not recycled between files (vitest reads the
    // pool's isolation from the root config and the per-file module reset from the project's).
    poolOptions: { threads: { isolate: false, singleThread: true } },
    sequence: { sequencer: CostliestFirstSequencer },
    // Unpinned oneDNN threads that sleep at barriers: two files' sessions share the two cores (tests/helpers/suite-env.ts).
    env: { ...SUITE_ENV },
    projects: [
      {
        extends: true,
        test: {
          name: 'isolated',
          include: ['tests/**/*.test.ts'],
          exclude: [...SHARED_WORKER_FILES],
          // Separate processes: the native modules hold thread teams and process-wide state.
          pool: 'forks',
        },
      },
      {
        extends: true,
        // Short files that leave no process-wide state behind (tests/setup/shared-worker-files.ts).
        test: { name: 'shared', include: [...SHARED_WORKER_FILES], pool: 'threads', isolate: false },
      },
    ],
  },
});
