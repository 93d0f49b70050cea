/**
 * Every available backend against the cpu reference on the whole op-case catalog (ggml's test-backend-ops
 * "test" mode). A backend without a kernel for an op, or whose supports() refuses a case, is skipped for that
 * case and counted; unavailable backends are reported with their reason.
 */
import { describe, expect, it } from 'vitest';
import { getOp, listBackends, profile, withBackend } from '../core/index.js';
import { BACKEND_CASES, buildArgs, defaultTolerance, OP_CASES, runCase } from '../tools/op_cases.js';
import { compareOutput } from './compare.js';

const others = listBackends().filter((b) => b.name !== 'cpu');

describe('backends against cpu', () => {
  it('lists every non-cpu backend (unavailable ones with a reason)', () => {
    for (const b of others) if (!b.status.available) expect(b.status.reason.length).toBeGreaterThan(0);
    expect(listBackends().some((b) => b.name === 'cpu' && b.status.available)).toBe(true);
  });

  for (const b of others.filter((x) => x.status.available)) {
    const cases = [...OP_CASES, ...BACKEND_CASES].filter((c) => getOp(c.op)?.kernels.has(b.name));
    it(`${b.name}: ${cases.length} cases with a ${b.name} kernel`, () => {
      let ran = 0;
      for (const c of cases) {
        const args = buildArgs(c);
        const p = profile(() => withBackend(b.name, () => runCase(c, args)));
        const own = p.records.find((r) => r.op === c.op && r.depth === 0);
        if (own?.backend !== b.name) continue; // refused by supports(): the cause says why; nothing to compare
        ran++;
        const ref = withBackend('cpu', () => runCase(c, args));
        p.result.forEach((o, i) => {
          const r = ref[i]!;
          const raw = Array.from(r.toTypedArray() as ArrayLike<number | bigint>, Number);
          const msg = compareOutput(o, { dtype: r.dtype, shape: r.shape, raw }, false, c.backendTol?.[b.name] ?? c.tol ?? defaultTolerance(r.dtype));
          expect(msg, `${c.name} on ${b.name}`).toBe('');
        });
      }
      expect(ran).toBeGreaterThan(0);
    }, 60_000); // hundreds of cases (ORT compiles a session for each signature): seconds, more on a busy machine
  }
});
