import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import { CheckpointError, DTypeError, f32ToBf16, f32ToF16, fromTypedArray, tensor, type DType, type Tensor } from '../core/index.js';
import { openSafetensors, serializeSafetensors, writeSafetensors } from '../models/io/safetensors.js';

const FIXTURES = new URL('./fixtures/io/', import.meta.url).pathname;
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'opshift-io-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

interface Expected {
  dtype: string;
  shape: number[];
  values: (number | string)[];
  bits?: number[];
}

/** Python writes non-finite floats as 'inf', '-inf', 'nan'. */
function num(v: number | string): number {
  return typeof v === 'number' ? v : ({ inf: Infinity, '-inf': -Infinity, nan: NaN } as Record<string, number>)[v] ?? Number(v);
}

function bitsOf(t: Tensor): number[] {
  return [...(t.contiguous().toTypedArray() as Uint16Array)];
}

function sample(dtype: DType): Tensor {
  switch (dtype) {
    case 'float32':
      return tensor([[1.5, -2, 3.25], [Infinity, -0, 1e-30]], { dtype });
    case 'float16':
    case 'bfloat16':
      return tensor([0.1, -65504, 3, NaN], { dtype });
    case 'int64':
      return fromTypedArray(new BigInt64Array([2n ** 63n - 1n, -(2n ** 53n) - 1n, 0n]));
    case 'bool':
      return tensor([true, false, true]);
    default:
      return tensor([1, 0, 7, 100], { dtype });
  }
}

function rawBytes(t: Tensor): number[] {
  const a = t.contiguous().toTypedArray();
  return [...new Uint8Array(a.buffer, a.byteOffset, a.byteLength)];
}

describe('safetensors: reading files written by PyTorch', () => {
  const expected = JSON.parse(fs.readFileSync(path.join(FIXTURES, 'torch_all.json'), 'utf8')) as Record<string, Expected>;
  const f = openSafetensors(path.join(FIXTURES, 'torch_all.safetensors'));
  afterAll(() => f.close());

  it('lists names, infos and metadata', () => {
    expect(new Set(f.names())).toEqual(new Set(Object.keys(expected)));
    expect(f.metadata).toEqual({ format: 'pt' });
    expect(f.info('f16.weight')).toMatchObject({ dtype: 'F16', shape: [2, 8], byteLength: 32 });
    expect(f.info('empty')).toMatchObject({ dtype: 'F32', shape: [0, 3], byteLength: 0 });
    expect(() => f.info('nope')).toThrow(/no tensor named 'nope'/);
  });

  it('loads every tensor with its dtype, shape and values', () => {
    for (const [name, e] of Object.entries(expected)) {
      const t = f.load(name);
      expect(t.shape, name).toEqual(e.shape);
      if (e.bits) expect(bitsOf(t), name).toEqual(e.bits);
      else if (e.dtype === 'I64') expect([...(t.toArray() as BigInt64Array)].map(String), name).toEqual(e.values);
      else expect([...(t.toArray() as Float32Array)], name).toEqual(e.values.map(num));
    }
    expect(f.load('f64.x').dtype).toBe('float32');
    expect(f.load('bool.mask').dtype).toBe('bool');
    expect(f.load('scalar').item()).toBe(3.5);
  });

  it('converts on load: f16/bf16 → float32, float32 → bfloat16, F64 → float16', () => {
    const h = f.load('f16.weight', { dtype: 'float32' });
    expect(h.dtype).toBe('float32');
    expect([...(h.toArray() as Float32Array)]).toEqual(expected['f16.weight']!.values.map(num));
    const b = f.load('bf16.weight', { dtype: 'float32' });
    expect(bitsOf(b.to('bfloat16'))).toEqual(expected['bf16.weight']!.bits);
    const w = f.load('f32.weight', { dtype: 'bfloat16' });
    expect(bitsOf(w)).toEqual([...(f.load('f32.weight').toArray() as Float32Array)].map(f32ToBf16));
    const d = f.load('f64.x', { dtype: 'float16' });
    expect(bitsOf(d)).toEqual(expected['f64.x']!.values.map((v) => f32ToF16(Number(v))));
  });

  it('writes byte for byte what the reference layout gives (PyTorch-made file, same tensors and metadata)', () => {
    const src = openSafetensors(path.join(FIXTURES, 'torch_opshift.safetensors'));
    const tensors = new Map(src.names().map((n) => [n, src.load(n)]));
    // Insertion order must not matter: the writer sorts as the reference implementation does.
    const shuffled = new Map([...tensors].reverse());
    const bytes = serializeSafetensors(shuffled, { note: src.metadata.note!, format: 'pt' });
    expect(Buffer.from(bytes).equals(fs.readFileSync(path.join(FIXTURES, 'torch_opshift.safetensors')))).toBe(true);
    const out = path.join(tmp, 'copy.safetensors');
    writeSafetensors(out, Object.fromEntries(tensors), { ...src.metadata });
    expect(fs.readFileSync(out).equals(Buffer.from(bytes))).toBe(true);
    src.close();
  });
});

describe('safetensors: round trips', () => {
  it('every dtype, non-contiguous inputs, metadata', () => {
    const dtypes: DType[] = ['float32', 'float16', 'bfloat16', 'int8', 'uint8', 'int16', 'int32', 'int64', 'bool'];
    const tensors: Record<string, Tensor> = {};
    for (const d of dtypes) tensors[`t.${d}`] = sample(d);
    const base = tensor([[1, 2, 3], [4, 5, 6]], { dtype: 'float32' });
    tensors['t.transposed'] = base.t();
    tensors['t.sliced'] = base.narrow(1, 1, 2);
    const file = path.join(tmp, 'all.safetensors');
    writeSafetensors(file, tensors, { format: 'pt' });
    const size = fs.statSync(file).size;
    const headerLen = Number(fs.readFileSync(file).readBigUInt64LE(0));
    expect(headerLen % 8).toBe(0);
    const f = openSafetensors(file);
    expect(f.metadata).toEqual({ format: 'pt' });
    for (const d of dtypes) {
      const t = f.load(`t.${d}`);
      expect(t.dtype).toBe(d);
      expect(t.shape).toEqual(tensors[`t.${d}`]!.shape);
      expect(rawBytes(t), d).toEqual(rawBytes(tensors[`t.${d}`]!));
    }
    expect(f.load('t.transposed').tolist()).toEqual([[1, 4], [2, 5], [3, 6]]);
    expect(f.load('t.sliced').tolist()).toEqual([[2, 3], [5, 6]]);
    // Data is aligned: each tensor starts at a multiple of its item size from the 8-aligned data section.
    for (const n of f.names()) {
      const i = f.info(n);
      expect(i.dataOffsets[0] % Math.max(1, i.byteLength / Math.max(1, i.shape.reduce((a, b) => a * b, 1)))).toBe(0);
    }
    expect(f.names()[0]).toBe('t.int64'); // the largest alignment first
    expect(8 + headerLen + Math.max(...f.names().map((n) => f.info(n).dataOffsets[1]))).toBe(size);
    f.close();
    expect(() => f.load('t.int8')).toThrow(/closed/);
  });

  it('an empty file (no tensors) matches the reference bytes', () => {
    expect([...serializeSafetensors({})]).toEqual([8, 0, 0, 0, 0, 0, 0, 0, 123, 125, 32, 32, 32, 32, 32, 32]);
  });
});

describe('safetensors: corrupt files fail with the file name and the rule', () => {
  const good = fs.readFileSync(path.join(FIXTURES, 'torch_all.safetensors'));
  const headerLen = Number(good.readBigUInt64LE(0));
  const header = good.subarray(8, 8 + headerLen).toString('utf8');
  let counter = 0;

  function withHeader(json: string, data: Buffer = good.subarray(8 + headerLen)): Buffer {
    const h = Buffer.from(json, 'utf8');
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(h.length));
    return Buffer.concat([len, h, data]);
  }
  function editHeader(edit: (h: Record<string, Record<string, unknown>>) => void): Buffer {
    const h = JSON.parse(header) as Record<string, Record<string, unknown>>;
    edit(h);
    return withHeader(JSON.stringify(h));
  }
  function expectError(bytes: Uint8Array, rule: RegExp, type: typeof CheckpointError | typeof DTypeError = CheckpointError): void {
    const file = path.join(tmp, `bad${counter++}.safetensors`);
    fs.writeFileSync(file, bytes);
    let err: unknown;
    try {
      openSafetensors(file).close();
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(type);
    expect((err as Error).message).toContain(file);
    expect((err as Error).message).toMatch(rule);
  }

  it('too short, absurd or too large header length', () => {
    expectError(good.subarray(0, 5), /shorter than the 8-byte header length/);
    const absurd = Buffer.from(good);
    absurd.writeBigUInt64LE(2n ** 40n);
    expectError(absurd, /header length 1099511627776 is absurd/);
    const large = Buffer.from(good);
    large.writeBigUInt64LE(BigInt(good.length));
    expectError(large, /header length \d+ is larger than the file/);
  });

  it('truncated file', () => {
    expectError(good.subarray(0, good.length - 3), /reach past the end of the data section.*truncated/);
    expectError(good.subarray(0, 8 + headerLen - 10), /larger than the file/);
  });

  it('header not UTF-8, not JSON, not an object', () => {
    expectError(withHeader('{"a":"x"}'), /tensor 'a': the entry must be an object/);
    const bad = Buffer.concat([Buffer.alloc(8), Buffer.from([0x7b, 0xff, 0xfe, 0x7d])]);
    bad.writeBigUInt64LE(4n);
    expectError(bad, /not valid UTF-8/);
    expectError(withHeader('{"a": {"dtype": "F32",'), /not valid JSON/);
    expectError(withHeader('[1, 2]'), /JSON object/);
  });

  it('__metadata__ must be string → string', () => {
    expectError(editHeader((h) => (h.__metadata__ = { format: 1 } as unknown as Record<string, unknown>)), /__metadata__ must map strings to strings, but "format" is 1/);
    expectError(editHeader((h) => (h.__metadata__ = 'pt' as unknown as Record<string, unknown>)), /__metadata__ must be an object/);
  });

  it('bad dtype, shape and data_offsets entries', () => {
    expectError(editHeader((h) => (h['f32.weight']!.dtype = 'F33')), /tensor 'f32.weight': unsupported dtype 'F33'/);
    expectError(editHeader((h) => delete h['f32.weight']!.dtype), /missing or non-string dtype/);
    expectError(editHeader((h) => (h['f32.weight']!.shape = [3, -4])), /shape must be a list of non-negative integers/);
    expectError(editHeader((h) => (h['f32.weight']!.shape = [3, 5])), /F32 \[3, 5\] needs 60 bytes but data_offsets \[\d+, \d+\] span 48/);
    expectError(editHeader((h) => (h['f32.weight']!.data_offsets = [0])), /data_offsets must be \[begin, end\]/);
    expectError(editHeader((h) => (h['f32.weight']!.data_offsets = [10, 2])), /end before they begin/);
  });

  it('offsets past the end and overlapping ranges', () => {
    const size = good.length - 8 - headerLen;
    expectError(editHeader((h) => (h['scalar']!.data_offsets = [size, size + 4])), /tensor 'scalar': data_offsets \[\d+, \d+\] reach past the end/);
    expectError(
      editHeader((h) => {
        const [b] = h['f32.weight']!.data_offsets as number[];
        h['scalar']!.data_offsets = [b! + 4, b! + 8];
      }),
      /tensor '.*' data_offsets \[\d+, \d+\] must begin where '.*' ends \(\d+\): overlapping tensors/,
    );
  });

  // The reference implementation's coverage rule: sorted by offset, the tensors tile the data section exactly.
  it('a header length one byte short is rejected, not read shifted by a byte (issue #15.6)', () => {
    const padded = withHeader(header.trimEnd() + '   ');
    const short = Buffer.from(padded);
    short.writeBigUInt64LE(short.readBigUInt64LE(0) - 1n);
    expectError(short, /the tensors cover \d+ bytes but the data section after the \d+-byte header is \d+ bytes: the header length is wrong/);
    const unpadded = withHeader(header.trimEnd());
    unpadded.writeBigUInt64LE(unpadded.readBigUInt64LE(0) - 1n);
    expectError(unpadded, /not valid JSON/);
    const long = Buffer.from(padded);
    long.writeBigUInt64LE(long.readBigUInt64LE(0) + 1n);
    expectError(long, /not valid JSON|the tensors cover \d+ bytes but the data section .* is \d+ bytes/);
    // The padding itself is fine: spaces (or any JSON whitespace) after the object, as the reference's serde reads it.
    const file = path.join(tmp, 'padded.safetensors');
    fs.writeFileSync(file, withHeader(header.trimEnd() + ' \n\t  '));
    const f = openSafetensors(file);
    const ref = openSafetensors(path.join(FIXTURES, 'torch_all.safetensors'));
    for (const n of ref.names()) expect(rawBytes(f.load(n))).toEqual(rawBytes(ref.load(n)));
    f.close();
    ref.close();
  });

  it('holes, trailing bytes and a first tensor not at byte 0 are rejected', () => {
    const data = good.subarray(8 + headerLen);
    expectError(withHeader(header, Buffer.concat([data, Buffer.alloc(4)])), /the tensors cover \d+ bytes but the data section .* is \d+ bytes.*trailing bytes/);
    const shifted = (h: Record<string, Record<string, unknown>>): void => {
      for (const e of Object.entries(h)) if (e[0] !== '__metadata__') e[1].data_offsets = (e[1].data_offsets as number[]).map((o) => o + 4);
    };
    const h = JSON.parse(header) as Record<string, Record<string, unknown>>;
    shifted(h);
    expectError(withHeader(JSON.stringify(h), Buffer.concat([Buffer.alloc(4), data])), /the first tensor must begin at byte 0 of the data section/);
    // A hole: 4 zero bytes before the last tensor's data, its offsets moved past them; only the hole is wrong.
    const h2 = JSON.parse(header) as Record<string, Record<string, unknown>>;
    const [lastName, last] = Object.entries(h2).filter(([n]) => n !== '__metadata__').sort(([, x], [, y]) => (y.data_offsets as number[])[0]! - (x.data_offsets as number[])[0]!)[0]!;
    const [b, e] = last.data_offsets as number[];
    last.data_offsets = [b! + 4, e! + 4];
    expectError(withHeader(JSON.stringify(h2), Buffer.concat([data.subarray(0, b!), Buffer.alloc(4), data.subarray(b!)])), new RegExp(`tensor '${lastName}' data_offsets \\[${b! + 4}, ${e! + 4}\\] must begin where '.*' ends \\(${b}\\): a hole between tensors`));
  });

  it('FIFOs, devices and directories are refused without blocking (issue #15.6)', () => {
    const fifo = path.join(tmp, 'fifo.safetensors');
    if (spawnSync('mkfifo', [fifo]).status === 0) {
      // Without O_NONBLOCK this open would wait forever for a writer.
      expect(() => openSafetensors(fifo)).toThrow(/fifo\.safetensors: the safetensors file is a FIFO \(named pipe\), not a regular file/);
    }
    if (fs.existsSync('/dev/zero')) expect(() => openSafetensors('/dev/zero')).toThrow(/\/dev\/zero: the safetensors file is a character device, not a regular file/);
    expect(() => openSafetensors(tmp)).toThrow(/is a directory, not a regular file/);
  });

  it('a known dtype opshift cannot load opens, and fails on load', () => {
    const file = path.join(tmp, 'fp8.safetensors');
    fs.writeFileSync(file, editHeader((h) => {
      h['u8.x']!.dtype = 'F8_E4M3';
    }));
    const f = openSafetensors(file);
    expect(f.info('u8.x').dtype).toBe('F8_E4M3');
    expect(() => f.load('u8.x')).toThrow(DTypeError);
    expect(() => f.load('u8.x')).toThrow(/unsupported dtype F8_E4M3/);
    f.close();
  });

  it('a missing file names the path', () => {
    expect(() => openSafetensors(path.join(tmp, 'missing.safetensors'))).toThrow(/missing\.safetensors: cannot open/);
    expect(() => openSafetensors(tmp)).toThrow(/not a regular file/);
  });
});
