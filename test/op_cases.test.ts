/**
 * The op-case catalog (tools/op_cases.ts) against PyTorch (test/fixtures/op_cases.json, written by
 * make_op_cases.py from the same catalog), and every composite op's fused kernel against its decomposition.
 *
 * Tolerances: `exact` cases (movement, integer math, casts, single correctly rounded float ops) must match bit
 * for bit (NaN matches NaN); float cases use the case's `tol` or the dtype default: float32 rtol 1e-5 /
 * atol 1e-6, float16 rtol 2e-3, bfloat16 rtol 1.6e-2 (one to two units in the last place).
 */
import { describe, expect, it } from 'vitest';
import { getOp, withBackend, withPolicy } from '../core/index.js';
import { buildArgs, defaultTolerance, OP_CASES, runCase, type OpCase } from '../tools/op_cases.js';
import { loadFixture } from './helpers.js';
import { compareOutput, decode, type Encoded } from './compare.js';

const golden = loadFixture<Record<string, { outs: Encoded[]; ref?: string }>>('op_cases.json');

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
