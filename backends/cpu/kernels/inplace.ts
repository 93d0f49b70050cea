/** copy_: src (broadcast, cast) into a strided destination view. */
import type { Kernel } from '../../../core/op_def.js';
import { Tensor } from '../../../core/tensor.js';
import type { CopyIntoInputs } from '../../../ops/inplace.js';
import { castKernel } from './cast.js';

type RawArray = Tensor['storage']['data'];

/** Scatter the contiguous `src` (dst's shape) into dst's strided elements; rows along a unit last stride use set(). */
function scatter(src: RawArray, dst: Tensor): void {
  const shape = dst.shape;
  const nd = shape.length;
  const data = dst.storage.data;
  if (nd === 0) {
    (data as Float32Array)[dst.offset] = (src as Float32Array)[0]!;
    return;
  }
  const last = shape[nd - 1]!;
  const lastStride = dst.strides[nd - 1]!;
  const rows = dst.numel() / last;
  const idx = new Array<number>(nd - 1).fill(0);
  let off = dst.offset;
  for (let r = 0; r < rows; r++) {
    const base = r * last;
    if (lastStride === 1) (data as Float32Array).set((src as Float32Array).subarray(base, base + last), off);
    else for (let j = 0; j < last; j++) (data as Float32Array)[off + j * lastStride] = (src as Float32Array)[base + j]!;
    // Odometer over the leading dims.
    for (let d = nd - 2; d >= 0; d--) {
      idx[d]!++;
      off += dst.strides[d]!;
      if (idx[d]! < shape[d]!) break;
      off -= idx[d]! * dst.strides[d]!;
      idx[d] = 0;
    }
  }
}

export const copyIntoKernel: Kernel<CopyIntoInputs, Record<string, never>> = {
  run({ dst, src }) {
    if (dst.numel() === 0) return;
    // Convert and broadcast into a contiguous buffer first: also makes a src that aliases dst safe.
    const staged = Tensor.empty(dst.shape, dst.dtype);
    castKernel.run({ x: src.expand(dst.shape) }, { dtype: dst.dtype }, [staged]);
    scatter(staged.storage.data, dst);
  },
};
