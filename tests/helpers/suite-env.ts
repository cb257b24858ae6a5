/**
 * Environment the test suite's workers run under (vitest.config.ts `test.env`). Only speed
 * changes: no test depends on these settings, except the tests of thread pinning itself, which run
 * their children with the product's defaults (productEnv).
 *
 * - oneDNN threads unpinned and sleeping at barriers. vitest runs two test files at a time on two
 *   cores, and each file's oneDNN sessions default to a team of one thread per core, pinned to
 *   CPUs 0 and 1 (native/cpu/thread_team.h) and spinning at barriers (libgomp's default): two
 *   processes' pinned, spinning teams on the same two CPUs wait on each other, and the suite took
 *   10-15% longer (quiet runs, 2-core EPYC, 2026-12-08). Unpinned threads that sleep at barriers
 *   let the scheduler share the cores.
 * - glibc's malloc asks for transparent huge pages on the large blocks it maps (`hugetlb=1`, glibc
 *   2.35 and later; THP in `madvise` mode, this machine kind's default). The suite allocates and
 *   first touches gigabytes: weights, packed weights, arenas, decoded images. On this VM a 4 KiB
 *   page fault costs ~12 us: packing Inception-v4's 168 MB of weights took 480 ms, of which 13 ms
 *   was the copy. Four of the slowest files went from 61 s to 31 s with it (same machine, one
 *   after the other). A glibc or kernel without it ignores the setting.
 */
const HUGE_PAGES_TUNABLE = 'glibc.malloc.hugetlb=1';

/** The tunables of a GLIBC_TUNABLES value other than the suite's huge-page one. */
function otherTunables(value: string | undefined): string[] {
  return (value ?? '').split(':').filter((item) => item !== '' && item !== HUGE_PAGES_TUNABLE);
}

export const SUITE_ENV: Readonly<Record<string, string>> = {
  INCEPTION_CPU_PIN_THREADS: '0',
  OMP_WAIT_POLICY: 'PASSIVE',
  GLIBC_TUNABLES: [...otherTunables(process.env.GLIBC_TUNABLES), HUGE_PAGES_TUNABLE].join(':'),
};

/** process.env without the suite's overrides: what a user's process has, for children that test those defaults. */
export function productEnv(extra: Readonly<Record<string, string>> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env.INCEPTION_CPU_PIN_THREADS;
  delete env.OMP_WAIT_POLICY;
  const tunables = otherTunables(env.GLIBC_TUNABLES);
  if (tunables.length > 0) env.GLIBC_TUNABLES = tunables.join(':');
  else delete env.GLIBC_TUNABLES;
  return { ...env, ...extra };
}
