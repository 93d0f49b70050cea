/**
 * The variadic shape forms every factory accepts, as PyTorch's `torch.zeros(2, 3)` next to `torch.zeros((2, 3))`:
 * `zeros(2, 3)`, `zeros(2, 3, { dtype })`, `zeros([2, 3])`, `zeros([2, 3], { dtype })`.
 */
import { ShapeError } from '../core/errors.js';
import type { Shape } from '../core/shape.js';

/** A factory's shape arguments: one array, or sizes spread out, optionally followed by an options object. */
export type ShapeArgs<O> = [shape: Shape, options?: O] | [...sizes: number[]] | [...sizes: number[], options: O];

/** Split variadic factory arguments into a shape and options. */
export function parseShapeArgs<O extends object>(op: string, args: readonly unknown[]): { shape: Shape; options: O } {
  const last = args[args.length - 1];
  const hasOptions = args.length > 0 && typeof last === 'object' && last !== null && !Array.isArray(last);
  const rest = hasOptions ? args.slice(0, -1) : args;
  const options = (hasOptions ? last : {}) as O;
  if (rest.length === 1 && Array.isArray(rest[0])) return { shape: rest[0] as Shape, options };
  for (const s of rest)
    if (typeof s !== 'number')
      throw new ShapeError(`${op}: expected sizes as numbers or one array, got ${Array.isArray(s) ? 'an array among several arguments' : typeof s}`);
  return { shape: rest as number[], options };
}

