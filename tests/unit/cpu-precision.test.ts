/**
 * checkCpuPrecision (src/native/cpu-backend.ts), the TypeScript gate in front of the native
 * module: fp32 anywhere, bf16 only where the module reports native bf16, tf32/fp16 never. Pure:
 * no module is loaded, so this runs on any CPU (the native refusal itself is tested in
 * tests/native/cpu-bf16.test.ts, in a child process limited to avx512_core).
 */
import { describe, expect, it } from 'vitest';
import { DeviceError, InvalidArgumentError } from '../../src/errors';
import { checkCpuPrecision } from '../../src/native/cpu-backend';

describe('checkCpuPrecision', () => {
  const avx2 = { isa: 'avx2', bf16Native: false };
  const zen4 = { isa: 'avx512_core_bf16', bf16Native: true };

  it('fp32 passes anywhere; bf16 passes with native bf16', () => {
    expect(() => checkCpuPrecision('fp32', avx2)).not.toThrow();
    expect(() => checkCpuPrecision('bf16', zen4)).not.toThrow();
  });

  it('bf16 without native bf16 is a DeviceError: the module\'s reason, or one naming the ISA', () => {
    expect(() => checkCpuPrecision('bf16', { ...avx2, bf16Refusal: 'the native reason' })).toThrow(new DeviceError('the native reason'));
    expect(() => checkCpuPrecision('bf16', avx2)).toThrow(DeviceError);
    expect(() => checkCpuPrecision('bf16', avx2)).toThrow("precision 'bf16' needs a CPU with AVX512-BF16 or AMX, but oneDNN runs this CPU as 'avx2'; use precision 'fp32'");
  });

  it('the CUDA precisions are refused on the CPU', () => {
    expect(() => checkCpuPrecision('fp16', zen4)).toThrow(InvalidArgumentError);
    expect(() => checkCpuPrecision('tf32', zen4)).toThrow("Expected 'fp32' or 'bf16' for precision but received 'tf32': tf32 and fp16 are CUDA precisions");
  });
});
