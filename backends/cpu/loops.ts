/**
 * Strided elementwise loops, generated once per (arity, expression) with `new Function` so each op gets its
 * own monomorphic, inlinable loop instead of a closure call per element. Operands arrive with strides already
 * broadcast to the output shape; `collapse` first drops size-1 dims and merges dims that are contiguous for
 * every operand, so a contiguous same-shape op runs as one flat loop.
 */
import { toInt32, toInt64 } from '../../core/convert.js';
import { erf, erfc, fastExp } from './math.js';
import { moreLib } from './math_more.js';

export type AnyArray = ArrayLike<number> | ArrayLike<bigint>;
export interface LoopOperand {
  readonly data: AnyArray;
  readonly offset: number;
  readonly strides: readonly number[];
}

type LoopFn = (out: unknown, shape: readonly number[], ...operands: unknown[]) => void;

/** Helpers callable from expressions as `lib.name(...)`. */
const lib = {
  ...moreLib,
  erf,
  erfc,
  exp: fastExp,
  toInt32,
  toInt64,
  /** C's pow: 1 ** y and (-1) ** ±inf are 1 even for NaN y, where Math.pow gives NaN. */
  fpow(a: number, b: number): number {
    if (a === 1 || (a === -1 && (b === Infinity || b === -Infinity))) return 1;
    return Math.pow(a, b);
  },
  ipow(a: number, b: number): number {
    // Integer power with 32-bit wraparound (results are stored into int arrays that wrap further).
    if (b < 0) throw new RangeError('Integers to negative integer powers are not allowed');
    let r = 1;
    let base = a | 0;
    let e = b;
    while (e > 0) {
      if (e & 1) r = Math.imul(r, base);
      base = Math.imul(base, base);
      e = Math.floor(e / 2);
    }
    return r;
  },
  bpow(a: bigint, b: bigint): bigint {
    if (b < 0n) throw new RangeError('Integers to negative integer powers are not allowed');
    let r = 1n;
    let base = a;
    let e = b;
    while (e > 0n) {
      if (e & 1n) r = BigInt.asIntN(64, r * base);
      base = BigInt.asIntN(64, base * base);
      e >>= 1n;
    }
    return r;
  },
};
export type Lib = typeof lib;

/** One cache per arity, keyed by expression (no key-string building on the per-op path). */
const caches = [new Map<string, LoopFn>(), new Map<string, LoopFn>(), new Map<string, LoopFn>(), new Map<string, LoopFn>()];
const NAMES = ['a', 'b', 'c'];

/**
 * Flat 1-d loops for operands whose stride is 0 (a broadcast scalar, loaded once) or 1 (contiguous), one
 * branch per combination, unrolled by 4: V8 keeps typed-array bases in registers far better this way than
 * in the general strided loop (measured ~1.7x on a 4096-element add).
 */
function flatBranches(ops: string[], expr: string): string {
  const branches: string[] = [];
  // Unrolling pays for cheap expressions; for calls (exp, erf) it only bloats the loop and blocks inlining.
  const unroll = !expr.includes('(');
  for (let mask = 0; mask < 1 << ops.length; mask++) {
    const scalar = (i: number) => (mask >> i) & 1; // 1: stride 0
    const cond = ops.map((_, i) => `is${i} === ${scalar(i) ? 0 : 1}`).join(' && ');
    const hoist = ops.map((n, i) => (scalar(i) ? `const ${n} = d${i}[o${i}];` : '')).join(' ');
    const body = (jj: string) =>
      `{ ${ops.map((n, i) => (scalar(i) ? '' : `const ${n} = d${i}[o${i} + ${jj}];`)).join(' ')} out[${jj}] = ${expr}; }`;
    branches.push(`if (${cond}) {
        ${hoist}
        let j = 0;
        ${unroll ? `for (; j + 4 <= inner; j += 4) { ${body('j')} ${body('j + 1')} ${body('j + 2')} ${body('j + 3')} }` : ''}
        for (; j < inner; j++) ${body('j')}
        return;
      }`);
  }
  return branches.join('\n      ');
}

function compile(arity: number, expr: string): LoopFn {
  const ops = NAMES.slice(0, arity);
  const params = ops.flatMap((_, i) => [`d${i}`, `o${i}`, `s${i}`]);
  const at = (pos: (i: number) => string) => ops.map((n, i) => `const ${n} = d${i}[${pos(i)}];`).join(' ');
  const src = `
    "use strict";
    return function loop(out, shape, ${params.join(', ')}) {
      const nd = shape.length;
      if (nd === 0) { ${at((i) => `o${i}`)} out[0] = ${expr}; return; }
      const inner = shape[nd - 1];
      ${ops.map((_, i) => `const is${i} = s${i}[nd - 1];`).join(' ')}
      if (nd === 1) {
        ${flatBranches(ops, expr)}
        ${ops.map((_, i) => `let q${i} = o${i};`).join(' ')}
        for (let j = 0; j < inner; j++) {
          ${at((i) => `q${i}`)}
          out[j] = ${expr};
          ${ops.map((_, i) => `q${i} += is${i};`).join(' ')}
        }
        return;
      }
      let outer = 1;
      for (let k = 0; k < nd - 1; k++) outer *= shape[k];
      const idx = new Array(nd - 1).fill(0);
      ${ops.map((_, i) => `let p${i} = o${i};`).join(' ')}
      let o = 0;
      for (let r = 0; r < outer; r++) {
        ${ops.map((_, i) => `let q${i} = p${i};`).join(' ')}
        for (let j = 0; j < inner; j++) {
          ${at((i) => `q${i}`)}
          out[o++] = ${expr};
          ${ops.map((_, i) => `q${i} += is${i};`).join(' ')}
        }
        for (let k = nd - 2; k >= 0; k--) {
          idx[k]++;
          ${ops.map((_, i) => `p${i} += s${i}[k];`).join(' ')}
          if (idx[k] < shape[k]) break;
          ${ops.map((_, i) => `p${i} -= s${i}[k] * shape[k];`).join(' ')}
          idx[k] = 0;
        }
      }
    };`;
  return new Function('lib', src)(lib) as LoopFn;
}

export function getLoop(arity: number, expr: string): LoopFn {
  const cache = caches[arity]!;
  let fn = cache.get(expr);
  if (!fn) cache.set(expr, (fn = compile(arity, expr)));
  return fn;
}

/** Drop size-1 dims and merge dims that are contiguous for every operand. Returns the new shape and strides. */
export function collapse(shape: readonly number[], strides: readonly (readonly number[])[]): { shape: number[]; strides: number[][] } {
  const outShape: number[] = [];
  const outStrides: number[][] = strides.map(() => []);
  for (let d = 0; d < shape.length; d++) {
    const size = shape[d]!;
    if (size === 1) continue;
    const last = outShape.length - 1;
    // Merge dim d into the previous kept dim when, for every operand, stepping the previous dim equals
    // stepping d `size` times.
    if (last >= 0 && strides.every((s, i) => outStrides[i]![last] === s[d]! * size)) {
      outShape[last] = outShape[last]! * size;
      strides.forEach((s, i) => (outStrides[i]![last] = s[d]!));
      continue;
    }
    outShape.push(size);
    strides.forEach((s, i) => outStrides[i]!.push(s[d]!));
  }
  return { shape: outShape, strides: outStrides };
}

/** Run `expr` over operands into a contiguous `out` of `shape`. */
export function runLoop(expr: string, out: unknown, shape: readonly number[], operands: readonly LoopOperand[]): void {
  let total = 1;
  for (let i = 0; i < shape.length; i++) total *= shape[i]!;
  if (total === 0) return;
  const fn = getLoop(operands.length, expr);
  let loopShape: readonly number[];
  let strides: readonly (readonly number[])[];
  let flat = true;
  for (let i = 0; i < operands.length && flat; i++) flat = isFlat(operands[i]!.strides, shape) !== undefined;
  if (flat) {
    // Fast path: every operand is contiguous in the output's order, or a broadcast scalar.
    loopShape = [total];
    strides = operands.map((o) => (isFlat(o.strides, shape) ? ONE : ZERO));
  } else {
    const outStrides = new Array<number>(shape.length);
    let acc = 1;
    for (let i = shape.length - 1; i >= 0; i--) {
      outStrides[i] = acc;
      acc *= shape[i]!;
    }
    const c = collapse(shape, [outStrides, ...operands.map((o) => o.strides)]);
    loopShape = c.shape;
    strides = c.strides.slice(1);
  }
  // Explicit arities: calling the generated loop through spread or apply made it run ~2.5x slower in V8.
  const [x, y, z] = operands;
  switch (operands.length) {
    case 1:
      fn(out, loopShape, x!.data, x!.offset, strides[0]);
      break;
    case 2:
      fn(out, loopShape, x!.data, x!.offset, strides[0], y!.data, y!.offset, strides[1]);
      break;
    case 3:
      fn(out, loopShape, x!.data, x!.offset, strides[0], y!.data, y!.offset, strides[1], z!.data, z!.offset, strides[2]);
      break;
    default:
      throw new Error(`runLoop: ${operands.length} operands are not supported`);
  }
}

const ONE: readonly number[] = [1];
const ZERO: readonly number[] = [0];

/**
 * How `strides` walk `shape`: true when contiguous (row-major), false when all zero (a broadcast scalar),
 * undefined otherwise.
 */
function isFlat(strides: readonly number[], shape: readonly number[]): boolean | undefined {
  let zero = true;
  let expected = 1;
  let contiguous = true;
  for (let i = shape.length - 1; i >= 0; i--) {
    const s = strides[i]!;
    if (s !== 0) zero = false;
    if (shape[i] !== 1 && s !== expected) contiguous = false;
    expected *= shape[i]!;
  }
  return contiguous ? true : zero ? false : undefined;
}
