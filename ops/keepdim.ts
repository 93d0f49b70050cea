/** keepdim as PyTorch accepts it: positionally (`sum(x, 1, true)`) or as an option (`sum(x, 1, { keepdim: true })`). */
export type KeepDim = boolean | { readonly keepdim?: boolean };

export function keepOf(k: KeepDim | undefined): boolean {
  return typeof k === 'object' && k !== null ? k.keepdim === true : k === true;
}
