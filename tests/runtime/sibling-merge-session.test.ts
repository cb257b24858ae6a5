/** createSession follows the backend's mergeSiblingConvs policy, and INCEPTION_MERGE_SIBLING_CONVS overrides it. */
import { afterEach, describe, expect, it } from 'vitest';
import type { Plan } from '../../src/plan/types';
import type { Backend } from '../../src/runtime/backend';
import { createSessionWithBackend } from '../../src/runtime/session';
import { InvalidArgumentError } from '../../src/errors';
import { fakeBackend } from './fake-backend';

function capturing(mergeSiblingConvs: boolean | undefined): { backend: Backend; plans: Plan[] } {
  const { backend } = fakeBackend('cpu');
  const plans: Plan[] = [];
  const policy = backend.layoutPolicy('fp32');
  return {
    plans,
    backend: {
      ...backend,
      layoutPolicy: () => (mergeSiblingConvs === undefined ? policy : { ...policy, mergeSiblingConvs }),
      compile: (plan, options) => {
        plans.push(plan);
        return backend.compile(plan, options);
      },
    },
  };
}

const merged = (plan: Plan): number => plan.steps.filter((s) => s.name.endsWith(':merged')).length;
const open = async (backend: Backend): Promise<void> => {
  const session = await createSessionWithBackend({ model: 'inception_resnet_v1', weights: 'synthetic', maxBatch: 1, inputSize: 75 }, backend);
  await session.dispose();
};

describe('the sibling-conv merge switch in createSession', () => {
  const saved = process.env.INCEPTION_MERGE_SIBLING_CONVS;
  afterEach(() => {
    if (saved === undefined) delete process.env.INCEPTION_MERGE_SIBLING_CONVS;
    else process.env.INCEPTION_MERGE_SIBLING_CONVS = saved;
  });

  it('off when the policy says nothing or false, on when it says true', async () => {
    delete process.env.INCEPTION_MERGE_SIBLING_CONVS;
    for (const [flag, expected] of [[undefined, 0], [false, 0], [true, 6]] as const) {
      const { backend, plans } = capturing(flag);
      await open(backend);
      expect(merged(plans[0]!), `policy ${String(flag)}`).toBe(expected);
    }
  });

  it('the environment variable overrides the policy either way, and a bad value is an InvalidArgumentError', async () => {
    process.env.INCEPTION_MERGE_SIBLING_CONVS = '1';
    const on = capturing(false);
    await open(on.backend);
    expect(merged(on.plans[0]!)).toBe(6);
    process.env.INCEPTION_MERGE_SIBLING_CONVS = '0';
    const off = capturing(true);
    await open(off.backend);
    expect(merged(off.plans[0]!)).toBe(0);
    process.env.INCEPTION_MERGE_SIBLING_CONVS = 'on';
    await expect(open(capturing(false).backend)).rejects.toThrow(InvalidArgumentError);
  });
});
