/**
 * The native attention kernel's unit shapes on every ISA variant this CPU allows (forced one by one), against
 * the TypeScript reference: prefill work units of 6 query rows with every tail (L mod 6 = 0..5), causal
 * top-left and bottom-right with S ≠ L (bottom-right with L > S leaves rows with no visible key: NaN, as the
 * reference), GQA, masks; decode with the query heads of a group as the rows of one unit (groups 1..8: every
 * unit height the decode micro-kernels have; key counts with and without a tail past the 8-key blocks),
 * reading a narrowed KV-cache view in place. Head sizes with vector tails (E 72 or 20, Ev 40 or 12) and without.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { backendStatus, manualSeed, profile, rand, scaledDotProductAttention, Tensor, withBackend } from '../core/index.js';
import type { AttentionOptions } from '../ops/nn.js';
import { nativeLib, supportedIsas } from '../backends/native/backend.js';
import { configureNative, nativeConfig } from '../backends/native/config.js';

const available = backendStatus('native')?.available === true;
const initial = nativeConfig();
afterAll(() => {
  if (available) configureNative(initial);
});

const values = (t: Tensor): Float32Array => t.contiguous().toTypedArray() as Float32Array;

/** Elements outside atol + rtol·|ref| (NaN must meet NaN), as "index: got vs want" lines (at most 5). */
function mismatches(got: Float32Array, want: Float32Array, rtol = 1e-4, atol = 1e-5): string[] {
  expect(got.length).toBe(want.length);
  const bad: string[] = [];
  for (let i = 0; i < want.length && bad.length < 5; i++) {
    const w = want[i]!;
    const g = got[i]!;
    const ok = Number.isNaN(w) ? Number.isNaN(g) : Math.abs(g - w) <= atol + rtol * Math.abs(w);
    if (!ok) bad.push(`${i}: ${g} vs ${w}`);
  }
  return bad;
}

/** Runs attention on native (asserting the native kernel ran it) and on cpu; returns the mismatches. */
function compare(q: Tensor, k: Tensor, v: Tensor, o: AttentionOptions): string[] {
  const p = profile(() => withBackend('native', () => scaledDotProductAttention(q, k, v, o)));
  expect(p.records.find((r) => r.op === 'Attention' && r.depth === 0)?.backend).toBe('native');
  return mismatches(values(p.result), values(withBackend('cpu', () => scaledDotProductAttention(q, k, v, o))));
}

describe.skipIf(!available)('native attention: work-unit shapes on every ISA', () => {
  const isas = available ? supportedIsas(nativeLib()) : [];
  for (const isa of isas) {
    it(`${isa}: prefill, every tail of the 6-row units, causal both alignments, GQA, masks`, () => {
      configureNative({ isa, threads: 1 });
      manualSeed(3);
      let cases = 0;
      for (const [E, Ev] of [[64, 64], [72, 40]] as const)
        for (const L of [16, 17, 18, 19, 20, 21, 29]) {
          for (const S of [L, L + 7, L - 5]) {
            const q = rand([1, 4, L, E]).mul(2).sub(1);
            const k = rand([1, 2, S, E]).mul(2).sub(1);
            const v = rand([1, 2, S, Ev]);
            for (const o of [
              { isCausal: true, enableGqa: true },
              { isCausal: true, causalAlign: 'bottom-right', enableGqa: true },
              { enableGqa: true, attnMask: rand([L, S]).mul(-4) },
              { enableGqa: true, attnMask: rand([1, 1, L, S]).lt(0.6), scale: 0.3 },
            ] satisfies AttentionOptions[]) {
              expect(compare(q, k, v, o), `E ${E} Ev ${Ev} L ${L} S ${S} ${JSON.stringify(Object.keys(o))} ${o.causalAlign ?? ''}`).toEqual([]);
              cases++;
            }
          }
        }
      expect(cases).toBe(2 * 7 * 3 * 4);
    });

    it(`${isa}: causal rows are the same bit for bit whichever work unit holds them (a prefix of 20 rows vs 30)`, () => {
      configureNative({ isa, threads: 1 });
      manualSeed(5);
      for (const E of [64, 20]) {
        const q = rand([1, 3, 30, E]).mul(2).sub(1);
        const k = rand([1, 3, 30, E]).mul(2).sub(1);
        const v = rand([1, 3, 30, E]);
        const part = (n: number) => withBackend('native', () => scaledDotProductAttention(q.narrow(2, 0, n), k.narrow(2, 0, n), v.narrow(2, 0, n), { isCausal: true }));
        // rows 18-19 sit in a unit of rows 18-23 (frontier 24) in the longer call and of rows 18-19 in the shorter
        expect(Array.from(values(part(30).narrow(2, 0, 20))), `E ${E}`).toEqual(Array.from(values(part(20))));
      }
    });

    it(`${isa}: decode over a narrowed cache, query heads grouped 1..8 per key/value head`, () => {
      configureNative({ isa, threads: 1 });
      manualSeed(4);
      for (const [E, Ev] of [[64, 64], [72, 40], [20, 12]] as const) // 20: a query/key tail past the 8-float vectors
        for (const groups of [1, 2, 3, 4, 5, 6, 7, 8])
          for (const S of [1, 9, 70]) {
            const KV = 2;
            const H = KV * groups;
            const kc = rand([1, KV, 96, E]).mul(2).sub(1);
            const vc = rand([1, KV, 96, Ev]);
            const q = rand([1, 1, H, E]).mul(2).sub(1).transpose(1, 2); // (B, H, 1, E) view, as the models make it
            const k = kc.narrow(2, 0, S);
            const v = vc.narrow(2, 0, S);
            const o = { isCausal: false, causalAlign: 'bottom-right', enableGqa: groups > 1 } satisfies AttentionOptions;
            expect(compare(q, k, v, o), `E ${E} Ev ${Ev} groups ${groups} S ${S}`).toEqual([]);
          }
    });
  }
});
