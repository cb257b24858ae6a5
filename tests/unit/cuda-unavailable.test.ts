/**
 * The CUDA backend on a machine without an NVIDIA driver/GPU/cuDNN (this build machine and CI):
 * it must load, report exactly what is missing and how to fix it, and never throw from info().
 * No numeric tolerances here: every assertion is on exact values or message content.
 */
import { existsSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { BackendUnavailableError, InvalidArgumentError } from '../../src/errors';
import { candidatePaths } from '../../src/native/binding';
import {
  CUDA_DRIVER_HINT,
  type NativeCudaInfo,
  cudaBackendInfo,
  cudaLayoutPolicy,
  describeUnavailability,
  loadCudaBackend,
} from '../../src/native/cuda-backend';

const moduleBuilt = candidatePaths('inception_cuda').some((p) => existsSync(p));
const driverPresent = existsSync('/proc/driver/nvidia/version');
/** Title suffixes that say why a test is skipped, only when it is. */
const driverSkip = driverPresent ? ' [SKIPPED: an NVIDIA driver is installed here]' : '';
const moduleSkip = moduleBuilt ? '' : ' [SKIPPED: inception_cuda.node is not built]';

const healthy: NativeCudaInfo = {
  runtimeVersion: '13.0',
  driverVersion: '13.0',
  driverError: null,
  deviceCount: 1,
  deviceError: null,
  devices: [{ index: 0, name: 'NVIDIA H100 80GB HBM3', memoryBytes: 85e9, computeCapability: '9.0' }],
  cudnn: { loaded: true, path: '/v/nvidia/cudnn/lib/libcudnn.so.9', source: 'python wheel', version: '9.13.0', cudartVersion: '13.0', error: null, searched: [], libraries: [] },
};

describe('describeUnavailability (pure)', () => {
  it('is undefined when driver, GPU and cuDNN are all there', () => {
    expect(describeUnavailability(healthy)).toBeUndefined();
  });
  it('names the driver and its fix when there is no driver', () => {
    const r = describeUnavailability({ ...healthy, driverVersion: null, driverError: 'no NVIDIA driver is installed', deviceCount: 0 });
    expect(r).toContain('NVIDIA driver: not usable (no NVIDIA driver is installed)');
    expect(r).toContain(CUDA_DRIVER_HINT);
    expect(r).not.toContain('cuDNN');
  });
  it('names the GPU when the driver works but no device is visible', () => {
    const r = describeUnavailability({ ...healthy, deviceCount: 0, devices: [], deviceError: 'cudaErrorNoDevice: no CUDA-capable device is detected' });
    expect(r).toContain('GPU: no CUDA device found (cudaErrorNoDevice');
  });
  it('names cuDNN with the loader’s own reason', () => {
    const r = describeUnavailability({ ...healthy, cudnn: { ...healthy.cudnn, loaded: false, error: 'cuDNN 9 (libcudnn.so.9) was not found; install it' } });
    expect(r).toBe('The CUDA backend is unavailable:\n- cuDNN 9: cuDNN 9 (libcudnn.so.9) was not found; install it');
  });
});

describe('cudaLayoutPolicy', () => {
  it('is NCHW fp32 for fp32/tf32 and NHWC fp16 with 8-channel blocks for fp16', () => {
    expect(cudaLayoutPolicy('fp32')).toEqual({ elementBytes: 4, channelBlock: 1, alignment: 256, concatViews: true, mergeSiblingConvs: false });
    expect(cudaLayoutPolicy('tf32')).toEqual({ elementBytes: 4, channelBlock: 1, alignment: 256, concatViews: true, mergeSiblingConvs: false });
    expect(cudaLayoutPolicy('fp16')).toEqual({ elementBytes: 2, channelBlock: 8, alignment: 256, concatViews: true, mergeSiblingConvs: false });
  });
  it('rejects an unknown precision', () => {
    expect(() => cudaLayoutPolicy('int8' as never)).toThrow(InvalidArgumentError);
    expect(() => cudaLayoutPolicy('int8' as never)).toThrow("Expected one of 'fp32', 'tf32', 'fp16' for precision but received 'int8' of type string");
  });
});

describe.skipIf(driverPresent)(`the CUDA backend without a driver${driverSkip}`, () => {
  const saved = process.env.INCEPTION_CUDNN_PATH;
  afterEach(() => {
    if (saved === undefined) delete process.env.INCEPTION_CUDNN_PATH;
    else process.env.INCEPTION_CUDNN_PATH = saved;
  });

  it('info() never throws and reports available:false with the reason', () => {
    const info = cudaBackendInfo();
    expect(info.name).toBe('cuda');
    expect(info.available).toBe(false);
    expect(info.devices).toEqual([]);
    if (moduleBuilt) {
      expect(info.reason).toContain('NVIDIA driver: not usable');
      expect(info.reason).toContain(CUDA_DRIVER_HINT);
      expect(info.versions.cudaRuntime).toBe('13.0');
    } else {
      expect(info.reason).toContain('the CUDA module build');
      expect(info.reason).toContain('npm run build');
    }
  });

  it('loadCudaBackend throws BackendUnavailableError with the fix in the message', () => {
    let caught: unknown;
    try {
      loadCudaBackend();
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(BackendUnavailableError);
    const message = (caught as Error).message;
    if (moduleBuilt) {
      expect(message).toContain('NVIDIA driver');
      expect(message).toContain('nvidia-smi');
      if (message.includes('cuDNN 9:')) expect(message).toMatch(/pip install nvidia-cudnn-cu13|INCEPTION_CUDNN_PATH/);
    } else {
      expect(message).toContain('inception_cuda.node');
      expect(message).toContain('nvcc');
    }
  });

  it.skipIf(!moduleBuilt)(`reports a missing INCEPTION_CUDNN_PATH as such${moduleSkip}`, () => {
    process.env.INCEPTION_CUDNN_PATH = '/nonexistent';
    const info = cudaBackendInfo();
    expect(info.available).toBe(false);
    expect(info.reason).toContain('cuDNN 9: INCEPTION_CUDNN_PATH=/nonexistent does not exist');
  });

  it.skipIf(!moduleBuilt)(`reports a folder without libcudnn.so.9 in INCEPTION_CUDNN_PATH${moduleSkip}`, () => {
    process.env.INCEPTION_CUDNN_PATH = '/tmp';
    expect(cudaBackendInfo().reason).toContain('INCEPTION_CUDNN_PATH=/tmp is a folder without libcudnn.so.9');
  });
});
