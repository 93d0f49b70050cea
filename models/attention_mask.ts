/**
 * What each query of a forward may attend to, as Hugging Face's masking_utils builds it: causal, optionally a
 * sliding window (`kv_idx > q_idx - sliding_window`), and padded keys (attention_mask 0) hidden. Also the
 * position ids a padded batch implies. Shared by every model so padding and windows mean the same everywhere.
 */
import { ArgumentError } from '../core/errors.js';
import { fromTypedArray } from '../ops/creation.js';
import type { Tensor } from '../core/tensor.js';

/** attention_mask rows as 0/1 bytes, [B][past + T]; undefined when every entry is 1 (no padding). */
export type PadRows = readonly Uint8Array[];

/**
 * Reads a forward's attention_mask ([B, past + T], any numeric or bool dtype, 1 = token, 0 = padding) and checks
 * it. Returns undefined for an all-ones mask: the unpadded path then runs, identical to no mask at all.
 */
export function readPadMask(mask: Tensor, batch: number, past: number, T: number): PadRows | undefined {
  const S = past + T;
  if (mask.ndim !== 2 || mask.shape[0] !== batch || mask.shape[1] !== S)
    throw new ArgumentError(`forward: attention_mask [${mask.shape.join(', ')}] must be [batch, past + new] = [${batch}, ${S}] (${past} cached + ${T} new positions)`);
  const data = mask.to('float32').contiguous().toTypedArray() as Float32Array;
  const rows: Uint8Array[] = [];
  let padded = false;
  for (let b = 0; b < batch; b++) {
    const row = new Uint8Array(S);
    for (let j = 0; j < S; j++) {
      const v = data[b * S + j]!;
      if (v !== 0 && v !== 1) throw new ArgumentError(`forward: attention_mask[${b}, ${j}] is ${v}; entries must be 0 (padding) or 1 (token)`);
      row[j] = v;
      if (v === 0) padded = true;
    }
    if (!row.some((v) => v === 1))
      throw new ArgumentError(`forward: attention_mask row ${b} is all padding; every row needs at least one token`);
    rows.push(row);
  }
  return padded ? rows : undefined;
}

/**
 * Position ids of the new positions past..past+T-1 of each row, [B, T] as float32 values: Llama-family
 * generation's `cumsum(mask) - 1` with padding at 1 (generation utils), or OPT's `cumsum(mask) * mask - 1`
 * (modeling_opt.py; the caller adds OPT's offset of 2), which puts padding at -1.
 */
export function positionsFromMask(rows: PadRows, past: number, T: number, style: 'llama' | 'opt'): Tensor {
  const out = new Float32Array(rows.length * T);
  rows.forEach((row, b) => {
    let sum = 0;
    for (let j = 0; j < past + T; j++) {
      sum += row[j]!;
      if (j >= past) out[b * T + j - past] = row[j] ? sum - 1 : style === 'llama' ? 1 : -1;
    }
  });
  return fromTypedArray(out, [rows.length, T]);
}

/** The largest value (a loop: spreading a long sequence's positions into Math.max overflows the stack). */
export function maxOf(xs: ArrayLike<number>): number {
  let m = -Infinity;
  for (let i = 0; i < xs.length; i++) if (xs[i]! > m) m = xs[i]!;
  return m;
}

/** Which keys the attention reads and how it masks them. */
export interface AttentionPlan {
  /** First cached position read (> 0 only under a sliding window): keys keyStart..past+T-1. */
  readonly keyStart: number;
  /** bool [B or 1, 1, T, S - keyStart] (true = attend), or undefined: plain bottom-right causal (or none for T = 1). */
  readonly mask: Tensor | undefined;
}

/**
 * The plan for T new queries at positions past..past+T-1 over keys 0..past+T-1. Query at position p sees key j
 * when j ≤ p, j > p - window (if a window is set), and key j is a token (if padded). A padding query would then
 * see nothing (a softmax over no keys is NaN, and NaN values would reach real rows through 0·NaN), so it sees
 * itself; real rows never read padding, so this changes no real output.
 */
export function attentionPlan(past: number, T: number, window: number | undefined, pad: PadRows | undefined): AttentionPlan {
  const S = past + T;
  const keyStart = window === undefined ? 0 : Math.max(0, past - window + 1);
  // Without padding, bottom-right causal over keyStart.. is exact when one query is asked or the window never binds.
  if (!pad && (T === 1 || window === undefined || S <= window)) return { keyStart, mask: undefined };
  const W = S - keyStart;
  const rows = pad ?? [undefined];
  const m = new Uint8Array(rows.length * T * W);
  rows.forEach((row, b) => {
    for (let i = 0; i < T; i++) {
      const p = past + i;
      const lo = window === undefined ? 0 : p - window + 1;
      for (let j = Math.max(keyStart, lo); j <= p; j++) if (!row || row[j] || j === p) m[(b * T + i) * W + j - keyStart] = 1;
    }
  });
  return { keyStart, mask: fromTypedArray(m, [rows.length, 1, T, W], { dtype: 'bool' }) };
}
