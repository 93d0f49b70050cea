/**
 * In-place writes: `copy_(dst, src)` copies src (broadcast to dst's shape, cast to dst's dtype) into the
 * elements dst views, as PyTorch's `Tensor.copy_`. dst may be any view (a KV cache's `narrow` of the slots
 * being appended); the storage it shares with other views sees the write.
 *
 * Through the dispatcher like every op (so it is profiled and backends may take it), but with no outputs:
 * the kernel writes into the `dst` input.
 */
import { dispatchAll } from '../core/dispatcher.js';
import { ArgumentError, ShapeError } from '../core/errors.js';
import { defineOp } from '../core/op_def.js';
import { formatShape } from '../core/shape.js';
import type { Tensor } from '../core/tensor.js';
import { requireTensor } from './util.js';

export type CopyIntoInputs = { readonly dst: Tensor; readonly src: Tensor };

/** True when some element of the view is reached by two index tuples (a 0 stride on a dim longer than 1). */
function overlapsItself(t: Tensor): boolean {
  return t.shape.some((n, i) => n > 1 && t.strides[i] === 0);
}

export const CopyInto = defineOp<CopyIntoInputs, Record<string, never>>({
  name: 'CopyInto',
  meta({ dst, src }) {
    if (dst.isConstant)
      throw new ArgumentError(
        `copy_: destination ${dst.dtype}${formatShape(dst.shape)} is a constant tensor (markConstant): backends may hold a prepared copy of it, so it is read-only`,
      );
    if (overlapsItself(dst))
      throw new ShapeError(`copy_: destination ${formatShape(dst.shape)} with strides [${dst.strides.join(',')}] has overlapping elements (an expanded view); make it contiguous first`);
    const lead = dst.ndim - src.ndim;
    if (lead < 0 || src.shape.some((n, i) => n !== 1 && n !== dst.shape[lead + i]))
      throw new ShapeError(`copy_: source ${formatShape(src.shape)} does not broadcast to destination ${formatShape(dst.shape)}`);
    return [];
  },
  flops: () => 0,
});

/** `dst.copy_(src)`: writes src into dst in place and returns dst. */
export function copy_(dst: Tensor, src: Tensor): Tensor {
  dispatchAll(CopyInto, { dst: requireTensor('copy_', 'destination', dst), src: requireTensor('copy_', 'source', src) }, {});
  return dst;
}
