/**
 * Environment the test suite's workers run under (vitest.config.ts `test.env`). vitest runs two
 * test files at a time on two cores, and each file's oneDNN sessions default to a team of one
 * thread per core, pinned to CPUs 0 and 1 (native/cpu/thread_team.h) and spinning at barriers
 * (libgomp's default): two processes' pinned, spinning teams on the same two CPUs wait on each
 * other, and the suite took 10-15% longer (quiet runs, 2-core EPYC, 2026-12-08). Unpinned
 * threads that sleep at barriers let the scheduler share the cores. Only speed changes: no test
 * depends on either setting, except the tests of pinning itself, which run their children with
 * the product's defaults (productEnv).
 */
export const SUITE_ENV: Readonly<Record<string, string>> = {
  INCEPTION_CPU_PIN_THREADS: '0',
  OMP_WAIT_POLICY: 'PASSIVE',
};

/** process.env without the suite's overrides: what a user's process has, for children that test those defaults. */
export function productEnv(extra: Readonly<Record<string, string>> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const key of Object.keys(SUITE_ENV)) delete env[key];
  return { ...env, ...extra };
}
