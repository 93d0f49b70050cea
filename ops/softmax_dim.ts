/**
 * PyTorch's implicit softmax dim (torch.nn.functional._get_softmax_dim): softmax(x) without a dim reduces dim
 * 0 of 0-, 1- and 3-d inputs and dim 1 otherwise — a legacy rule PyTorch deprecates with a warning, because
 * for a batch of 3-d inputs it picks the batch dim. Warned once per function, as Python's warnings do.
 */
import type { Tensor } from '../core/tensor.js';

const warned = new Set<string>();

export function implicitSoftmaxDim(fn: string, x: Tensor): number {
  const dim = x.ndim === 0 || x.ndim === 1 || x.ndim === 3 ? 0 : 1;
  if (!warned.has(fn)) {
    warned.add(fn);
    process.emitWarning(`${fn}: implicit dimension choice is deprecated (PyTorch's rule picked dim ${dim} for a ${x.ndim}-d input); pass the dim explicitly`, {
      code: 'OPSHIFT_IMPLICIT_DIM',
    });
  }
  return dim;
}
