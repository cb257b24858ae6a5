/**
 * One interface over the checkpoint formats that are read: safetensors, and PyTorch's zip and
 * legacy torch.save formats (through the restricted unpickler). The format is recognised by
 * the file's first bytes, never by its name.
 */
import { SafetensorsFile } from './safetensors';
import { sniffCheckpointFormat } from './format';
import { TorchCheckpointFile } from './torch-file';

export interface CheckpointReader {
  readonly path: string;
  readonly fileBytes: number;
  /** Every tensor by name: its dtype (safetensors names: F32, F16, I64, ...) and shape. */
  readonly entries: ReadonlyMap<string, { readonly dtype: string; readonly shape: readonly number[] }>;
  /** Dtypes readFloat32 converts to float32. */
  readonly floatDtypes: readonly string[];
  /** `names` sorted so that reading them goes through the file front to back. */
  readOrder(names: readonly string[]): string[];
  readFloat32(name: string): Promise<Float32Array>;
  close(): Promise<void>;
}

/** Opens a .safetensors or torch.save file (the header or pickle is checked completely here). */
export async function openCheckpoint(path: string): Promise<CheckpointReader> {
  const format = await sniffCheckpointFormat(path);
  return format === 'other' ? SafetensorsFile.open(path) : TorchCheckpointFile.open(path, format);
}
