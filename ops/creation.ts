/** Tensor factories: tensor(), zeros/ones/full/empty, arange, linspace, rand/randn/randint, fromTypedArray. */
import { storageFromNumbers, toInt64 } from '../core/convert.js';
import { allocStorage, arrayMatchesDType, dtypeOfArray, isDType, isFloating, type DType, type StorageArray } from '../core/dtype.js';
import { ArgumentError, DTypeError, ShapeError } from '../core/errors.js';
import { encodeHalf } from '../core/half.js';
import { defaultGenerator, type Generator } from '../core/random.js';
import { formatShape, numel, type Shape } from '../core/shape.js';
import { Storage } from '../core/storage.js';
import { Tensor } from '../core/tensor.js';
import { parseShapeArgs, type ShapeArgs } from './shape_args.js';

export interface DTypeOption {
  readonly dtype?: DType;
}
export interface RandomOptions extends DTypeOption {
  readonly generator?: Generator;
}

export type NestedData = number | boolean | readonly NestedData[];
type TypedInput = Float32Array | Int8Array | Uint8Array | Int16Array | Int32Array | BigInt64Array | Float64Array | Uint16Array;

function checkDType(op: string, dtype: DType | undefined): void {
  if (dtype !== undefined && !isDType(dtype)) throw new DTypeError(`${op}: unknown dtype '${String(dtype)}'`);
}

function checkShape(op: string, shape: Shape): number[] {
  if (!Array.isArray(shape)) throw new ShapeError(`${op}: shape must be an array of sizes, got ${typeof shape}`);
  for (const d of shape)
    if (!Number.isInteger(d) || d < 0) throw new ShapeError(`${op}: invalid size ${d} in shape ${formatShape(shape)}`);
  return [...shape];
}

function make(data: StorageArray, dtype: DType, shape: Shape): Tensor {
  return new Tensor(new Storage(data, dtype), shape);
}

/** Shape and flattened values of nested arrays; ragged input is an error. */
function flattenNested(data: NestedData): { shape: number[]; values: (number | boolean)[] } {
  const shape: number[] = [];
  let probe: NestedData = data;
  while (Array.isArray(probe)) {
    shape.push(probe.length);
    if (probe.length === 0) break;
    probe = (probe as readonly NestedData[])[0]!;
  }
  const values: (number | boolean)[] = [];
  const walk = (v: NestedData, depth: number, path: string) => {
    if (depth === shape.length) {
      if (Array.isArray(v)) throw new ShapeError(`tensor: ragged nested array: ${path} is an array, expected a number at depth ${depth}`);
      if (typeof v !== 'number' && typeof v !== 'boolean')
        throw new DTypeError(`tensor: element ${path} is ${typeof v}, expected a number or boolean`);
      values.push(v);
      return;
    }
    if (!Array.isArray(v) || v.length !== shape[depth])
      throw new ShapeError(
        `tensor: ragged nested array: ${path} has ${Array.isArray(v) ? `length ${v.length}` : 'a scalar'}, expected length ${shape[depth]} (shape ${formatShape(shape)})`,
      );
    (v as readonly NestedData[]).forEach((x, i) => walk(x, depth + 1, `${path}[${i}]`));
  };
  walk(data, 0, 'data');
  return { shape, values };
}

/**
 * A new tensor copying `data` (nested arrays, a number, or a typed array). Without `dtype`: all booleans give
 * bool, all integers int64, otherwise float32. (JS has one number type, so `[1, 2.0]` is int64; pass a dtype.)
 */
export function tensor(data: NestedData | TypedInput | Tensor, options: DTypeOption = {}): Tensor {
  checkDType('tensor', options.dtype);
  if (data instanceof Tensor) return options.dtype ? data.to(options.dtype).clone() : data.clone();
  if (ArrayBuffer.isView(data)) {
    const arr = data as TypedInput;
    if (arr instanceof Uint16Array) {
      if (options.dtype !== 'float16' && options.dtype !== 'bfloat16')
        throw new DTypeError('tensor: a Uint16Array holds 16-bit float patterns: pass { dtype: "float16" } or { dtype: "bfloat16" }');
      return make(arr.slice(), options.dtype, [arr.length]);
    }
    if (arr instanceof BigInt64Array) {
      const t = make(arr.slice(), 'int64', [arr.length]);
      return options.dtype ? t.to(options.dtype) : t;
    }
    const inferred = dtypeOfArray(arr) ?? 'float32'; // Float64Array -> float32, the default float dtype
    const dtype = options.dtype ?? inferred;
    return make(storageFromNumbers(arr as ArrayLike<number>, dtype), dtype, [arr.length]);
  }
  const { shape, values } = flattenNested(data as NestedData);
  const allBool = values.length > 0 && values.every((v) => typeof v === 'boolean');
  const allInt = values.every((v) => typeof v === 'boolean' || Number.isInteger(v));
  const dtype: DType = options.dtype ?? (allBool ? 'bool' : allInt && values.length > 0 ? 'int64' : 'float32');
  const nums = values.map((v) => (typeof v === 'boolean' ? (v ? 1 : 0) : v));
  return make(storageFromNumbers(nums, dtype), dtype, shape);
}

export function empty(...args: ShapeArgs<DTypeOption>): Tensor {
  const { shape, options } = parseShapeArgs<DTypeOption>('empty', args);
  checkDType('empty', options.dtype);
  return Tensor.empty(checkShape('empty', shape), options.dtype ?? 'float32');
}

export function zeros(...args: ShapeArgs<DTypeOption>): Tensor {
  const { shape, options } = parseShapeArgs<DTypeOption>('zeros', args);
  return empty(shape, options);
}

export function full(shape: Shape, value: number | boolean, options: DTypeOption = {}): Tensor {
  checkDType('full', options.dtype);
  const s = checkShape('full', shape);
  const v = typeof value === 'boolean' ? (value ? 1 : 0) : value;
  const dtype = options.dtype ?? (typeof value === 'boolean' ? 'bool' : Number.isInteger(value) ? 'int64' : 'float32');
  const n = numel(s);
  const one = storageFromNumbers([v], dtype);
  const data = allocStorage(dtype, n);
  (data as { fill(v: unknown): void }).fill(one[0]);
  return make(data, dtype, s);
}

export function ones(...args: ShapeArgs<DTypeOption>): Tensor {
  const { shape, options } = parseShapeArgs<DTypeOption>('ones', args);
  return full(shape, 1, { dtype: options.dtype ?? 'float32' });
}

export function zerosLike(t: Tensor, options: DTypeOption = {}): Tensor {
  return zeros(t.shape, { dtype: options.dtype ?? t.dtype });
}
export function onesLike(t: Tensor, options: DTypeOption = {}): Tensor {
  return ones(t.shape, { dtype: options.dtype ?? t.dtype });
}
export function fullLike(t: Tensor, value: number | boolean, options: DTypeOption = {}): Tensor {
  return full(t.shape, value, { dtype: options.dtype ?? t.dtype });
}

/** Values start, start+step, ... < end. int64 when all arguments are integers, else float32 (values computed in double). */
export function arange(start: number, end?: number, step = 1, options: DTypeOption = {}): Tensor {
  checkDType('arange', options.dtype);
  if (end === undefined) [start, end] = [0, start];
  if (![start, end, step].every(Number.isFinite)) throw new ArgumentError(`arange: start ${start}, end ${end}, step ${step} must be finite`);
  if (step === 0) throw new ArgumentError('arange: step must be nonzero');
  if ((end - start) * step < 0)
    throw new ArgumentError(`arange: upper bound ${end} and lower bound ${start} are inconsistent with step sign ${step}`);
  const n = Math.ceil((end - start) / step);
  const dtype = options.dtype ?? ([start, end, step].every(Number.isInteger) ? 'int64' : 'float32');
  const values = new Float64Array(n);
  for (let i = 0; i < n; i++) values[i] = start + i * step;
  return make(storageFromNumbers(values, dtype), dtype, [n]);
}

/** `steps` evenly spaced values from start to end inclusive, computed as PyTorch's CPU kernel does (from both ends). */
export function linspace(start: number, end: number, steps: number, options: DTypeOption = {}): Tensor {
  checkDType('linspace', options.dtype);
  if (!Number.isInteger(steps) || steps < 0) throw new ArgumentError(`linspace: steps must be a non-negative integer, got ${steps}`);
  const dtype = options.dtype ?? 'float32';
  const values = new Float64Array(steps);
  if (steps === 1) values[0] = start;
  else if (steps > 1) {
    // float32 dtypes step in float32 arithmetic, like the scalar_t kernel; the second half counts back from end.
    const f = isFloating(dtype) ? Math.fround : (x: number) => x;
    const step = f(f(end - start) / (steps - 1));
    const half = Math.floor(steps / 2);
    for (let i = 0; i < steps; i++) values[i] = i < half ? f(start + f(step * i)) : f(end - f(step * (steps - i - 1)));
  }
  return make(storageFromNumbers(values, dtype), dtype, [steps]);
}

function floatRandom(op: string, shape: Shape, options: RandomOptions, fill: (g: Generator, out: Float32Array) => void): Tensor {
  checkDType(op, options.dtype);
  const dtype = options.dtype ?? 'float32';
  if (!isFloating(dtype)) throw new DTypeError(`${op}: dtype must be floating point, got ${dtype}`);
  const s = checkShape(op, shape);
  const values = new Float32Array(numel(s));
  fill(options.generator ?? defaultGenerator, values);
  if (dtype === 'float32') return make(values, dtype, s);
  const data = new Uint16Array(values.length);
  encodeHalf(values, data, dtype);
  return make(data, dtype, s);
}

/** Uniform [0, 1). */
export function rand(...args: ShapeArgs<RandomOptions>): Tensor {
  const { shape, options } = parseShapeArgs<RandomOptions>('rand', args);
  return floatRandom('rand', shape, options, (g, out) => {
    for (let i = 0; i < out.length; i++) out[i] = g.uniformF32();
  });
}

/** Standard normal. */
export function randn(...args: ShapeArgs<RandomOptions>): Tensor {
  const { shape, options } = parseShapeArgs<RandomOptions>('randn', args);
  return floatRandom('randn', shape, options, (g, out) => g.fillNormal(out));
}

/** Uniform integers in [low, high); int64 unless a dtype is given. */
export function randint(low: number, high: number, shape: Shape, options: RandomOptions = {}): Tensor {
  checkDType('randint', options.dtype);
  if (!Number.isInteger(low) || !Number.isInteger(high) || high <= low)
    throw new ArgumentError(`randint: expected integers low < high, got low=${low}, high=${high}`);
  const s = checkShape('randint', shape);
  const g = options.generator ?? defaultGenerator;
  const dtype = options.dtype ?? 'int64';
  const n = numel(s);
  if (dtype === 'int64') {
    const data = new BigInt64Array(n);
    for (let i = 0; i < n; i++) data[i] = toInt64(g.randint(low, high));
    return make(data, dtype, s);
  }
  const values = new Float64Array(n);
  for (let i = 0; i < n; i++) values[i] = g.randint(low, high);
  return make(storageFromNumbers(values, dtype), dtype, s);
}

/**
 * Wrap a typed array without copying: the tensor shares the array's memory. A Uint16Array needs dtype
 * float16 or bfloat16 (it holds bit patterns); a Uint8Array may be given dtype bool.
 */
export function fromTypedArray(data: StorageArray, shape?: Shape, options: DTypeOption = {}): Tensor {
  checkDType('fromTypedArray', options.dtype);
  const dtype = options.dtype ?? dtypeOfArray(data);
  if (dtype === undefined)
    throw new DTypeError(`fromTypedArray: a ${data.constructor.name} is ambiguous: pass { dtype: 'float16' } or { dtype: 'bfloat16' }`);
  if (!arrayMatchesDType(data, dtype))
    throw new DTypeError(`fromTypedArray: a ${data.constructor.name} cannot hold dtype ${dtype}`);
  const s = checkShape('fromTypedArray', shape ?? [data.length]);
  if (numel(s) !== data.length)
    throw new ShapeError(`fromTypedArray: shape ${formatShape(s)} has ${numel(s)} elements but the array has ${data.length}`);
  return make(data, dtype, s);
}
