/**
 * CPU kernels for ops/reduce_more.ts: prod, any, all over any dims, nonzero and unique. The input is viewed with
 * the reduced dims last and read row-major (toArray), so each output element reduces one contiguous row.
 */
import { isFloating } from '../../../core/dtype.js';
import { encodeHalf } from '../../../core/half.js';
import type { Kernel, OpDef } from '../../../core/op_def.js';
import { normalizeDims } from '../../../core/shape.js';
import type { Tensor } from '../../../core/tensor.js';
import type { UnaryInputs } from '../../../ops/elementwise.js';
import type { ReduceAttrs } from '../../../ops/reduce.js';
import * as R from '../../../ops/reduce_more.js';

type Values = Float32Array | Int8Array | Uint8Array | Int16Array | Int32Array | BigInt64Array;

/** x's elements with the reduced dims moved last, row-major, and the length of one reduced row. */
function rowsOf(x: Tensor, dims: readonly number[] | null): { values: Values; rowLen: number } {
  const d = normalizeDims('reduce', dims === null || dims.length === 0 ? undefined : dims, x.shape);
  const kept = x.shape.map((_, i) => i).filter((i) => !d.includes(i));
  const rowLen = d.reduce((p, i) => p * x.shape[i]!, 1);
  return { values: x.ndim === 0 ? x.toArray() : x.permute([...kept, ...d]).toArray(), rowLen };
}

/** Store doubles (or BigInts for int64) into out, rounding to float16/bfloat16 where needed. */
function store(out: Tensor, vals: Float64Array | BigInt64Array): void {
  const data = out.storage.data;
  if (out.dtype === 'float16' || out.dtype === 'bfloat16') encodeHalf(Float32Array.from(vals as Float64Array), data as Uint16Array, out.dtype);
  else if (out.dtype === 'int64') (data as BigInt64Array).set(vals instanceof BigInt64Array ? vals : BigInt64Array.from(vals, (v) => BigInt(v)));
  else (data as Float32Array).set(vals instanceof BigInt64Array ? Array.from(vals, Number) : vals);
}

export const prodKernel: Kernel<UnaryInputs, R.ProdAttrs> = {
  run({ x }, { dims }, [out]) {
    // Cast first when a dtype is asked for, as PyTorch's prod(dtype=) does.
    // Integers and bool multiply exactly as BigInts below; anything else converts to the output dtype first.
    const src = x.dtype === out!.dtype || (out!.dtype === 'int64' && !isFloating(x.dtype)) ? x : x.to(out!.dtype);
    const { values, rowLen } = rowsOf(src, dims);
    const n = out!.numel();
    if (out!.dtype === 'int64') {
      const acc = new BigInt64Array(n);
      for (let r = 0; r < n; r++) {
        let p = 1n;
        for (let j = 0; j < rowLen; j++) p = BigInt.asIntN(64, p * BigInt(values[r * rowLen + j]!));
        acc[r] = p;
      }
      store(out!, acc);
      return;
    }
    const acc = new Float64Array(n);
    const v = values as Float32Array;
    for (let r = 0; r < n; r++) {
      let p = 1;
      for (let j = 0; j < rowLen; j++) p *= v[r * rowLen + j]!;
      acc[r] = p;
    }
    store(out!, acc);
  },
};

function logicalKernel(isAll: boolean): Kernel<UnaryInputs, ReduceAttrs> {
  return {
    run({ x }, { dims }, [out]) {
      const { values, rowLen } = rowsOf(x, dims);
      const o = out!.storage.data as Uint8Array;
      const zero = values instanceof BigInt64Array ? 0n : 0;
      for (let r = 0; r < o.length; r++) {
        let acc = isAll;
        for (let j = 0; j < rowLen; j++) {
          // NaN !== 0, so NaN counts as true, as in C.
          const nz = values[r * rowLen + j] !== zero;
          if (nz !== isAll) {
            acc = !isAll;
            break;
          }
        }
        o[r] = acc ? 1 : 0;
      }
    },
  };
}

export const nonzeroKernel: Kernel<UnaryInputs, Record<string, never>> = {
  run({ x }, _attrs, [out]) {
    const flags = R.nonzeroFlags(x);
    const o = out!.storage.data as BigInt64Array;
    const nd = x.ndim;
    const idx = new Array<number>(nd).fill(0);
    let k = 0;
    for (let i = 0; i < flags.length; i++) {
      if (flags[i]) for (let d = 0; d < nd; d++) o[k++] = BigInt(idx[d]!);
      for (let d = nd - 1; d >= 0; d--) {
        if (++idx[d]! < x.shape[d]!) break;
        idx[d] = 0;
      }
    }
  },
};

export const uniqueKernel: Kernel<UnaryInputs, R.UniqueAttrs> = {
  run({ x }, { returnInverse, returnCounts }, outs) {
    const distinct = R.distinctSorted(x);
    const values = outs[0]!;
    if (values.dtype === 'int64') (values.storage.data as BigInt64Array).set(distinct as bigint[]);
    else store(values, Float64Array.from(distinct as number[]));
    if (!returnInverse && !returnCounts) return;
    const pos = new Map<number | bigint, number>();
    (distinct as (number | bigint)[]).forEach((v, i) => pos.set(Number.isNaN(v) ? NaN : v, i));
    const all = x.toArray();
    const counts = new BigInt64Array(distinct.length);
    const inverse = returnInverse ? (outs[1]!.storage.data as BigInt64Array) : undefined;
    for (let i = 0; i < all.length; i++) {
      const p = pos.get(all[i]!)!;
      if (inverse) inverse[i] = BigInt(p);
      counts[p]!++;
    }
    if (returnCounts) (outs[returnInverse ? 2 : 1]!.storage.data as BigInt64Array).set(counts);
  },
};

export const reduceMoreKernels = [
  [R.Prod, prodKernel],
  [R.Any, logicalKernel(false)],
  [R.All, logicalKernel(true)],
  [R.NonZero, nonzeroKernel],
  [R.Unique, uniqueKernel],
] as unknown as [OpDef<never, never>, Kernel<never, never>][];
