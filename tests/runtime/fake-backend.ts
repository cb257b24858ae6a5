/**
 * A hand-written stand-in for a native backend, used ONLY to test the session's queueing,
 * validation and error wrapping without a compiled addon. It does not compute the network:
 * row i of its output is [sum of image i's values, i, n, 0, 0, ...], so tests can check that
 * each caller gets the rows of its own input. Real-backend tests live in session-cpu.test.ts.
 */
import type { Backend, BackendInfo, CompileOptions, Program } from '../../src/runtime/backend';
import type { LayoutPolicy, Plan } from '../../src/plan/types';
import { checkFiniteValues } from '../../src/runtime/input';

export interface FakeControls {
  /** Milliseconds each run takes (a timer, so runs genuinely overlap if not serialised). */
  delayMs: number;
  /** When set, the next run rejects with this native-looking error. */
  failNext: { message: string; code: string; step?: string } | Error | undefined;
  /** Runs currently executing (must never exceed 1). */
  active: number;
  maxActive: number;
  runs: number;
  disposed: boolean;
  compiled: CompileOptions | undefined;
}

export function fakeBackend(kind: 'cpu' | 'cuda' = 'cpu', devices: BackendInfo['devices'] = []): { backend: Backend; controls: FakeControls } {
  const controls: FakeControls = { delayMs: 5, failNext: undefined, active: 0, maxActive: 0, runs: 0, disposed: false, compiled: undefined };
  const backend: Backend = {
    kind,
    info: () => ({ name: kind, available: true, versions: { fake: '0' }, devices }),
    layoutPolicy: (): LayoutPolicy => ({ elementBytes: 4, channelBlock: 1, alignment: 64, concatViews: true }),
    async compile(plan: Plan, options: CompileOptions): Promise<Program> {
      controls.compiled = options;
      const out = plan.tensors[plan.output];
      const k = out.c * out.h * out.w;
      const input = plan.tensors[plan.input];
      const imageSize = input.c * input.h * input.w;
      return {
        workspaceBytes: 123,
        weightBytes: plan.weights.byteLength,
        arenaBytes: plan.arenaBytes,
        dispose() {
          controls.disposed = true;
        },
        async run(data: Float32Array, n: number): Promise<Float32Array> {
          controls.active++;
          controls.maxActive = Math.max(controls.maxActive, controls.active);
          controls.runs++;
          try {
            await new Promise((resolve) => setTimeout(resolve, controls.delayMs));
            const failure = controls.failNext;
            if (failure !== undefined) {
              controls.failNext = undefined;
              if (failure instanceof Error) throw failure;
              throw Object.assign(new Error(failure.message), { code: failure.code, step: failure.step });
            }
            const result = new Float32Array(n * k);
            for (let i = 0; i < n; i++) {
              let sum = 0;
              for (let j = 0; j < imageSize; j++) sum += data[i * imageSize + j];
              result[i * k] = sum;
              result[i * k + 1] = i;
              result[i * k + 2] = n;
            }
            return result;
          } finally {
            controls.active--;
          }
        },
      };
    },
  };
  return { backend, controls };
}

/**
 * What a native run rejects with when its input holds a NaN or infinite value (native/cuda
 * program.cc CopyFiniteInput throws the JS text of checkFiniteValues with code E_INVALID_INPUT),
 * for fake native handles; null when every value is finite.
 */
export function nativeNonFiniteError(values: Float32Array): Error | null {
  try {
    checkFiniteValues(values);
    return null;
  } catch (error) {
    return Object.assign(new Error((error as Error).message), { code: 'E_INVALID_INPUT' });
  }
}
