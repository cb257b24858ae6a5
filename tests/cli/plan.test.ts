/**
 * `inception-cudnn plan`: the planner's report per network and batch. Exact integer checks:
 * arena >= lower bound always, and the goal arena <= 1.10 x lower bound at batch 1 and 8.
 * The command is run on inception_resnet_v1 (planning v4 or IR-v2 costs seconds each on two
 * cores); the goal itself is checked on all three networks by tests/plan/networks.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main';
import type { CliIo } from '../../src/cli/io';

async function plan(...argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const io: CliIo = { stdout: (t) => void (stdout += t), stderr: (t) => void (stderr += t) };
  const code = await main(['plan', ...argv], io);
  return { code, stdout, stderr };
}

describe('inception-cudnn plan', () => {
  const model = 'inception_resnet_v1';
  it(`${model}: arena within 1.10x of the lower bound at batch 1 and 8`, async () => {
    const { code, stdout } = await plan('--model', model, '--batch', '1,8');
    expect(code).toBe(0);
    const rows = stdout.trim().split('\n').map((l) => JSON.parse(l));
    expect(rows.map((r) => r.batch)).toEqual([1, 8]);
    for (const r of rows) {
      console.log(`${model} b${r.batch}: arena ${r.arenaBytes} naive ${r.naiveBytes} lower bound ${r.lowerBoundBytes} (x${r.arenaOverLowerBound.toFixed(4)})`);
      expect(r.arenaBytes).toBeGreaterThanOrEqual(r.lowerBoundBytes);
      expect(r.arenaBytes).toBeLessThanOrEqual(1.1 * r.lowerBoundBytes);
      expect(r.naiveBytes).toBeGreaterThan(r.arenaBytes);
    }
  }, 60_000);

  it('rejects a bad batch list and an unknown layout as usage errors', async () => {
    expect((await plan('--model', 'inception_v4', '--batch', '0')).code).toBe(2);
    const bad = await plan('--model', 'inception_resnet_v1', '--batch', '1', '--layout', 'tpu');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--layout tpu: expected one of cpu-avx2, cpu-avx512, cuda-fp32, cuda-fp16');
    const proto = await plan('--model', 'inception_resnet_v1', '--batch', '1', '--layout', 'toString');
    expect(proto.code).toBe(2);
    expect(proto.stderr).toContain('--layout toString: expected one of');
  });
});
