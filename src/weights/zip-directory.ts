/**
 * The central directory of a zip archive whose members are stored uncompressed, as PyTorch's
 * zip checkpoints are (torch.save since 1.6 writes every record with method 0, 64-byte
 * aligned). Reads the end-of-central-directory record (and its zip64 form), then every
 * central header; data offsets come from each member's local header, because torch sets the
 * data-descriptor flag and leaves the local sizes 0. Every offset and size is checked against
 * the file size before it is used. Format: PKWARE APPNOTE.TXT sections 4.3 and 4.5.
 */
import type { FileHandle } from 'node:fs/promises';
import { WeightsError } from '../errors';

export interface ZipMember {
  readonly name: string;
  /** 0 = stored; anything else cannot be read here. */
  readonly method: number;
  readonly size: number;
  readonly compressedSize: number;
  readonly localHeaderOffset: number;
}

/** Largest central directory accepted (a state_dict archive of 1,000 tensors has ~80 kB). */
export const MAX_CENTRAL_DIRECTORY_BYTES = 64 * 1024 * 1024;

const EOCD_SIGNATURE = 0x06054b50;
const ZIP64_LOCATOR_SIGNATURE = 0x07064b50;
const ZIP64_EOCD_SIGNATURE = 0x06064b50;
const CENTRAL_SIGNATURE = 0x02014b50;
const LOCAL_SIGNATURE = 0x04034b50;

export async function readExact(handle: FileHandle, position: number, length: number): Promise<Uint8Array> {
  const out = new Uint8Array(length);
  let done = 0;
  while (done < length) {
    const { bytesRead } = await handle.read(out, done, Math.min(length - done, 1 << 30), position + done);
    if (bytesRead === 0) break;
    done += bytesRead;
  }
  return done === length ? out : out.subarray(0, done);
}

function view(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** Every member of the archive by name. */
export async function readZipDirectory(handle: FileHandle, fileBytes: number, what: string): Promise<Map<string, ZipMember>> {
  const fail = (problem: string): never => {
    throw new WeightsError(`${what} is not a readable PyTorch zip checkpoint: ${problem}`);
  };
  const tailLength = Math.min(fileBytes, 22 + 0xffff);
  const tail = await readExact(handle, fileBytes - tailLength, tailLength);
  const tv = view(tail);
  let eocd = -1;
  for (let i = tail.length - 22; i >= 0; i--) {
    if (tv.getUint32(i, true) === EOCD_SIGNATURE) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) fail('no end-of-central-directory record (the file is truncated, or not a zip archive)');
  const eocdAt = fileBytes - tailLength + eocd;
  let entries = tv.getUint16(eocd + 10, true);
  let directoryBytes = tv.getUint32(eocd + 12, true);
  let directoryOffset = tv.getUint32(eocd + 16, true);
  let directoryEnd = eocdAt;
  if (entries === 0xffff || directoryBytes === 0xffffffff || directoryOffset === 0xffffffff) {
    if (eocd < 20 || tv.getUint32(eocd - 20, true) !== ZIP64_LOCATOR_SIGNATURE) fail('a zip64 archive without its zip64 locator');
    const zip64At = Number(tv.getBigUint64(eocd - 12, true));
    if (zip64At + 56 > eocdAt - 20) fail(`the zip64 end record at ${zip64At} lies outside the file`);
    const record = await readExact(handle, zip64At, 56);
    const rv = view(record);
    if (record.length < 56 || rv.getUint32(0, true) !== ZIP64_EOCD_SIGNATURE) fail('the zip64 end record is missing');
    entries = Number(rv.getBigUint64(32, true));
    directoryBytes = Number(rv.getBigUint64(40, true));
    directoryOffset = Number(rv.getBigUint64(48, true));
    directoryEnd = zip64At;
  }
  if (directoryBytes > MAX_CENTRAL_DIRECTORY_BYTES) fail(`its central directory declares ${directoryBytes} bytes, more than the ${MAX_CENTRAL_DIRECTORY_BYTES}-byte limit`);
  if (!Number.isSafeInteger(directoryOffset) || directoryOffset + directoryBytes > directoryEnd) {
    fail(`its central directory [${directoryOffset}, +${directoryBytes}) runs past the end records at ${directoryEnd} (truncated or corrupt)`);
  }
  if (entries * 46 > directoryBytes) fail(`it declares ${entries} members in a ${directoryBytes}-byte directory`);
  const directory = await readExact(handle, directoryOffset, directoryBytes);
  const dv = view(directory);
  const members = new Map<string, ZipMember>();
  let at = 0;
  for (let n = 0; n < entries; n++) {
    if (at + 46 > directory.length || dv.getUint32(at, true) !== CENTRAL_SIGNATURE) fail(`central header ${n} is missing or corrupt`);
    const method = dv.getUint16(at + 10, true);
    let compressedSize = dv.getUint32(at + 20, true);
    let size = dv.getUint32(at + 24, true);
    const nameLength = dv.getUint16(at + 28, true);
    const extraLength = dv.getUint16(at + 30, true);
    const commentLength = dv.getUint16(at + 32, true);
    let localHeaderOffset = dv.getUint32(at + 42, true);
    const next = at + 46 + nameLength + extraLength + commentLength;
    if (next > directory.length) fail(`central header ${n} runs past the directory`);
    const name = new TextDecoder().decode(directory.subarray(at + 46, at + 46 + nameLength));
    // Zip64 extended information: the 0xffffffff fields, in this order.
    let extra = at + 46 + nameLength;
    const extraEnd = extra + extraLength;
    while (extra + 4 <= extraEnd) {
      const id = dv.getUint16(extra, true);
      const length = dv.getUint16(extra + 2, true);
      if (extra + 4 + length > extraEnd) fail(`member '${name}' has a corrupt extra field`);
      if (id === 0x0001) {
        let field = extra + 4;
        const next64 = (): number => {
          if (field + 8 > extra + 4 + length) fail(`member '${name}' has a short zip64 field`);
          const v = Number(dv.getBigUint64(field, true));
          field += 8;
          return v;
        };
        if (size === 0xffffffff) size = next64();
        if (compressedSize === 0xffffffff) compressedSize = next64();
        if (localHeaderOffset === 0xffffffff) localHeaderOffset = next64();
      }
      extra += 4 + length;
    }
    if (members.has(name)) fail(`member '${name}' appears twice`);
    if (!Number.isSafeInteger(size) || !Number.isSafeInteger(compressedSize) || localHeaderOffset + 30 + compressedSize > directoryOffset) {
      fail(`member '${name}' (${compressedSize} bytes at ${localHeaderOffset}) runs past the start of the central directory at ${directoryOffset}`);
    }
    members.set(name, { name, method, size, compressedSize, localHeaderOffset });
    at = next;
  }
  return members;
}

/** File offset of a stored member's data, from its local header; checked to lie inside the file. */
export async function memberDataOffset(handle: FileHandle, member: ZipMember, fileBytes: number, what: string): Promise<number> {
  const fail = (problem: string): never => {
    throw new WeightsError(`${what}: zip member '${member.name}' ${problem}`);
  };
  if (member.method !== 0) fail(`is compressed (method ${member.method}); PyTorch stores its records uncompressed, so this is not a torch.save file`);
  if (member.size !== member.compressedSize) fail(`declares ${member.size} bytes but stores ${member.compressedSize}`);
  const header = await readExact(handle, member.localHeaderOffset, 30);
  const hv = view(header);
  if (header.length < 30 || hv.getUint32(0, true) !== LOCAL_SIGNATURE) fail(`has no local header at ${member.localHeaderOffset}`);
  const offset = member.localHeaderOffset + 30 + hv.getUint16(26, true) + hv.getUint16(28, true);
  if (offset + member.size > fileBytes) fail(`needs bytes up to ${offset + member.size}, but the file has ${fileBytes} (truncated)`);
  return offset;
}
