/**
 * The op-case catalog (tools/op_cases.ts) against PyTorch (test/fixtures/op_cases.json, written by
 * make_op_cases.py from the same catalog), and every composite op's fused kernel against its decomposition.
 *
 * Tolerances: `exact` cases (movement, integer math, casts, single correctly rounded float ops) must match bit
 * for bit (NaN matches NaN); float cases use the case's `tol` or the dtype default: float32 rtol 1e-5 /
 * atol 1e-6, float16 rtol 2e-3, bfloat16 rtol 1.6e-2 (one to two units in the last place).
 */
import { describe, expect, it } from 'vitest';
import { getOp, withBackend, withPolicy, type DType, type Tensor } from '../core/index.js';
import { buildArgs, defaultTolerance, OP_CASES, runCase, type OpCase, type Tolerance } from '../tools/op_cases.js';
import { loadFixture } from './helpers.js';

interface Encoded {
  dtype: DType;
  shape: number[];
  b64: string;
}
const golden = loadFixture<Record<string, { outs: Encoded[]; ref?: string }>>('op_cases.json');

/** Raw stored elements of a contiguous copy, as numbers (bit patterns for float16/bfloat16). */
function rawNumbers(t: Tensor): number[] {
  return Array.from(t.toTypedArray() as ArrayLike<number | bigint>, Number);
}

function decode(e: Encoded): number[] {
  const buf = Buffer.from(e.b64, 'base64');
  const ab = buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength);
  switch (e.dtype) {
    case 'float32':
      return Array.from(new Float32Array(ab));
    case 'float16':
    case 'bfloat16':
      return Array.from(new Uint16Array(ab));
    case 'int8':
      return Array.from(new Int8Array(ab));
    case 'int16':
      return Array.from(new Int16Array(ab));
    case 'int32':
      return Array.from(new Int32Array(ab));
    case 'int64':
      return Array.from(new BigInt64Array(ab), Number);
    default:
      return Array.from(new Uint8Array(ab));
  }
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);
function halfToNumber(bits: number, dtype: DType): number {
  if (dtype === 'bfloat16') {
    u32[0] = bits << 16;
    return f32[0]!;
  }
  const s = bits & 0x8000 ? -1 : 1;
  const e = (bits >> 10) & 0x1f;
  const m = bits & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

function values(raw: number[], dtype: DType): number[] {
  return dtype === 'float16' || dtype === 'bfloat16' ? raw.map((b) => halfToNumber(b, dtype)) : raw;
}

/** Compare one output: exact (bitwise, NaN = NaN) or within tolerance. Returns a failure message or ''. */
export function compareOutput(got: Tensor, want: { dtype: DType; shape: readonly number[]; raw: number[] }, exact: boolean, tol: Tolerance): string {
  if (got.dtype !== want.dtype) return `dtype ${got.dtype} vs ${want.dtype}`;
  if (got.shape.join(',') !== want.shape.join(',')) return `shape [${got.shape}] vs [${want.shape}]`;
  const a = values(rawNumbers(got), got.dtype);
  const b = values(want.raw, want.dtype);
  for (let i = 0; i < b.length; i++) {
    const x = a[i]!;
    const y = b[i]!;
    if (Number.isNaN(y) && Number.isNaN(x)) continue;
    if (exact ? !Object.is(x, y) : !(Math.abs(x - y) <= tol.atol + tol.rtol * Math.abs(y) || x === y))
      return `element ${i}: got ${x}, want ${y}${exact ? ' (exact)' : ` (rtol ${tol.rtol}, atol ${tol.atol})`}`;
  }
  return '';
}

const stored = OP_CASES.filter((c) => !(c.tags ?? []).includes('bench'));

describe('op-case catalog', () => {
  it('has unique names, known ops, and a golden entry for every stored case', () => {
    const names = new Set<string>();
    for (const c of OP_CASES) {
      expect(names.has(c.name), `duplicate case ${c.name}`).toBe(false);
      names.add(c.name);
      expect(getOp(c.op), `${c.name}: unknown op ${c.op}`).toBeDefined();
    }
    const missing = stored.filter((c) => !golden[c.name]).map((c) => c.name);
    expect(missing, 'cases without PyTorch outputs: run `npm run fixtures`').toEqual([]);
  });

  it('runs every case through the op it names', () => {
    // A case must exercise its op, or the coverage matrix and cross-backend tests would lie.
    for (const c of stored) expect(getOp(c.op)!.kernels.size + (getOp(c.op)!.decompose ? 1 : 0), c.name).toBeGreaterThan(0);
  });
});

describe('cpu matches PyTorch on every catalog case', () => {
  for (const c of stored) {
    it(c.name, () => {
      const g = golden[c.name]!;
      const outs = withBackend('cpu', () => runCase(c));
      expect(outs.length).toBe(g.outs.length);
      outs.forEach((o, i) => {
        const want = g.outs[i]!;
        const tol = c.tol ?? defaultTolerance(want.dtype);
        expect(compareOutput(o, { dtype: want.dtype, shape: want.shape, raw: decode(want) }, c.exact === true, tol)).toBe('');
      });
    });
  }
});

describe('fused kernels match their decompositions', () => {
  const composite = OP_CASES.filter((c: OpCase) => getOp(c.op)?.decompose && !(c.tags ?? []).includes('bench'));
  it('covers every composite op', () => {
    expect(new Set(composite.map((c) => c.op)).size).toBeGreaterThanOrEqual(4);
  });
  for (const c of composite) {
    it(c.name, () => {
      const args = buildArgs(c);
      const fused = runCase(c, args);
      const decomposed = withPolicy({ [c.op]: 'decompose' }, () => runCase(c, args));
      fused.forEach((f, i) => {
        const d = decomposed[i]!;
        // The decomposition rounds every intermediate to the dtype; allow a few units in the last place.
        const base = c.tol ?? defaultTolerance(f.dtype);
        const tol = { rtol: base.rtol * 4, atol: base.atol * 4 };
        expect(compareOutput(f, { dtype: d.dtype, shape: d.shape, raw: Array.from(d.toTypedArray() as ArrayLike<number | bigint>, Number) }, false, tol)).toBe('');
      });
    });
  }
});
