/** Shape arithmetic shared by op definitions and views. Shapes are plain number arrays. */
import { ShapeError } from './errors.js';

export type Shape = readonly number[];

export function numel(shape: Shape): number {
  let n = 1;
  for (let i = 0; i < shape.length; i++) n *= shape[i]!;
  return n;
}

export function contiguousStrides(shape: Shape): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= shape[i]!;
  }
  return s;
}

/** `[2,3]` as it appears in error messages. */
export function formatShape(shape: Shape): string {
  return `[${shape.join(',')}]`;
}

/** Normalize a possibly negative dim for a tensor of rank `ndim` (PyTorch's wrap_dim). */
export function normalizeDim(op: string, dim: number, ndim: number, shape?: Shape): number {
  // A 0-dim tensor accepts dim 0 and -1, as in PyTorch.
  const n = Math.max(ndim, 1);
  if (!Number.isInteger(dim) || dim < -n || dim >= n) {
    const where = shape ? ` for shape ${formatShape(shape)}` : '';
    throw new ShapeError(`${op}: dim ${dim} is out of range [${-n}, ${n - 1}]${where}`);
  }
  return dim < 0 ? dim + n : dim;
}

/** Normalize and de-duplicate a list of dims; `undefined` means all dims. */
export function normalizeDims(op: string, dims: number | readonly number[] | undefined, shape: Shape): number[] {
  if (dims === undefined) return shape.map((_, i) => i);
  const list = typeof dims === 'number' ? [dims] : dims;
  const out: number[] = [];
  for (const d of list) {
    const nd = normalizeDim(op, d, shape.length, shape);
    if (out.includes(nd)) throw new ShapeError(`${op}: dim ${d} appears more than once in [${list.join(',')}]`);
    out.push(nd);
  }
  return out.sort((a, b) => a - b);
}

/** NumPy/PyTorch broadcasting of any number of shapes. */
export function broadcastShapes(op: string, ...shapes: Shape[]): number[] {
  let nd = 0;
  for (const s of shapes) nd = Math.max(nd, s.length);
  const out = new Array<number>(nd).fill(1);
  for (const s of shapes) {
    for (let i = 0; i < s.length; i++) {
      const o = nd - s.length + i;
      const d = s[i]!;
      const cur = out[o]!;
      if (d === cur || d === 1) continue;
      if (cur === 1) out[o] = d;
      else
        throw new ShapeError(
          `${op}: shapes ${shapes.map(formatShape).join(' and ')} cannot be broadcast: dim ${o - nd} is ${cur} vs ${d}`,
        );
    }
  }
  return out;
}

/** Strides that read `shape`/`strides` as if broadcast to `target` (0 on broadcast dims). */
export function broadcastStrides(shape: Shape, strides: readonly number[], target: Shape): number[] {
  const nd = target.length;
  const out = new Array<number>(nd).fill(0);
  const off = nd - shape.length;
  for (let i = 0; i < shape.length; i++) out[off + i] = shape[i] === 1 && target[off + i] !== 1 ? 0 : strides[i]!;
  return out;
}

export function isContiguous(shape: Shape, strides: readonly number[]): boolean {
  // An empty tensor is contiguous whatever its strides (PyTorch's compute_contiguous).
  if (shape.includes(0)) return true;
  let expected = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    const d = shape[i]!;
    if (d === 1) continue; // the stride of a size-1 dim never matters
    if (strides[i] !== expected) return false;
    expected *= d;
  }
  return true;
}

export function shapesEqual(a: Shape, b: Shape): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Resolve a single -1 in a requested shape and check the element count (PyTorch's infer_size). */
export function inferShape(op: string, requested: Shape, total: number, from: Shape): number[] {
  let infer = -1;
  let known = 1;
  for (let i = 0; i < requested.length; i++) {
    const d = requested[i]!;
    if (d === -1) {
      if (infer >= 0) throw new ShapeError(`${op}: only one dimension can be inferred in ${formatShape(requested)}`);
      infer = i;
    } else if (!Number.isInteger(d) || d < 0) {
      throw new ShapeError(`${op}: invalid size ${d} in ${formatShape(requested)}`);
    } else known *= d;
  }
  const out = [...requested];
  if (infer >= 0) {
    if (known === 0 || total % known !== 0)
      throw new ShapeError(`${op}: shape ${formatShape(requested)} is invalid for input of size ${total} (shape ${formatShape(from)})`);
    out[infer] = total / known;
  } else if (known !== total) {
    throw new ShapeError(`${op}: shape ${formatShape(requested)} is invalid for input of size ${total} (shape ${formatShape(from)})`);
  }
  return out;
}

/**
 * Strides for viewing (shape, strides) as `newShape` without copying, or undefined when the memory layout
 * does not allow it (PyTorch's computeStride): each run of merged dims must be contiguous within itself.
 */
export function viewStrides(shape: Shape, strides: readonly number[], newShape: Shape): number[] | undefined {
  const total = numel(shape);
  const out = new Array<number>(newShape.length);
  // Empty and 0-dim tensors can take any layout of the same size.
  if (total === 0 || shape.length === 0) return contiguousStrides(newShape);
  let viewD = newShape.length - 1;
  let chunkBase = strides[strides.length - 1] ?? 1;
  let tensorNumel = 1;
  let viewNumel = 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    tensorNumel *= shape[d]!;
    // A chunk ends where the next-outer dim is not laid out right after this one.
    if (d === 0 || (shape[d - 1] !== 1 && strides[d - 1] !== tensorNumel * chunkBase)) {
      while (viewD >= 0 && (viewNumel < tensorNumel || newShape[viewD] === 1)) {
        out[viewD] = viewNumel * chunkBase;
        viewNumel *= newShape[viewD]!;
        viewD--;
      }
      if (viewNumel !== tensorNumel) return undefined;
      if (d > 0) {
        chunkBase = strides[d - 1]!;
        tensorNumel = 1;
        viewNumel = 1;
      }
    }
  }
  if (viewD !== -1) return undefined;
  return out;
}

/** [lo, hi]: the lowest and highest storage index a view (offset, shape, strides) can touch. */
export function spanOf(t: { readonly offset: number; readonly shape: readonly number[]; readonly strides: readonly number[] }): [number, number] {
  let lo = t.offset;
  let hi = t.offset;
  for (let i = 0; i < t.shape.length; i++) {
    const ext = (t.shape[i]! - 1) * t.strides[i]!;
    if (ext < 0) lo += ext;
    else hi += ext;
  }
  return [lo, hi];
}

/**
 * Visit every index of a batch shape in row-major order, passing the running element offsets of two operands
 * with (broadcast) batch strides `sa` and `sb`: the outer loop of batched matmuls.
 */
export function forEachBatch(batch: readonly number[], sa: readonly number[], sb: readonly number[], fn: (i: number, oa: number, ob: number) => void): void {
  const total = numel(batch);
  const idx = new Array<number>(batch.length).fill(0);
  let oa = 0;
  let ob = 0;
  for (let i = 0; i < total; i++) {
    fn(i, oa, ob);
    for (let d = batch.length - 1; d >= 0; d--) {
      idx[d]!++;
      oa += sa[d]!;
      ob += sb[d]!;
      if (idx[d]! < batch[d]!) break;
      oa -= sa[d]! * batch[d]!;
      ob -= sb[d]! * batch[d]!;
      idx[d] = 0;
    }
  }
}
