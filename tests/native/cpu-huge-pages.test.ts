/**
 * The CPU module offers its large blocks (arenas, scratchpads, packed weights of 2 MiB or more) to
 * the kernel as transparent huge pages (native/cpu/alignment.h, MADV_HUGEPAGE). In THP's default
 * `madvise` mode nothing else in a Node process asks for them (V8 and glibc do not by default), so
 * a child running one session with the product's environment (productEnv: without the suite's
 * glibc huge-page tunable, which would give huge pages on its own) has AnonHugePages > 0 only if
 * the module's advice took effect; before it, the same child had 0 kB. Skipped where THP is off
 * (`[never]`) or absent, and without the compiled lib/ and CPU module. No timings here: the README
 * gives the measured effect on session creation and the first run.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cpuBackendInfo } from '../../src/native/cpu-backend';
import { productEnv } from '../helpers/suite-env';

const REPO = resolve(__dirname, '../..');
const LIB = resolve(REPO, 'lib/index.js');
const THP_MODE = '/sys/kernel/mm/transparent_hugepage/enabled';

function skipReason(): string | undefined {
  if (!existsSync(THP_MODE)) return `no ${THP_MODE} (no transparent huge pages)`;
  if (readFileSync(THP_MODE, 'utf8').includes('[never]')) return 'transparent huge pages are off ([never])';
  if (!existsSync('/proc/self/smaps_rollup')) return 'no /proc/self/smaps_rollup';
  if (!existsSync(LIB)) return 'lib/ is not compiled (npm run build:ts)';
  const info = cpuBackendInfo();
  if (!info.available) return `no CPU module: ${info.reason}`;
  return undefined;
}

// inception_resnet_v1 at 160x160, max batch 8: an arena of ~30 MiB and a scratchpad, both over 2 MiB.
const CHILD = `
const { createSession } = require(${JSON.stringify(LIB)});
const { readFileSync } = require('node:fs');
(async () => {
  const session = await createSession({ model: 'inception_resnet_v1', weights: 'synthetic:plain', device: 'cpu', maxBatch: 8, inputSize: 160, benchmark: false });
  await session.run(new Float32Array(8 * 3 * 160 * 160).fill(0.1), [8, 3, 160, 160]);
  const kb = /AnonHugePages:\\s+(\\d+) kB/.exec(readFileSync('/proc/self/smaps_rollup', 'utf8'));
  process.stdout.write(JSON.stringify({ anonHugePagesKb: kb === null ? null : Number(kb[1]) }));
  await session.dispose();
})().catch((error) => { process.stderr.write(String(error && error.stack)); process.exit(1); });
`;

const reason = skipReason();

/** AnonHugePages of a child that built a session and ran it once. */
function childHugePagesKb(extraEnv: Readonly<Record<string, string>>): number | null {
  const result = spawnSync(process.execPath, ['-e', CHILD], { cwd: REPO, encoding: 'utf8', timeout: 120_000, env: productEnv(extraEnv) });
  expect(result.status, result.stderr).toBe(0);
  return (JSON.parse(result.stdout) as { anonHugePagesKb: number | null }).anonHugePagesKb;
}

const madviseMode = reason === undefined && readFileSync(THP_MODE, 'utf8').includes('[madvise]');

describe('CPU module and transparent huge pages', () => {
  it.skipIf(reason !== undefined)(`a session's large blocks are backed by huge pages${reason === undefined ? '' : ` (skipped: ${reason})`}`, () => {
    const kb = childHugePagesKb({});
    console.log(`AnonHugePages after one batch-8 run: ${kb} kB`);
    // At least one 2 MiB page: the arena alone spans over a dozen.
    expect(kb).toBeGreaterThanOrEqual(2048);
  });

  // Only in `madvise` mode is the module the one asking: with `[always]` every large region gets them.
  it.skipIf(!madviseMode)(`INCEPTION_CPU_HUGE_PAGES=0 leaves them out${madviseMode ? '' : ' (skipped: THP is not in madvise mode, or unavailable)'}`, () => {
    const kb = childHugePagesKb({ INCEPTION_CPU_HUGE_PAGES: '0' });
    console.log(`AnonHugePages with INCEPTION_CPU_HUGE_PAGES=0: ${kb} kB`);
    expect(kb).toBe(0);
  });
});
