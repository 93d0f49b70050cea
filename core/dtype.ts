/**
 * Data types, their storage arrays and PyTorch's type-promotion rules.
 *
 * float16 and bfloat16 are stored as raw 16-bit patterns in a Uint16Array (see half.ts);
 * int64 is stored in a BigInt64Array so values above 2^53 stay exact; bool is a Uint8Array of 0/1.
 */
export const DTYPES = ['float32', 'float16', 'bfloat16', 'int8', 'uint8', 'int16', 'int32', 'int64', 'bool'] as const;
export type DType = (typeof DTYPES)[number];

export type StorageArray =
  | Float32Array
  | Uint16Array
  | Int8Array
  | Uint8Array
  | Int16Array
  | Int32Array
  | BigInt64Array;

export type FloatDType = 'float32' | 'float16' | 'bfloat16';
export type IntDType = 'int8' | 'uint8' | 'int16' | 'int32' | 'int64';

export function isDType(name: string): name is DType {
  return (DTYPES as readonly string[]).includes(name);
}

export function isFloating(d: DType): d is FloatDType {
  return d === 'float32' || d === 'float16' || d === 'bfloat16';
}

export function isIntegral(d: DType): d is IntDType {
  return d === 'int8' || d === 'uint8' || d === 'int16' || d === 'int32' || d === 'int64';
}

/** Bytes per element as stored. */
export function itemSize(d: DType): number {
  switch (d) {
    case 'float32':
    case 'int32':
      return 4;
    case 'float16':
    case 'bfloat16':
    case 'int16':
      return 2;
    case 'int8':
    case 'uint8':
    case 'bool':
      return 1;
    case 'int64':
      return 8;
  }
}

export function allocStorage(d: DType, n: number): StorageArray {
  switch (d) {
    case 'float32':
      return new Float32Array(n);
    case 'float16':
    case 'bfloat16':
      return new Uint16Array(n);
    case 'int8':
      return new Int8Array(n);
    case 'uint8':
    case 'bool':
      return new Uint8Array(n);
    case 'int16':
      return new Int16Array(n);
    case 'int32':
      return new Int32Array(n);
    case 'int64':
      return new BigInt64Array(n);
  }
}

/** The dtype a typed array maps to without further information (Uint16Array is ambiguous: float16 or bfloat16). */
export function dtypeOfArray(a: ArrayBufferView): DType | undefined {
  if (a instanceof Float32Array) return 'float32';
  if (a instanceof Int8Array) return 'int8';
  if (a instanceof Uint8Array) return 'uint8';
  if (a instanceof Int16Array) return 'int16';
  if (a instanceof Int32Array) return 'int32';
  if (a instanceof BigInt64Array) return 'int64';
  return undefined;
}

/** True when `a` is the array type that stores dtype `d`. */
export function arrayMatchesDType(a: ArrayBufferView, d: DType): boolean {
  switch (d) {
    case 'float32':
      return a instanceof Float32Array;
    case 'float16':
    case 'bfloat16':
      return a instanceof Uint16Array;
    case 'int8':
      return a instanceof Int8Array;
    case 'uint8':
    case 'bool':
      return a instanceof Uint8Array;
    case 'int16':
      return a instanceof Int16Array;
    case 'int32':
      return a instanceof Int32Array;
    case 'int64':
      return a instanceof BigInt64Array;
  }
}

/** PyTorch's name, used in printing and error messages (`torch.float16`). */
export function torchName(d: DType): string {
  return `torch.${d}`;
}

// Rank within the integer lattice; the signedness matters for uint8.
const INT_BITS: Record<IntDType, number> = { int8: 8, uint8: 8, int16: 16, int32: 32, int64: 64 };

/** torch.promote_types for the dtypes opshift has. */
export function promoteTypes(a: DType, b: DType): DType {
  if (a === b) return a;
  if (a === 'bool') return b;
  if (b === 'bool') return a;
  const fa = isFloating(a);
  const fb = isFloating(b);
  if (fa && fb) {
    // float16 and bfloat16 have no common 16-bit type: both fit float32.
    if (a === 'float32' || b === 'float32') return 'float32';
    return 'float32';
  }
  if (fa) return a;
  if (fb) return b;
  const ia = a as IntDType;
  const ib = b as IntDType;
  if (ia === 'uint8' || ib === 'uint8') {
    const other = ia === 'uint8' ? ib : ia;
    // uint8 with int8 needs int16 to hold both ranges.
    return other === 'int8' ? 'int16' : other;
  }
  return INT_BITS[ia] >= INT_BITS[ib] ? ia : ib;
}

type Category = 0 | 1 | 2; // bool, integral, floating

function category(d: DType): Category {
  return d === 'bool' ? 0 : isFloating(d) ? 2 : 1;
}

/** One operand as type promotion sees it: a dimensioned tensor, a 0-dim tensor, or a wrapped JS number. */
export interface PromotionOperand {
  readonly dtype: DType;
  readonly ndim: number;
  readonly isWrappedNumber: boolean;
}

// PyTorch's combine_categories (c10 TypeProperties.cpp): a lower-priority group only matters when it is of a
// higher category than the higher-priority group.
function combine(higher: DType | undefined, lower: DType | undefined): DType | undefined {
  if (higher === undefined) return lower;
  if (lower === undefined) return higher;
  if (isFloating(higher)) return higher;
  if (higher === 'bool' || isFloating(lower)) return promoteTypes(higher, lower);
  return higher;
}

/**
 * torch.result_type: dimensioned tensors outrank 0-dim tensors, which outrank wrapped numbers, unless the
 * lower group is of a higher category (bool < integral < floating). A wrapped float counts as float32.
 */
export function resultType(operands: readonly PromotionOperand[]): DType {
  let dim: DType | undefined;
  let zero: DType | undefined;
  let wrapped: DType | undefined;
  for (const o of operands) {
    if (o.isWrappedNumber) wrapped = wrapped === undefined ? o.dtype : promoteTypes(wrapped, o.dtype);
    else if (o.ndim === 0) zero = zero === undefined ? o.dtype : promoteTypes(zero, o.dtype);
    else dim = dim === undefined ? o.dtype : promoteTypes(dim, o.dtype);
  }
  const r = combine(dim, combine(zero, wrapped));
  if (r === undefined) throw new Error('resultType: no operands');
  return r;
}

export function sameCategoryOrHigher(a: DType, b: DType): boolean {
  return category(a) >= category(b);
}
