/**
 * safetensors reader and writer (format: https://huggingface.co/docs/safetensors, "Format").
 *
 * Layout: 8 bytes little-endian u64 N, N bytes of UTF-8 JSON header, then the data section. The header maps
 * tensor names to `{dtype, shape, data_offsets: [begin, end]}` (offsets relative to the data section) plus an
 * optional `__metadata__` string→string map.
 *
 * Reading is lazy: `openSafetensors` reads and validates only the header and keeps the file descriptor open;
 * `load(name)` reads exactly that tensor's bytes with `fs.readSync` into a freshly allocated typed array of the
 * tensor's dtype. So a multi-GB checkpoint never has two copies of a weight in memory, and no typed-array view
 * is ever created at an (unaligned) file offset.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CheckpointError, DTypeError, fromTypedArray, Tensor, type DType } from '../../core/index.js';
import { allocStorage, itemSize, type StorageArray } from '../../core/dtype.js';
import { decodeHalf } from '../../core/half.js';
import type { HostSource } from '../../core/weight.js';
import { openRegularFile } from './regular_file.js';

/** safetensors dtype strings opshift reads and writes. */
export const SAFETENSORS_DTYPES = ['F64', 'F32', 'F16', 'BF16', 'I64', 'I32', 'I16', 'I8', 'U8', 'BOOL'] as const;
export type SafetensorsDType = (typeof SAFETENSORS_DTYPES)[number];

/** Bytes per element of every dtype in the spec with a whole-byte size (the supported ones and the rest). */
const ITEM_SIZE: Readonly<Record<string, number>> = {
  F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1,
  // In the spec but with no opshift dtype: a file holding them opens, and loading such a tensor fails.
  U64: 8, U32: 4, U16: 2, F8_E4M3: 1, F8_E5M2: 1, F8_E8M0: 1, C64: 8,
};

/** The opshift dtype a safetensors dtype loads as by default (F64 has none: it loads as float32). */
const NATIVE: Readonly<Record<SafetensorsDType, DType>> = {
  F64: 'float32', F32: 'float32', F16: 'float16', BF16: 'bfloat16', I64: 'int64', I32: 'int32', I16: 'int16',
  I8: 'int8', U8: 'uint8', BOOL: 'bool',
};

const TO_SAFETENSORS: Readonly<Record<DType, SafetensorsDType>> = {
  float32: 'F32', float16: 'F16', bfloat16: 'BF16', int64: 'I64', int32: 'I32', int16: 'I16', int8: 'I8',
  uint8: 'U8', bool: 'BOOL',
};

/**
 * The order the reference implementation lays tensors out in: descending by its dtype enum (which is in
 * increasing alignment), then by name, so every tensor's data is aligned to its item size.
 */
const DTYPE_RANK: Readonly<Record<SafetensorsDType, number>> = {
  BOOL: 0, U8: 1, I8: 2, I16: 5, F16: 7, BF16: 8, I32: 9, F32: 11, F64: 12, I64: 13,
};

/** The header may not be larger than this (the reference implementation's limit). */
export const MAX_HEADER_BYTES = 100_000_000;

/** fs.readSync/writeSync move at most 2 GiB per call; larger tensors go in pieces. */
const IO_CHUNK = 1 << 30;

export function isSupportedSafetensorsDType(d: string): d is SafetensorsDType {
  return (SAFETENSORS_DTYPES as readonly string[]).includes(d);
}

/** The safetensors dtype string an opshift dtype is written as. */
export function toSafetensorsDType(d: DType): SafetensorsDType {
  return TO_SAFETENSORS[d];
}

/** The opshift dtype a safetensors dtype loads as when no dtype is asked for (F64 → float32). */
export function nativeDType(d: SafetensorsDType): DType {
  return NATIVE[d];
}

export interface SafetensorsTensorInfo {
  /** The dtype string from the header (may be one opshift cannot load, e.g. F8_E4M3). */
  readonly dtype: string;
  readonly shape: readonly number[];
  readonly byteLength: number;
  /** [begin, end) relative to the start of the data section. */
  readonly dataOffsets: readonly [number, number];
}

export interface LoadOptions {
  /** Convert to this dtype (float16/bfloat16 ↔ float32 bit-exact with PyTorch). Default: the file's dtype. */
  dtype?: DType;
}

function fail(file: string, rule: string): never {
  throw new CheckpointError(file, rule);
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isCount(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

function readFully(fd: number, file: string, target: Uint8Array, position: number): void {
  let done = 0;
  while (done < target.length) {
    const want = Math.min(IO_CHUNK, target.length - done);
    const got = fs.readSync(fd, target, done, want, position + done);
    if (got === 0) fail(file, `unexpected end of file at byte ${position + done} (file truncated while reading?)`);
    done += got;
  }
}

/** Parses and validates a header; `dataBytes` is the size of the data section. Exported for the checkpoint reader. */
export function parseSafetensorsHeader(
  file: string,
  headerBytes: Uint8Array,
  dataBytes: number,
): { tensors: Map<string, SafetensorsTensorInfo>; metadata: Readonly<Record<string, string>> } {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(headerBytes);
  } catch {
    fail(file, 'the header is not valid UTF-8');
  }
  if (!text.startsWith('{')) fail(file, `the header must be a JSON object starting with '{' (starts with ${JSON.stringify(text.slice(0, 16))})`);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    fail(file, `the header is not valid JSON: ${(e as Error).message}`);
  }
  if (!isPlainObject(json)) fail(file, 'the header must be a JSON object');

  let metadata: Record<string, string> = {};
  const tensors = new Map<string, SafetensorsTensorInfo>();
  for (const [name, entry] of Object.entries(json)) {
    if (name === '__metadata__') {
      if (entry === null) continue; // the reference reads it as an Option: null is no metadata
      if (!isPlainObject(entry)) fail(file, '__metadata__ must be an object of string → string');
      for (const [k, v] of Object.entries(entry))
        if (typeof v !== 'string') fail(file, `__metadata__ must map strings to strings, but "${k}" is ${JSON.stringify(v)}`);
      metadata = entry as Record<string, string>;
      continue;
    }
    const where = `tensor '${name}'`;
    if (!isPlainObject(entry)) fail(file, `${where}: the entry must be an object {dtype, shape, data_offsets}`);
    const { dtype, shape, data_offsets: offsets } = entry;
    if (typeof dtype !== 'string') fail(file, `${where}: missing or non-string dtype`);
    const size = ITEM_SIZE[dtype];
    if (size === undefined)
      fail(file, `${where}: unsupported dtype '${dtype}' (opshift reads ${SAFETENSORS_DTYPES.join(', ')})`);
    if (!Array.isArray(shape) || !shape.every(isCount))
      fail(file, `${where}: shape must be a list of non-negative integers, got ${JSON.stringify(shape)}`);
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isCount))
      fail(file, `${where}: data_offsets must be [begin, end] with non-negative integers, got ${JSON.stringify(offsets)}`);
    const [begin, end] = offsets as [number, number];
    if (end < begin) fail(file, `${where}: data_offsets [${begin}, ${end}] end before they begin`);
    let numel = 1;
    for (const d of shape as number[]) {
      numel *= d;
      if (!Number.isSafeInteger(numel)) fail(file, `${where}: shape ${JSON.stringify(shape)} has too many elements`);
    }
    const byteLength = numel * size;
    if (!Number.isSafeInteger(byteLength)) fail(file, `${where}: shape ${JSON.stringify(shape)} of ${dtype} has too many bytes`);
    if (end - begin !== byteLength)
      fail(file, `${where}: ${dtype} [${(shape as number[]).join(', ')}] needs ${byteLength} bytes but data_offsets [${begin}, ${end}] span ${end - begin}`);
    if (end > dataBytes)
      fail(file, `${where}: data_offsets [${begin}, ${end}] reach past the end of the data section (${dataBytes} bytes): the file is truncated or the offsets are wrong`);
    tensors.set(name, { dtype, shape: shape as number[], byteLength, dataOffsets: [begin, end] });
  }

  // The reference implementation's coverage rule (safetensors `Metadata::validate` and `read_metadata`):
  // sorted by data_offsets, the tensors tile the data section exactly, from byte 0 to its last byte, with no
  // hole and no overlap. This is what catches a header length that is off by a few bytes: the data section
  // then starts in the wrong place and is longer or shorter than what the tensors cover.
  const sorted = [...tensors].sort(([, a], [, b]) => a.dataOffsets[0] - b.dataOffsets[0] || a.dataOffsets[1] - b.dataOffsets[1]);
  let at = 0;
  let prev = '';
  for (const [name, t] of sorted) {
    const [begin, end] = t.dataOffsets;
    if (begin !== at)
      fail(file, at === 0 && prev === ''
        ? `tensor '${name}' data_offsets [${begin}, ${end}]: the first tensor must begin at byte 0 of the data section`
        : `tensor '${name}' data_offsets [${begin}, ${end}] must begin where '${prev}' ends (${at}): ${begin < at ? 'overlapping' : 'a hole between'} tensors`);
    at = end;
    prev = name;
  }
  if (at !== dataBytes)
    fail(file, `the tensors cover ${at} bytes but the data section after the ${headerBytes.length}-byte header is ${dataBytes} bytes: the header length is wrong, the file is truncated, or it has trailing bytes`);
  return { tensors, metadata };
}

/**
 * One tensor's elements read at `position` of `fd`, in `dtype`: the file's dtype as is, F64 rounded to float32,
 * float16/bfloat16 widened to float32 by table (exact, PyTorch's NaN payloads), other conversions through
 * `Tensor.to`. Shared by `load` and the restore source, so both give the same bits.
 */
function readTensorData(fd: number, file: string, name: string, t: SafetensorsTensorInfo, position: number, dtype: DType): StorageArray {
  if (!isSupportedSafetensorsDType(t.dtype))
    throw new DTypeError(`${file}: tensor '${name}' has unsupported dtype ${t.dtype} (opshift reads ${SAFETENSORS_DTYPES.join(', ')})`);
  const numel = t.byteLength / ITEM_SIZE[t.dtype]!;
  let data: StorageArray;
  if (t.dtype === 'F64') {
    const f64 = new Float64Array(numel);
    readFully(fd, file, new Uint8Array(f64.buffer), position);
    data = Float32Array.from(f64); // rounds to nearest, like torch's double -> float
  } else {
    data = allocStorage(NATIVE[t.dtype], numel);
    readFully(fd, file, new Uint8Array(data.buffer, data.byteOffset, data.byteLength), position);
    if (t.dtype === 'BOOL') for (let i = 0; i < numel; i++) if (data[i]! > 1) (data as Uint8Array)[i] = 1;
  }
  const have = NATIVE[t.dtype];
  if (dtype === have) return data;
  if (dtype === 'float32' && (have === 'float16' || have === 'bfloat16')) return decodeHalf(data as Uint16Array, have);
  return fromTypedArray(data, t.shape, { dtype: have }).to(dtype).contiguous().storage.data;
}

/** An open safetensors file: validated header, lazy per-tensor reads. Call `close()` when done. */
export class SafetensorsFile {
  readonly path: string;
  readonly metadata: Readonly<Record<string, string>>;
  /** Size of the file in bytes. */
  readonly fileSize: number;
  private fd: number | undefined;
  private readonly tensors: Map<string, SafetensorsTensorInfo>;
  private readonly dataStart: number;

  /** Use `openSafetensors(path)`. */
  constructor(file: string) {
    this.path = file;
    if (os.endianness() !== 'LE') fail(file, 'safetensors data is little-endian; big-endian hosts are not supported');
    // Only regular files: a FIFO or a device in place of a weight file would block or never end.
    const { fd, size } = openRegularFile(file, 'the safetensors file');
    try {
      this.fileSize = size;
      if (size < 8) fail(file, `file is ${size} bytes, shorter than the 8-byte header length: not a safetensors file`);
      const head = Buffer.alloc(8);
      readFully(fd, file, head, 0);
      const n = head.readBigUInt64LE(0);
      if (n > BigInt(MAX_HEADER_BYTES))
        fail(file, `header length ${n} is absurd (> ${MAX_HEADER_BYTES} bytes): not a safetensors file or corrupt`);
      const headerLength = Number(n);
      if (8 + headerLength > size)
        fail(file, `header length ${headerLength} is larger than the file (${size} bytes): truncated or not a safetensors file`);
      const header = new Uint8Array(headerLength);
      readFully(fd, file, header, 8);
      this.dataStart = 8 + headerLength;
      const parsed = parseSafetensorsHeader(file, header, size - this.dataStart);
      this.tensors = parsed.tensors;
      this.metadata = Object.freeze({ ...parsed.metadata });
      this.fd = fd;
    } catch (e) {
      fs.closeSync(fd);
      throw e;
    }
  }

  /** Tensor names in file (data) order. */
  names(): string[] {
    return [...this.tensors].sort(([, a], [, b]) => a.dataOffsets[0] - b.dataOffsets[0]).map(([n]) => n);
  }

  has(name: string): boolean {
    return this.tensors.has(name);
  }

  info(name: string): SafetensorsTensorInfo {
    const t = this.tensors.get(name);
    if (!t) {
      const some = this.names().slice(0, 5).join(', ');
      fail(this.path, `no tensor named '${name}' (${this.tensors.size} tensors: ${some}${this.tensors.size > 5 ? ', …' : ''})`);
    }
    return t;
  }

  /** Reads one tensor from disk into a new Tensor (F64 becomes float32), converted to `options.dtype` if given. */
  load(name: string, options: LoadOptions = {}): Tensor {
    const t = this.info(name);
    if (this.fd === undefined) fail(this.path, `cannot load '${name}': the file is closed`);
    const dtype = options.dtype ?? this.loadDType(name);
    return fromTypedArray(readTensorData(this.fd, this.path, name, t, this.dataStart + t.dataOffsets[0], dtype), t.shape, { dtype });
  }

  /** The dtype `load(name)` gives without options (the file's, F64 → float32). */
  loadDType(name: string): DType {
    const t = this.info(name);
    if (!isSupportedSafetensorsDType(t.dtype))
      throw new DTypeError(`${this.path}: tensor '${name}' has unsupported dtype ${t.dtype} (opshift reads ${SAFETENSORS_DTYPES.join(', ')})`);
    return NATIVE[t.dtype];
  }

  /**
   * A restore source for tensor `name` loaded as `dtype` (core/weight.ts): re-opens the file, checks it is the
   * same file (size and mtime as now), reads the tensor's bytes at its offset and converts them exactly as
   * `load` does, so a released weight comes back bit-identical. Needs no open descriptor (the checkpoint is
   * closed after loading).
   */
  hostSource(name: string, dtype: DType): HostSource {
    const t = this.info(name);
    const file = this.path;
    const position = this.dataStart + t.dataOffsets[0];
    const { size, mtimeMs } = fs.statSync(file);
    return {
      what: `checkpoint ${file} '${name}' @ byte ${position}`,
      identity: `checkpoint|${path.resolve(file)}|${size}|${mtimeMs}|${name}|${position}|${dtype}`,
      load: () => {
        const { fd, size: now } = openRegularFile(file, 'the safetensors file');
        try {
          const m = fs.fstatSync(fd).mtimeMs;
          if (now !== size || m !== mtimeMs)
            fail(file, `cannot restore '${name}' (its host copy was released after a backend prepared it): the file changed since the model was loaded (size ${size} → ${now} bytes, mtime ${new Date(mtimeMs).toISOString()} → ${new Date(m).toISOString()}); reload the model, or set OPSHIFT_KEEP_HOST_WEIGHTS=1 when files change under a running process`);
          return readTensorData(fd, file, name, t, position, dtype);
        } finally {
          fs.closeSync(fd);
        }
      },
    };
  }

  /** Closes the file descriptor; later `load` calls fail, `names`/`info` keep working. Idempotent. */
  close(): void {
    if (this.fd !== undefined) fs.closeSync(this.fd);
    this.fd = undefined;
  }
}

/** Opens and validates a safetensors file (reads only the header). Throws `CheckpointError` naming the file and rule. */
export function openSafetensors(file: string): SafetensorsFile {
  return new SafetensorsFile(file);
}

function utf8Compare(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

interface Prepared {
  readonly name: string;
  readonly dtype: SafetensorsDType;
  readonly shape: readonly number[];
  readonly byteLength: number;
  /**
   * The tensor's bytes, read when written: a weight whose host copy was released (core/weight.ts) is restored
   * for this one write and released again after it, so saving a model streams one weight at a time.
   */
  readonly bytes: () => Uint8Array;
  /** Called after the bytes were written. */
  readonly done: () => void;
}

/**
 * The bytes of a safetensors header (the u64 length and the space-padded JSON) for these tensors, laid out as
 * the reference implementation does, plus the ordered tensors. Non-contiguous tensors are made contiguous.
 */
function prepare(tensors: Record<string, Tensor> | Map<string, Tensor>, metadata?: Record<string, string>): { head: Uint8Array; items: Prepared[] } {
  const entries = tensors instanceof Map ? [...tensors] : Object.entries(tensors);
  const items: Prepared[] = entries.map(([name, t]) => {
    if (name === '__metadata__') throw new CheckpointError('(writing safetensors)', "'__metadata__' is reserved and cannot be a tensor name");
    // Contiguity is a matter of strides: checking it reads no elements (a non-contiguous view is copied).
    const c = t.contiguous();
    const size = itemSize(c.dtype);
    const wasResident = c.storage.resident;
    const bytes = (): Uint8Array => {
      const data = c.storage.data;
      return new Uint8Array(data.buffer, data.byteOffset + c.offset * size, c.numel() * size);
    };
    const done = (): void => {
      if (!wasResident) c.storage.releaseData();
    };
    return { name, dtype: TO_SAFETENSORS[c.dtype], shape: c.shape, byteLength: c.numel() * size, bytes, done };
  });
  items.sort((a, b) => DTYPE_RANK[b.dtype] - DTYPE_RANK[a.dtype] || utf8Compare(a.name, b.name));
  const header: Record<string, unknown> = {};
  if (metadata !== undefined) {
    const sorted: Record<string, string> = {};
    for (const k of Object.keys(metadata).sort(utf8Compare)) {
      const v = metadata[k];
      if (typeof v !== 'string') throw new CheckpointError('(writing safetensors)', `metadata must map strings to strings, but "${k}" is ${JSON.stringify(v)}`);
      sorted[k] = v;
    }
    header.__metadata__ = sorted;
  }
  let offset = 0;
  for (const it of items) {
    header[it.name] = { dtype: it.dtype, shape: it.shape, data_offsets: [offset, offset + it.byteLength] };
    offset += it.byteLength;
  }
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  const padded = json.length + ((8 - (json.length % 8)) % 8); // the data section starts 8-byte aligned
  const head = Buffer.alloc(8 + padded, 0x20);
  head.writeBigUInt64LE(BigInt(padded), 0);
  json.copy(head, 8);
  return { head, items };
}

/** The whole file as bytes (for small tensors and tests; `writeSafetensors` streams to disk instead). */
export function serializeSafetensors(tensors: Record<string, Tensor> | Map<string, Tensor>, metadata?: Record<string, string>): Uint8Array {
  const { head, items } = prepare(tensors, metadata);
  const out = new Uint8Array(head.length + items.reduce((s, it) => s + it.byteLength, 0));
  out.set(head, 0);
  let p = head.length;
  for (const it of items) {
    out.set(it.bytes(), p);
    it.done();
    p += it.byteLength;
  }
  return out;
}

/**
 * Writes a spec-conformant safetensors file: keys laid out as the reference implementation does (descending
 * dtype alignment, then name), header padded with spaces to 8 bytes, metadata keys sorted. The file is
 * written to a temporary name and renamed, so a crash never leaves a half-written file under `file`.
 */
export function writeSafetensors(file: string, tensors: Record<string, Tensor> | Map<string, Tensor>, metadata?: Record<string, string>): void {
  const { head, items } = prepare(tensors, metadata);
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.tmp`);
  const fd = fs.openSync(tmp, 'w');
  let ok = false;
  try {
    const write = (bytes: Uint8Array): void => {
      for (let done = 0; done < bytes.length; ) done += fs.writeSync(fd, bytes, done, Math.min(IO_CHUNK, bytes.length - done));
    };
    write(head);
    for (const it of items) {
      write(it.bytes());
      it.done();
    }
    ok = true;
  } finally {
    fs.closeSync(fd);
    if (!ok) fs.rmSync(tmp, { force: true });
  }
  fs.renameSync(tmp, file);
}
