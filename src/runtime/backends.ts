/** Device kind -> native backend. Each backend module loads its .node file only when asked. */
import { cpuBackendInfo, loadCpuBackend } from '../native/cpu-backend';
import { cudaBackendInfo, loadCudaBackend } from '../native/cuda-backend';
import type { Backend, BackendInfo, DeviceKind } from './backend';

export function loadBackend(kind: DeviceKind): Backend {
  return kind === 'cpu' ? loadCpuBackend() : loadCudaBackend();
}

/** What each backend reports about itself; never throws (a failure becomes `available: false`). */
export function backendInfos(): BackendInfo[] {
  const probes: [DeviceKind, () => BackendInfo][] = [
    ['cpu', cpuBackendInfo],
    ['cuda', cudaBackendInfo],
  ];
  return probes.map(([name, probe]) => {
    try {
      return probe();
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      return { name, available: false, reason, versions: {}, devices: [] };
    }
  });
}
