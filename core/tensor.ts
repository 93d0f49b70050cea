/**
 * Tensor: a view (shape, strides, offset) over a Storage. View methods (reshape, permute, narrow, expand, ...)
 * only compute new metadata and share the storage. Compute methods are one-line sugar over `ops/`, which go
 * through the dispatcher; no logic lives here.
 */
import { allocStorage, type DType } from './dtype.js';
import { takeArray } from './pool.js';
import { scopeState } from './scope.js';
import { forEachOffset, readNumber } from './elements.js';
import { DisposedError, ShapeError } from './errors.js';
import { formatTensor } from './format.js';
import {
  contiguousStrides,
  formatShape,
  inferShape,
  isContiguous,
  normalizeDim,
  numel,
  viewStrides,
  type Shape,
} from './shape.js';
import { Storage, type Device } from './storage.js';
import * as ops from '../ops/index.js';

/** What ops accept where PyTorch accepts a tensor or a Python number. */
export type TensorLike = Tensor | number | boolean;

/** Nested JS arrays as returned by tolist(). */
export type NestedList = number | boolean | NestedList[];

export class Tensor {
  readonly shape: readonly number[];
  readonly strides: readonly number[];
  readonly offset: number;
  readonly storage: Storage;
  /**
   * Set when this 0-dim tensor stands for a JS number passed to an op (`x.add(2)`): type promotion then treats
   * it like PyTorch treats a Python scalar, and kernels use the exact value.
   */
  readonly wrappedValue: number | boolean | undefined;
  #disposed = false;
  /** keep(): no tidy() scope disposes this tensor. */
  #kept = false;

  constructor(storage: Storage, shape: Shape, strides?: readonly number[], offset = 0, wrappedValue?: number | boolean) {
    // Every handle, views included, holds a reference: the storage is released only when the last one is disposed.
    storage.retain();
    this.storage = storage;
    this.shape = shape;
    this.strides = strides ?? contiguousStrides(shape);
    this.offset = offset;
    this.wrappedValue = wrappedValue;
    scopeState.current?.push(this);
  }

  /** A new contiguous tensor with zeroed storage. */
  static empty(shape: Shape, dtype: DType): Tensor {
    return new Tensor(new Storage(allocStorage(dtype, numel(shape)), dtype), [...shape]);
  }

  /**
   * A new contiguous op output, its array from the pool when one of that size was released (core/pool.ts);
   * zero-filled unless `zero` is false (the op's kernels write every element). The storage may go back to the
   * pool once every tensor on it is disposed.
   */
  static output(shape: Shape, dtype: DType, zero: boolean): Tensor {
    const storage = new Storage(takeArray(dtype, numel(shape), zero), dtype);
    storage.poolable = true;
    return new Tensor(storage, shape);
  }

  // ---- explicit release: dispose(), `using`, tidy() (core/scope.ts) ----

  /**
   * Release this handle now instead of at garbage collection. The storage is released (and its array may be
   * reused by a later op output) when no other tensor views it; a second dispose() does nothing. Using the
   * tensor afterwards throws DisposedError naming the op.
   */
  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    this.storage.release();
  }

  /** `using t = x.add(y)` disposes t at the end of the block (TypeScript 5.2 explicit resource management). */
  [Symbol.dispose](): void {
    this.dispose();
  }

  get isDisposed(): boolean {
    return this.#disposed;
  }

  /** Exempt from every tidy() scope (the tensor lives until dispose() or garbage collection); returns this. */
  keep(): this {
    this.#kept = true;
    return this;
  }

  get isKept(): boolean {
    return this.#kept;
  }

  /** Throws DisposedError naming `op` when this tensor was disposed. */
  assertLive(op: string): void {
    if (this.#disposed) throw new DisposedError(op, `tensor ${this.dtype}[${this.shape.join(', ')}]`);
  }

  /** Wraps a JS number as PyTorch wraps a Python scalar: int64 for integers, float32 for others, bool for booleans. */
  static fromScalar(v: number | boolean): Tensor {
    let dtype: DType;
    let data;
    if (typeof v === 'boolean') {
      dtype = 'bool';
      data = Uint8Array.of(v ? 1 : 0);
    } else if (Number.isInteger(v)) {
      dtype = 'int64';
      data = BigInt64Array.of(BigInt(v));
    } else {
      dtype = 'float32';
      data = Float32Array.of(v);
    }
    return new Tensor(new Storage(data, dtype), [], [], 0, v);
  }

  get dtype(): DType {
    return this.storage.dtype;
  }
  get device(): Device {
    return this.storage.device;
  }
  get ndim(): number {
    return this.shape.length;
  }
  /** Number of elements (PyTorch's `numel()`). */
  numel(): number {
    return numel(this.shape);
  }
  get isWrappedNumber(): boolean {
    return this.wrappedValue !== undefined;
  }
  get isConstant(): boolean {
    return this.storage.constant;
  }

  size(dim?: number): number | readonly number[] {
    return dim === undefined ? this.shape : this.shape[normalizeDim('size', dim, this.ndim, this.shape)]!;
  }
  dim(): number {
    return this.ndim;
  }
  isContiguous(): boolean {
    return isContiguous(this.shape, this.strides);
  }
  /** Marks the storage constant (weights): backends may prepare and cache it. Returns this. */
  markConstant(): this {
    this.storage.constant = true;
    return this;
  }

  // ---- views: metadata only, storage shared ----

  private withView(shape: readonly number[], strides: readonly number[], offset = this.offset): Tensor {
    if (this.#disposed) this.assertLive('view');
    return new Tensor(this.storage, shape, strides, offset);
  }

  view(...shape: number[] | [readonly number[]]): Tensor {
    const req = inferShape('view', flatArgs(shape), this.numel(), this.shape);
    const strides = viewStrides(this.shape, this.strides, req);
    if (!strides)
      throw new ShapeError(
        `view: shape ${formatShape(this.shape)} with strides ${formatShape(this.strides)} cannot be viewed as ${formatShape(req)} ` +
          `without a copy: size is not compatible with the input's size and stride; use reshape()`,
      );
    return this.withView(req, strides);
  }

  /** Like view(), but copies when the layout does not allow a view (PyTorch semantics). */
  reshape(...shape: number[] | [readonly number[]]): Tensor {
    const req = inferShape('reshape', flatArgs(shape), this.numel(), this.shape);
    const strides = viewStrides(this.shape, this.strides, req);
    if (strides) return this.withView(req, strides);
    return this.contiguous().view(req);
  }

  flatten(startDim = 0, endDim = -1): Tensor {
    if (this.ndim === 0) return this.reshape([1]);
    const s = normalizeDim('flatten', startDim, this.ndim, this.shape);
    const e = normalizeDim('flatten', endDim, this.ndim, this.shape);
    if (s > e) throw new ShapeError(`flatten: start_dim ${startDim} comes after end_dim ${endDim} for shape ${formatShape(this.shape)}`);
    const merged = this.shape.slice(s, e + 1).reduce((a, b) => a * b, 1);
    return this.reshape([...this.shape.slice(0, s), merged, ...this.shape.slice(e + 1)]);
  }

  permute(...dims: number[] | [readonly number[]]): Tensor {
    const d = flatArgs(dims);
    if (d.length !== this.ndim)
      throw new ShapeError(`permute: got ${d.length} dims [${d.join(',')}] for a ${this.ndim}-d tensor of shape ${formatShape(this.shape)}`);
    const seen = new Array<boolean>(this.ndim).fill(false);
    const nd = d.map((x) => normalizeDim('permute', x, this.ndim, this.shape));
    for (const x of nd) {
      if (seen[x]) throw new ShapeError(`permute: dim ${x} repeats in [${d.join(',')}]`);
      seen[x] = true;
    }
    return this.withView(
      nd.map((i) => this.shape[i]!),
      nd.map((i) => this.strides[i]!),
    );
  }

  transpose(dim0: number, dim1: number): Tensor {
    const a = normalizeDim('transpose', dim0, this.ndim, this.shape);
    const b = normalizeDim('transpose', dim1, this.ndim, this.shape);
    if (this.ndim === 0) return this;
    const shape = [...this.shape];
    const strides = [...this.strides];
    [shape[a], shape[b]] = [shape[b]!, shape[a]!];
    [strides[a], strides[b]] = [strides[b]!, strides[a]!];
    return this.withView(shape, strides);
  }

  /** Matrix transpose for tensors of rank <= 2, as torch.Tensor.t(). */
  t(): Tensor {
    if (this.ndim > 2) throw new ShapeError(`t: expects a tensor with <= 2 dims, but shape ${formatShape(this.shape)} is ${this.ndim}-d; use transpose()`);
    return this.ndim < 2 ? this : this.transpose(0, 1);
  }

  /** Elements [start, start+length) along `dim`. */
  narrow(dim: number, start: number, length: number): Tensor {
    if (this.ndim === 0) throw new ShapeError('narrow: cannot be applied to a 0-dim tensor');
    const d = normalizeDim('narrow', dim, this.ndim, this.shape);
    const size = this.shape[d]!;
    const s = start < 0 ? start + size : start;
    if (!Number.isInteger(s) || !Number.isInteger(length) || s < 0 || length < 0 || s + length > size)
      throw new ShapeError(
        `narrow: start ${start} + length ${length} exceeds dim ${d} of size ${size} (shape ${formatShape(this.shape)})`,
      );
    const shape = [...this.shape];
    shape[d] = length;
    return this.withView(shape, this.strides, this.offset + s * this.strides[d]!);
  }

  /** Python slicing `x[..., start:end:step, ...]` on one dim; bounds clamp like Python, step must be positive. */
  slice(dim: number, start?: number, end?: number, step = 1): Tensor {
    if (this.ndim === 0) throw new ShapeError('slice: cannot be applied to a 0-dim tensor');
    const d = normalizeDim('slice', dim, this.ndim, this.shape);
    if (!Number.isInteger(step) || step <= 0) throw new ShapeError(`slice: step must be a positive integer, got ${step}`);
    const size = this.shape[d]!;
    const clamp = (v: number) => Math.min(Math.max(v < 0 ? v + size : v, 0), size);
    const s = start === undefined ? 0 : clamp(start);
    const e = end === undefined ? size : clamp(end);
    const len = e > s ? Math.ceil((e - s) / step) : 0;
    const shape = [...this.shape];
    const strides = [...this.strides];
    shape[d] = len;
    strides[d] = this.strides[d]! * step;
    // The offset moves to the (clamped) start even when the slice is empty, as in PyTorch's slice().
    return this.withView(shape, strides, this.offset + s * this.strides[d]!);
  }

  /** Broadcast to a larger shape without copying (stride 0 on expanded dims); -1 keeps a size. */
  expand(...sizes: number[] | [readonly number[]]): Tensor {
    const req = flatArgs(sizes);
    if (req.length < this.ndim)
      throw new ShapeError(`expand: the number of sizes ${formatShape(req)} must be >= the tensor's rank ${this.ndim} (shape ${formatShape(this.shape)})`);
    const lead = req.length - this.ndim;
    const shape = new Array<number>(req.length);
    const strides = new Array<number>(req.length);
    for (let i = 0; i < req.length; i++) {
      const r = req[i]!;
      if (i < lead) {
        if (r < 0) throw new ShapeError(`expand: size -1 is not allowed in a new leading dim (${formatShape(req)})`);
        shape[i] = r;
        strides[i] = 0;
        continue;
      }
      const cur = this.shape[i - lead]!;
      if (r === -1 || r === cur) {
        shape[i] = cur;
        strides[i] = this.strides[i - lead]!;
      } else if (cur === 1) {
        shape[i] = r;
        strides[i] = 0;
      } else {
        throw new ShapeError(
          `expand: shape ${formatShape(this.shape)} cannot expand to ${formatShape(req)}: dim ${i} has size ${cur}, which is not 1`,
        );
      }
    }
    return this.withView(shape, strides);
  }

  expandAs(other: Tensor): Tensor {
    return this.expand(other.shape);
  }

  /** Removes size-1 dims (all, or the given one; a non-1 dim is left alone, as in PyTorch). */
  squeeze(dim?: number): Tensor {
    if (dim === undefined) {
      const keep = this.shape.map((s, i) => (s === 1 ? -1 : i)).filter((i) => i >= 0);
      return this.withView(
        keep.map((i) => this.shape[i]!),
        keep.map((i) => this.strides[i]!),
      );
    }
    if (this.ndim === 0) {
      normalizeDim('squeeze', dim, 0);
      return this;
    }
    const d = normalizeDim('squeeze', dim, this.ndim, this.shape);
    if (this.shape[d] !== 1) return this;
    return this.withView(
      this.shape.filter((_, i) => i !== d),
      this.strides.filter((_, i) => i !== d),
    );
  }

  unsqueeze(dim: number): Tensor {
    const n = this.ndim + 1;
    if (!Number.isInteger(dim) || dim < -n || dim >= n)
      throw new ShapeError(`unsqueeze: dim ${dim} is out of range [${-n}, ${n - 1}] for shape ${formatShape(this.shape)}`);
    const d = dim < 0 ? dim + n : dim;
    const shape = [...this.shape];
    const strides = [...this.strides];
    // The new dim's stride is what a contiguous layout would give it, so contiguity is preserved.
    const st = d < this.ndim ? this.shape[d]! * this.strides[d]! : 1;
    shape.splice(d, 0, 1);
    strides.splice(d, 0, st);
    return this.withView(shape, strides);
  }

  /** This tensor if already contiguous, else a contiguous copy. */
  contiguous(): Tensor {
    return this.isContiguous() ? this : ops.contiguous(this);
  }

  /** Writes `src` (broadcast to this shape, cast to this dtype) into this view, in place; returns this. */
  copy_(src: Tensor): this {
    ops.copy_(this, src);
    return this;
  }

  // ---- reading values ----

  /** The single value of a one-element tensor. */
  item(): number {
    this.assertLive('item');
    if (this.numel() !== 1) throw new ShapeError(`item: a tensor with ${this.numel()} elements (shape ${formatShape(this.shape)}) cannot be converted to a number`);
    return readNumber(this.storage, this.offset);
  }

  /**
   * The logical elements, row-major, as a fresh typed array of the dtype's natural JS type: float16 and
   * bfloat16 decode to Float32Array, int64 stays BigInt64Array, bool is Uint8Array of 0/1.
   */
  toArray(): Float32Array | Int8Array | Uint8Array | Int16Array | Int32Array | BigInt64Array {
    const c = this.to(this.dtype === 'float16' || this.dtype === 'bfloat16' ? 'float32' : this.dtype).contiguous();
    const src = c.storage.data as Exclude<typeof c.storage.data, Uint16Array>;
    const n = c.numel();
    return src.slice(c.offset, c.offset + n);
  }

  /** The raw stored elements of a contiguous copy (float16/bfloat16 as 16-bit patterns). */
  toTypedArray(): Tensor['storage']['data'] {
    const c = this.contiguous();
    return c.storage.data.slice(c.offset, c.offset + c.numel());
  }

  /** Nested JS arrays, like torch.Tensor.tolist(): numbers, booleans for bool, int64 as numbers. */
  tolist(): NestedList {
    this.assertLive('tolist');
    const flat: (number | boolean)[] = [];
    const isBool = this.dtype === 'bool';
    forEachOffset(this.shape, this.strides, this.offset, (p) => {
      const v = readNumber(this.storage, p);
      flat.push(isBool ? v !== 0 : v);
    });
    if (this.ndim === 0) return flat[0]!;
    let pos = 0;
    const build = (dim: number): NestedList[] => {
      const out: NestedList[] = [];
      for (let i = 0; i < this.shape[dim]!; i++) out.push(dim === this.ndim - 1 ? flat[pos++]! : build(dim + 1));
      return out;
    };
    return build(0);
  }

  toString(): string {
    return formatTensor(this);
  }

  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return this.toString();
  }

  clone(): Tensor {
    return ops.contiguous(this, true);
  }

  to(dtype: DType): Tensor {
    return dtype === this.dtype ? this : ops.cast(this, dtype);
  }

  // ---- compute: one-line sugar over ops/ ----
  add(other: TensorLike): Tensor { return ops.add(this, other); }
  sub(other: TensorLike): Tensor { return ops.sub(this, other); }
  mul(other: TensorLike): Tensor { return ops.mul(this, other); }
  div(other: TensorLike): Tensor { return ops.div(this, other); }
  pow(exponent: TensorLike): Tensor { return ops.pow(this, exponent); }
  neg(): Tensor { return ops.neg(this); }
  abs(): Tensor { return ops.abs(this); }
  exp(): Tensor { return ops.exp(this); }
  log(): Tensor { return ops.log(this); }
  sqrt(): Tensor { return ops.sqrt(this); }
  rsqrt(): Tensor { return ops.rsqrt(this); }
  tanh(): Tensor { return ops.tanh(this); }
  cos(): Tensor { return ops.cos(this); }
  sin(): Tensor { return ops.sin(this); }
  sigmoid(): Tensor { return ops.sigmoid(this); }
  relu(): Tensor { return ops.relu(this); }
  silu(): Tensor { return ops.silu(this); }
  gelu(approximate: 'none' | 'tanh' | { readonly approximate?: 'none' | 'tanh' } = 'none'): Tensor { return ops.gelu(this, approximate); }
  clamp(min?: number, max?: number): Tensor { return ops.clamp(this, min, max); }
  /** torch.Tensor.where(condition, other): this where condition is true, else other. */
  where(condition: Tensor, other: TensorLike): Tensor { return ops.where(condition, this, other); }
  eq(other: TensorLike): Tensor { return ops.eq(this, other); }
  ne(other: TensorLike): Tensor { return ops.ne(this, other); }
  lt(other: TensorLike): Tensor { return ops.lt(this, other); }
  le(other: TensorLike): Tensor { return ops.le(this, other); }
  gt(other: TensorLike): Tensor { return ops.gt(this, other); }
  ge(other: TensorLike): Tensor { return ops.ge(this, other); }
  matmul(other: Tensor): Tensor { return ops.matmul(this, other); }
  sum(dim?: number | readonly number[], keepdim: ops.KeepDim = false): Tensor { return ops.sum(this, dim, keepdim); }
  mean(dim?: number | readonly number[], keepdim: ops.KeepDim = false): Tensor { return ops.mean(this, dim, keepdim); }
  max(): Tensor;
  max(dim: number, keepdim?: ops.KeepDim): { values: Tensor; indices: Tensor };
  max(dim?: number, keepdim: ops.KeepDim = false): Tensor | { values: Tensor; indices: Tensor } {
    return dim === undefined ? ops.max(this) : ops.max(this, dim, keepdim);
  }
  argmax(dim?: number, keepdim: ops.KeepDim = false): Tensor { return ops.argmax(this, dim, keepdim); }
  softmax(dim?: number): Tensor { return ops.softmax(this, dim); }
  logSoftmax(dim?: number): Tensor { return ops.logSoftmax(this, dim); }
  min(): Tensor;
  min(dim: number, keepdim?: ops.KeepDim): { values: Tensor; indices: Tensor };
  min(dim?: number, keepdim: ops.KeepDim = false): Tensor | { values: Tensor; indices: Tensor } {
    return dim === undefined ? ops.min(this) : ops.min(this, dim, keepdim);
  }
  amax(dim?: number | readonly number[], keepdim: ops.KeepDim = false): Tensor { return ops.amax(this, dim, keepdim); }
  amin(dim?: number | readonly number[], keepdim: ops.KeepDim = false): Tensor { return ops.amin(this, dim, keepdim); }
  argmin(dim?: number, keepdim: ops.KeepDim = false): Tensor { return ops.argmin(this, dim, keepdim); }
  var(dim?: number | readonly number[] | null, unbiased?: boolean | ops.VarOptions, keepdim = false): Tensor { return ops.variance(this, dim, unbiased, keepdim); }
  cumsum(dim: number, options?: ops.CumSumOptions): Tensor { return ops.cumsum(this, dim, options); }
  topk(k: number, dim = -1, largest = true, sorted = true): { values: Tensor; indices: Tensor } { return ops.topk(this, k, dim, largest, sorted); }
  split(splitSize: number | readonly number[], dim = 0): Tensor[] { return ops.split(this, splitSize, dim); }
  chunk(chunks: number, dim = 0): Tensor[] { return ops.chunk(this, chunks, dim); }
  repeat(...repeats: number[] | [readonly number[]]): Tensor { return ops.repeat(this, flatArgs(repeats)); }
  indexSelect(dim: number, index: Tensor): Tensor { return ops.indexSelect(this, dim, index); }
  gather(dim: number, index: Tensor): Tensor { return ops.gather(this, dim, index); }
  maskedFill(mask: Tensor, value: number | boolean | Tensor): Tensor { return ops.maskedFill(this, mask, value); }
  tril(diagonal = 0): Tensor { return ops.tril(this, diagonal); }
  triu(diagonal = 0): Tensor { return ops.triu(this, diagonal); }

  // ---- PyTorch members (README "Naming"): dtype shorthands, transposes, strides, the ops of elementwise_more /
  // reduce_more, and in-place `_` forms that write into this tensor's own storage (ops/inplace_more.ts) ----
  /** All dims reversed (PyTorch's Tensor.T). */
  get T(): Tensor { return this.ndim < 2 ? this : this.permute([...this.shape.keys()].reverse()); }
  /** The last two dims swapped (PyTorch's Tensor.mT); needs at least 2 dims. */
  get mT(): Tensor { return this.transpose(-2, -1); }
  stride(): readonly number[];
  stride(dim: number): number;
  stride(dim?: number): number | readonly number[] { return dim === undefined ? this.strides : this.strides[normalizeDim('stride', dim, this.ndim, this.shape)]!; }
  /** A new view of the same storage. There is no autograd, so this only exists for ported code. */
  detach(): Tensor { return new Tensor(this.storage, this.shape, this.strides, this.offset); }
  half(): Tensor { return this.to('float16'); }
  float(): Tensor { return this.to('float32'); }
  bfloat16(): Tensor { return this.to('bfloat16'); }
  long(): Tensor { return this.to('int64'); }
  int(): Tensor { return this.to('int32'); }
  short(): Tensor { return this.to('int16'); }
  char(): Tensor { return this.to('int8'); }
  byte(): Tensor { return this.to('uint8'); }
  bool(): Tensor { return this.to('bool'); }
  maximum(other: TensorLike): Tensor { return ops.maximum(this, other); }
  minimum(other: TensorLike): Tensor { return ops.minimum(this, other); }
  remainder(other: TensorLike): Tensor { return ops.remainder(this, other); }
  fmod(other: TensorLike): Tensor { return ops.fmod(this, other); }
  floor(): Tensor { return ops.floor(this); }
  ceil(): Tensor { return ops.ceil(this); }
  trunc(): Tensor { return ops.trunc(this); }
  round(options?: ops.RoundOptions | number): Tensor { return ops.round(this, options); }
  sign(): Tensor { return ops.sign(this); }
  square(): Tensor { return ops.square(this); }
  reciprocal(): Tensor { return ops.reciprocal(this); }
  log1p(): Tensor { return ops.log1p(this); }
  expm1(): Tensor { return ops.expm1(this); }
  log2(): Tensor { return ops.log2(this); }
  isnan(): Tensor { return ops.isnan(this); }
  isinf(): Tensor { return ops.isinf(this); }
  isfinite(): Tensor { return ops.isfinite(this); }
  logicalAnd(other: TensorLike): Tensor { return ops.logicalAnd(this, other); }
  logicalOr(other: TensorLike): Tensor { return ops.logicalOr(this, other); }
  logicalXor(other: TensorLike): Tensor { return ops.logicalXor(this, other); }
  logicalNot(): Tensor { return ops.logicalNot(this); }
  bitwiseAnd(other: TensorLike): Tensor { return ops.bitwiseAnd(this, other); }
  bitwiseOr(other: TensorLike): Tensor { return ops.bitwiseOr(this, other); }
  bitwiseXor(other: TensorLike): Tensor { return ops.bitwiseXor(this, other); }
  bitwiseNot(): Tensor { return ops.bitwiseNot(this); }
  clampMin(min: number): Tensor { return ops.clampMin(this, min); }
  clampMax(max: number): Tensor { return ops.clampMax(this, max); }
  lerp(end: Tensor, weight: TensorLike): Tensor { return ops.lerp(this, end, weight); }
  addcmul(t1: TensorLike, t2: TensorLike, options?: ops.AddcmulOptions): Tensor { return ops.addcmul(this, t1, t2, options); }
  prod(dim?: number | null, keepdim?: boolean | ops.ProdOptions): Tensor { return ops.prod(this, dim, keepdim); }
  any(dim?: number | readonly number[] | null, keepdim?: ops.KeepDim): Tensor { return ops.any(this, dim, keepdim); }
  all(dim?: number | readonly number[] | null, keepdim?: ops.KeepDim): Tensor { return ops.all(this, dim, keepdim); }
  logsumexp(dim: number | readonly number[], keepdim?: ops.KeepDim): Tensor { return ops.logsumexp(this, dim, keepdim); }
  std(dim?: number | readonly number[] | null, unbiased?: boolean | ops.StdOptions, keepdim = false): Tensor { return ops.std(this, dim, unbiased, keepdim); }
  norm(p: number | 'fro' = 2, dim?: number | readonly number[] | null, keepdim?: ops.KeepDim): Tensor { return ops.norm(this, p, dim, keepdim); }
  countNonzero(dim?: number | readonly number[] | null): Tensor { return ops.countNonzero(this, dim); }
  nonzero(): Tensor { return ops.nonzero(this) as Tensor; }
  unique(options?: ops.UniqueOptions): Tensor | Tensor[] { return ops.unique(this, options); }
  fill_(value: number | boolean | Tensor): this { ops.fill_(this, value); return this; }
  zero_(): this { ops.zero_(this); return this; }
  add_(other: TensorLike): this { ops.writeInPlace('add_', this, ops.add(this, other)); return this; }
  sub_(other: TensorLike): this { ops.writeInPlace('sub_', this, ops.sub(this, other)); return this; }
  mul_(other: TensorLike): this { ops.writeInPlace('mul_', this, ops.mul(this, other)); return this; }
  div_(other: TensorLike): this { ops.writeInPlace('div_', this, ops.div(this, other)); return this; }
  pow_(exponent: TensorLike): this { ops.writeInPlace('pow_', this, ops.pow(this, exponent)); return this; }
  remainder_(other: TensorLike): this { ops.writeInPlace('remainder_', this, ops.remainder(this, other)); return this; }
  fmod_(other: TensorLike): this { ops.writeInPlace('fmod_', this, ops.fmod(this, other)); return this; }
  neg_(): this { ops.writeInPlace('neg_', this, ops.neg(this)); return this; }
  abs_(): this { ops.writeInPlace('abs_', this, ops.abs(this)); return this; }
  exp_(): this { ops.writeInPlace('exp_', this, ops.exp(this)); return this; }
  log_(): this { ops.writeInPlace('log_', this, ops.log(this)); return this; }
  sqrt_(): this { ops.writeInPlace('sqrt_', this, ops.sqrt(this)); return this; }
  rsqrt_(): this { ops.writeInPlace('rsqrt_', this, ops.rsqrt(this)); return this; }
  tanh_(): this { ops.writeInPlace('tanh_', this, ops.tanh(this)); return this; }
  sigmoid_(): this { ops.writeInPlace('sigmoid_', this, ops.sigmoid(this)); return this; }
  relu_(): this { ops.writeInPlace('relu_', this, ops.relu(this)); return this; }
  floor_(): this { ops.writeInPlace('floor_', this, ops.floor(this)); return this; }
  ceil_(): this { ops.writeInPlace('ceil_', this, ops.ceil(this)); return this; }
  trunc_(): this { ops.writeInPlace('trunc_', this, ops.trunc(this)); return this; }
  round_(options?: ops.RoundOptions | number): this { ops.writeInPlace('round_', this, ops.round(this, options)); return this; }
  sign_(): this { ops.writeInPlace('sign_', this, ops.sign(this)); return this; }
  square_(): this { ops.writeInPlace('square_', this, ops.square(this)); return this; }
  reciprocal_(): this { ops.writeInPlace('reciprocal_', this, ops.reciprocal(this)); return this; }
  clamp_(min?: number, max?: number): this { ops.writeInPlace('clamp_', this, ops.clamp(this, min, max)); return this; }
  clampMin_(min: number): this { ops.writeInPlace('clampMin_', this, ops.clampMin(this, min)); return this; }
  clampMax_(max: number): this { ops.writeInPlace('clampMax_', this, ops.clampMax(this, max)); return this; }
  lerp_(end: Tensor, weight: TensorLike): this { ops.writeInPlace('lerp_', this, ops.lerp(this, end, weight)); return this; }
  addcmul_(t1: TensorLike, t2: TensorLike, options?: ops.AddcmulOptions): this { ops.writeInPlace('addcmul_', this, ops.addcmul(this, t1, t2, options)); return this; }
  maskedFill_(mask: Tensor, value: number | boolean | Tensor): this { ops.writeInPlace('maskedFill_', this, ops.maskedFill(this, mask, value)); return this; }
  tril_(diagonal = 0): this { ops.writeInPlace('tril_', this, ops.tril(this, diagonal)); return this; }
  triu_(diagonal = 0): this { ops.writeInPlace('triu_', this, ops.triu(this, diagonal)); return this; }
  bitwiseAnd_(other: TensorLike): this { ops.writeInPlace('bitwiseAnd_', this, ops.bitwiseAnd(this, other)); return this; }
  bitwiseOr_(other: TensorLike): this { ops.writeInPlace('bitwiseOr_', this, ops.bitwiseOr(this, other)); return this; }
  bitwiseXor_(other: TensorLike): this { ops.writeInPlace('bitwiseXor_', this, ops.bitwiseXor(this, other)); return this; }
  bitwiseNot_(): this { ops.writeInPlace('bitwiseNot_', this, ops.bitwiseNot(this)); return this; }
  logicalNot_(): this { ops.writeInPlace('logicalNot_', this, ops.logicalNot(this)); return this; }
  mm(mat2: Tensor): Tensor { return ops.mm(this, mat2); }
  bmm(mat2: Tensor): Tensor { return ops.bmm(this, mat2); }
  sort(dim?: number | ops.SortOptions, descending = false): { values: Tensor; indices: Tensor } { return ops.sort(this, dim, descending); }
  argsort(dim?: number | ops.SortOptions, descending = false): Tensor { return ops.argsort(this, dim, descending); }
  flip(...dims: number[] | [readonly number[]]): Tensor { return ops.flip(this, flatArgs(dims)); }
  roll(shifts: number | readonly number[], dims?: number | readonly number[]): Tensor { return ops.roll(this, shifts, dims); }
  scatter(dim: number, index: Tensor, src: Tensor | number | boolean): Tensor { return ops.scatter(this, dim, index, src); }
  scatter_(dim: number, index: Tensor, src: Tensor | number | boolean): Tensor { return ops.scatter_(this, dim, index, src); }
  scatterAdd(dim: number, index: Tensor, src: Tensor): Tensor { return ops.scatterAdd(this, dim, index, src); }
  scatterAdd_(dim: number, index: Tensor, src: Tensor): Tensor { return ops.scatterAdd_(this, dim, index, src); }
  indexAdd(dim: number, index: Tensor, source: Tensor, options?: { readonly alpha?: number }): Tensor { return ops.indexAdd(this, dim, index, source, options); }
  indexAdd_(dim: number, index: Tensor, source: Tensor, options?: { readonly alpha?: number }): Tensor { return ops.indexAdd_(this, dim, index, source, options); }
  indexCopy(dim: number, index: Tensor, source: Tensor): Tensor { return ops.indexCopy(this, dim, index, source); }
  indexCopy_(dim: number, index: Tensor, source: Tensor): Tensor { return ops.indexCopy_(this, dim, index, source); }
  takeAlongDim(indices: Tensor, dim?: number): Tensor { return ops.takeAlongDim(this, indices, dim); }
  maskedSelect(mask: Tensor): Tensor { return ops.maskedSelect(this, mask); }
}

function flatArgs(args: number[] | [readonly number[]]): number[] {
  return args.length === 1 && Array.isArray(args[0]) ? [...(args[0] as readonly number[])] : (args as number[]);
}
