/**
 * Shared test helpers: loading the PyTorch golden fixtures (test/fixtures/*.json, written by
 * test/fixtures/make_fixtures.py) and comparing tensors with them.
 *
 * Fixture encoding: JSON has no NaN/Infinity, so non-finite floats are the strings "nan", "inf", "-inf" and
 * integers beyond ±2^53 are decimal strings.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';
import { tensor, type DType, type Tensor } from '../core/index.js';

export type FixtureValue = number | boolean | string;

/** A tensor's elements as JS numbers (int64 through Number()). */
export function numbersOf(t: Tensor): number[] {
  return Array.from(t.toArray() as ArrayLike<number | bigint>, (v) => Number(v));
}

/** Parsed test/fixtures/<name>. */
export function loadFixture<T = unknown>(name: string): T {
  return JSON.parse(readFileSync(fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url)), 'utf8')) as T;
}

/** A fixture value as a JS number (big integers lose precision; use fixtureBigInt for int64). */
export function fixtureNumber(v: FixtureValue): number {
  if (typeof v === 'boolean') return v ? 1 : 0;
  if (typeof v === 'number') return v;
  if (v === 'nan') return NaN;
  if (v === 'inf') return Infinity;
  if (v === '-inf') return -Infinity;
  return Number(v);
}

/** An integer fixture value as an exact BigInt. */
export function fixtureBigInt(v: FixtureValue): bigint {
  if (typeof v === 'boolean') return v ? 1n : 0n;
  return BigInt(v);
}

/** A tensor of `dtype` and `shape` holding fixture values exactly (int64 through BigInt). */
export function fixtureTensor(values: readonly FixtureValue[], dtype: DType, shape: readonly number[]): Tensor {
  const flat =
    dtype === 'int64' ? tensor(BigInt64Array.from(values.map(fixtureBigInt))) : tensor(values.map(fixtureNumber), { dtype });
  return flat.reshape([...shape]);
}

/** Distance between adjacent representable values at |x| for a float dtype. */
export function ulpOf(x: number, dtype: DType): number {
  const mant = dtype === 'float16' ? 10 : dtype === 'bfloat16' ? 7 : 23;
  const minExp = dtype === 'float16' ? -14 : -126;
  const e = x === 0 || !Number.isFinite(x) ? minExp : Math.max(Math.floor(Math.log2(Math.abs(x))), minExp);
  return 2 ** (e - mant);
}

export interface CloseOptions {
  readonly rtol?: number;
  readonly atol?: number;
  /** Also accept this many units in the last place of the actual tensor's dtype. */
  readonly ulps?: number;
}

/**
 * Elementwise |actual - expected| <= atol + rtol·|expected| (or within `ulps` ulps); NaN must match NaN and
 * infinities must match exactly. Defaults: rtol 1e-5, atol 1e-6.
 */
export function expectClose(actual: Tensor, expectedValues: readonly FixtureValue[], opts: CloseOptions = {}): void {
  const { rtol = 1e-5, atol = 1e-6, ulps = 0 } = opts;
  const got = numbersOf(actual);
  const want = expectedValues.map(fixtureNumber);
  expect(got.length, 'element count').toBe(want.length);
  const bad: string[] = [];
  for (let i = 0; i < want.length; i++) {
    const a = got[i]!;
    const e = want[i]!;
    let ok: boolean;
    if (Number.isNaN(e)) ok = Number.isNaN(a);
    else if (!Number.isFinite(e)) ok = a === e;
    else {
      const tol = Math.max(atol + rtol * Math.abs(e), ulps * ulpOf(e, actual.dtype));
      ok = Math.abs(a - e) <= tol;
    }
    if (!ok) bad.push(`[${i}] got ${a}, expected ${e}`);
  }
  expect(bad, `${bad.length} of ${want.length} elements differ`).toEqual([]);
}

/** Exact equality of a tensor's elements with fixture values (int64 compared as BigInt; -0 vs 0 and NaN checked). */
export function expectExact(actual: Tensor, expectedValues: readonly FixtureValue[]): void {
  if (actual.dtype === 'int64') {
    const got = Array.from(actual.toArray() as BigInt64Array);
    expect(got).toEqual(expectedValues.map(fixtureBigInt));
    return;
  }
  const got = numbersOf(actual);
  const want = expectedValues.map(fixtureNumber);
  expect(got.length, 'element count').toBe(want.length);
  const bad: string[] = [];
  for (let i = 0; i < want.length; i++) {
    const a = got[i]!;
    const e = want[i]!;
    if (!(Object.is(a, e) || (Number.isNaN(a) && Number.isNaN(e)))) bad.push(`[${i}] got ${a}, expected ${e}`);
  }
  expect(bad, `${bad.length} of ${want.length} elements differ`).toEqual([]);
}

/** One view op as written in the fixtures: ["name", ...args] (see make_fixtures.py apply_view). */
export type ViewOp = [string, ...unknown[]];

export function applyView(t: Tensor, op: ViewOp): Tensor {
  const [name, ...args] = op;
  const n = (i: number) => args[i] as number;
  switch (name) {
    case 'view':
      return t.view(args[0] as number[]);
    case 'reshape':
      return t.reshape(args[0] as number[]);
    case 'permute':
      return t.permute(args[0] as number[]);
    case 'transpose':
      return t.transpose(n(0), n(1));
    case 't':
      return t.t();
    case 'narrow':
      return t.narrow(n(0), n(1), n(2));
    case 'slice': {
      const opt = (i: number) => (args[i] === null ? undefined : n(i));
      return t.slice(n(0), opt(1), opt(2), opt(3));
    }
    case 'expand':
      return t.expand(args[0] as number[]);
    case 'squeeze':
      return args.length ? t.squeeze(n(0)) : t.squeeze();
    case 'unsqueeze':
      return t.unsqueeze(n(0));
    case 'flatten':
      return t.flatten(...(args as number[]));
    case 'contiguous':
      return t.contiguous();
    default:
      throw new Error(`unknown view op ${name}`);
  }
}

export function applyViews(t: Tensor, ops: readonly ViewOp[] | undefined): Tensor {
  let r = t;
  for (const op of ops ?? []) r = applyView(r, op);
  return r;
}
