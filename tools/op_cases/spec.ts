/** The op-case catalog's data types and the small constructors the case families use. */
import type { DType, Tensor } from '../../core/index.js';

/** How an input's values are drawn. Every kind is reproducible in PyTorch bit for bit. */
export type Gen =
  /** uniform [low, high): rand·(high − low) + low, in float32 */
  | { readonly kind: 'rand'; readonly low?: number; readonly high?: number }
  /** integers in [low, high) drawn directly in the input's dtype */
  | { readonly kind: 'randint'; readonly low: number; readonly high: number }
  /** 0, 1, 2, … in row-major order (exact; for movement ops) */
  | { readonly kind: 'arange' }
  /** rand < p */
  | { readonly kind: 'bool'; readonly p?: number }
  /** explicit values (special values: NaN as 'nan', ±inf as 'inf'/'-inf') */
  | { readonly kind: 'values'; readonly values: readonly (number | string)[] };

export interface InputSpec {
  readonly shape: readonly number[];
  readonly dtype?: DType;
  readonly gen?: Gen;
  /** `transposed`: stored with the last two dims swapped, then viewed back (non-contiguous);
   * `strided`: stored with the last dim doubled, every other element taken. */
  readonly layout?: 'contiguous' | 'transposed' | 'strided';
  /** Marked constant like a module parameter (backends may prepare and cache it). */
  readonly constant?: boolean;
}

/** A positional argument of the op's public function. */
export type Arg =
  | { readonly input: InputSpec }
  | { readonly list: readonly InputSpec[] }
  | { readonly scalar: number | boolean }
  | { readonly value: PlainValue };

/** Attributes passed as plain data (numbers, dims, names, option objects). */
export type PlainValue = number | boolean | string | null | readonly number[] | Readonly<Record<string, number | boolean | string | readonly number[]>>;

export interface Tolerance {
  readonly rtol: number;
  readonly atol: number;
}

export interface OpCase {
  /** Unique, `Op/what` (e.g. `Add/broadcast_3x1_4`). */
  readonly name: string;
  /** The OpDef name (registry key) the call dispatches, for coverage and cross-backend tests. */
  readonly op: string;
  /** The public function, a key of CALLS (and of the PyTorch script's table). */
  readonly fn: string;
  readonly args: readonly Arg[];
  readonly seed?: number;
  /** Float tolerance against PyTorch and across backends (integer, bool and exact ops compare exactly). */
  readonly tol?: Tolerance;
  /** The result must match bit for bit (movement ops, integer math, single correctly rounded operations). */
  readonly exact?: boolean;
  /** Tolerance of one backend against cpu where its arithmetic differs by design (e.g. npu's bf16 activations). */
  readonly backendTol?: Readonly<Record<string, Tolerance>>;
  readonly tags?: readonly string[];
}

export const input = (shape: readonly number[], opts: Omit<InputSpec, 'shape'> = {}): Arg => ({ input: { shape, ...opts } });
export const scalar = (v: number | boolean): Arg => ({ scalar: v });
export const value = (v: PlainValue): Arg => ({ value: v });
export const list = (...specs: InputSpec[]): Arg => ({ list: specs });


export type BuiltArg = Tensor | Tensor[] | PlainValue;
