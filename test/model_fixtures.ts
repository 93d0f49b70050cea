/**
 * The tiny model checkpoints in test/fixtures/models/ (made by test/fixtures/make_models.py) and their golden
 * outputs from the plain-torch reference: prompts, last-position logits and greedy continuations.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fromTypedArray } from '../core/index.js';
import type { CausalLM } from '../models/causal_lm.js';

export const MODEL_FIXTURES = join(import.meta.dirname, 'fixtures', 'models');

export interface Golden {
  prompts: number[][];
  last_logits: number[][];
  greedy: number[][];
}

/** The golden.json of a fixture folder (a name under test/fixtures/models/, or a path); `T` for extra fields. */
export function readGolden<T extends Golden = Golden>(dir: string): T {
  return JSON.parse(readFileSync(join(dir.includes('/') ? dir : join(MODEL_FIXTURES, dir), 'golden.json'), 'utf8')) as T;
}

/** max |a − b| over max |b|: the relative error of a whole logits row. */
export function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < b.length; i++) {
    num = Math.max(num, Math.abs(a[i]! - b[i]!));
    den = Math.max(den, Math.abs(b[i]!));
  }
  return num / den;
}

/** ‖a − b‖ / ‖b‖: the relative L2 error of a whole logits block. */
export function relL2(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < b.length; i++) {
    num += (a[i]! - b[i]!) ** 2;
    den += b[i]! ** 2;
  }
  return Math.sqrt(num / den);
}

/** Every position's logits of one prompt of token ids, flattened ([1, T, V] → T·V floats). */
export function logitsOf(model: CausalLM, ids: readonly number[]): Float32Array {
  return model.forward(fromTypedArray(BigInt64Array.from(ids, (v) => BigInt(v)), [1, ids.length])).toArray() as Float32Array;
}

/** Runs `fn` with OPSHIFT_KEEP_HOST_WEIGHTS=1 (every host weight copy kept: the reference the release tests compare with). */
export function keepingHostWeights<T>(fn: () => T): T {
  const prev = process.env.OPSHIFT_KEEP_HOST_WEIGHTS;
  process.env.OPSHIFT_KEEP_HOST_WEIGHTS = '1';
  try {
    return fn();
  } finally {
    if (prev === undefined) delete process.env.OPSHIFT_KEEP_HOST_WEIGHTS;
    else process.env.OPSHIFT_KEEP_HOST_WEIGHTS = prev;
  }
}
