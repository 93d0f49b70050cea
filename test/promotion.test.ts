/**
 * Type promotion against PyTorch (test/fixtures/promote.json): torch.promote_types for every dtype pair, and
 * torch.result_type / the dtype of `a + b` for tensors with Python scalars and 0-dim tensors.
 */
import { describe, expect, it } from 'vitest';
import { add, DTYPES, ones, promoteTypes, resultType, Tensor, tensor, type DType } from '../core/index.js';
import { loadFixture } from './helpers.js';

type Operand = { dtype: DType; ndim: 0 | 1 } | { scalar: number | boolean; kind: 'int' | 'float' | 'bool' };

interface PromoteFixture {
  dtypes: DType[];
  promote_types: [DType, DType, DType][];
  result_type: { a: Operand; b: Operand; dtype: DType }[];
}

const fx = loadFixture<PromoteFixture>('promote.json');

function sample(dtype: DType): Tensor {
  return tensor(dtype === 'bool' ? true : 1, { dtype });
}

function make(o: Operand): Tensor | number | boolean {
  if ('scalar' in o) {
    // The JS number must be the same kind of scalar as the Python one (an integral number is an int scalar).
    expect(typeof o.scalar === 'boolean' ? 'bool' : Number.isInteger(o.scalar) ? 'int' : 'float').toBe(o.kind);
    return o.scalar;
  }
  return o.ndim === 0 ? sample(o.dtype) : ones([3], { dtype: o.dtype });
}

const label = (o: Operand) => ('scalar' in o ? `${o.kind} scalar ${String(o.scalar)}` : `${o.dtype}${o.ndim === 0 ? ' 0-dim' : '[3]'}`);

describe('promoteTypes (torch.promote_types)', () => {
  it('covers every pair of the 9 dtypes', () => {
    expect(fx.dtypes).toEqual([...DTYPES]);
    expect(fx.promote_types.length).toBe(81);
  });

  it('matches torch for every pair', () => {
    const got = fx.promote_types.map(([a, b]) => [a, b, promoteTypes(a, b)]);
    expect(got).toEqual(fx.promote_types);
  });
});

describe('resultType and the dtype of add (torch.result_type)', () => {
  it('has cases for scalars, 0-dim tensors and dimensioned tensors of every dtype', () => {
    expect(fx.result_type.length).toBe(DTYPES.length * (3 + 2 * DTYPES.length + 3));
  });

  it('resultType matches torch.result_type', () => {
    const bad: string[] = [];
    for (const c of fx.result_type) {
      const ops = [make(c.a), make(c.b)].map((v) => (v instanceof Tensor ? v : Tensor.fromScalar(v)));
      const got = resultType(ops);
      if (got !== c.dtype) bad.push(`${label(c.a)} with ${label(c.b)}: ${got}, torch ${c.dtype}`);
    }
    expect(bad).toEqual([]);
  });

  it('add() produces that dtype, with the operands in either order', () => {
    const bad: string[] = [];
    for (const c of fx.result_type) {
      const a = make(c.a);
      const b = make(c.b);
      const ab = add(a, b).dtype;
      const ba = add(b, a).dtype;
      if (ab !== c.dtype || ba !== c.dtype) bad.push(`${label(c.a)} + ${label(c.b)}: ${ab}/${ba}, torch ${c.dtype}`);
    }
    expect(bad).toEqual([]);
  });

  it('spot checks from the fixture', () => {
    const find = (a: Operand, b: Operand) =>
      fx.result_type.find((c) => JSON.stringify(c.a) === JSON.stringify(a) && JSON.stringify(c.b) === JSON.stringify(b))!.dtype;
    expect(find({ dtype: 'int8', ndim: 1 }, { scalar: 2.5, kind: 'float' })).toBe('float32');
    expect(find({ dtype: 'float16', ndim: 1 }, { scalar: 2.5, kind: 'float' })).toBe('float16');
    expect(find({ dtype: 'uint8', ndim: 1 }, { dtype: 'int64', ndim: 0 })).toBe('uint8');
    expect(find({ dtype: 'int32', ndim: 1 }, { dtype: 'float16', ndim: 0 })).toBe('float16');
    expect(find({ dtype: 'bool', ndim: 1 }, { scalar: 2, kind: 'int' })).toBe('int64');
    expect(find({ dtype: 'uint8', ndim: 0 }, { dtype: 'int8', ndim: 0 })).toBe('int16');
  });
});
