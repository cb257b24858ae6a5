/**
 * Recognises PyTorch checkpoints (`torch.save`) by their first bytes, so they go to the .pt
 * reader and a safetensors reader handed one says what it is instead of a header error.
 */
import { open } from 'node:fs/promises';

export type CheckpointFormat = 'torch-zip' | 'torch-pickle' | 'other';

/** First bytes of a file: 'torch-zip' (torch >= 1.6 zip archive), 'torch-pickle' (legacy), or 'other'. */
export async function sniffCheckpointFormat(path: string): Promise<CheckpointFormat> {
  const handle = await open(path, 'r');
  try {
    const head = new Uint8Array(4);
    const { bytesRead } = await handle.read(head, 0, 4, 0);
    return classifyMagic(head.subarray(0, bytesRead));
  } finally {
    await handle.close();
  }
}

export function classifyMagic(head: Uint8Array): CheckpointFormat {
  // Zip local file header "PK\x03\x04" (or an empty archive's "PK\x05\x06").
  if (head.length >= 4 && head[0] === 0x50 && head[1] === 0x4b && (head[2] === 0x03 || head[2] === 0x05)) return 'torch-zip';
  // Pickle PROTO opcode 0x80 followed by protocol 2..5 (legacy torch.save writes a pickled magic number first).
  if (head.length >= 2 && head[0] === 0x80 && head[1] >= 2 && head[1] <= 5) return 'torch-pickle';
  return 'other';
}

export function torchCheckpointMessage(path: string, format: Exclude<CheckpointFormat, 'other'>): string {
  const what = format === 'torch-zip' ? 'a PyTorch zip checkpoint (torch.save)' : 'a legacy PyTorch pickle checkpoint (torch.save)';
  return (
    `${path} is ${what}, not a safetensors file. loadCheckpoint and --weights read it directly (through a restricted ` +
    "unpickler that runs no code); to keep a .safetensors copy, run 'inception-cudnn weights convert " +
    `${path} model.safetensors'`
  );
}
