/**
 * Correctness never depends on the pool: every catalog case run with its output arrays taken from a pool full
 * of poison (all bits set) gives bit for bit what it gives with fresh zeroed arrays, on the default dispatch
 * (native kernels where they apply, cpu otherwise). This checks each op's `overwritesOutputs` claim and that
 * reused arrays of the other ops are zeroed.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { clearPool, poolStats, resetPoolStats, setPoolLimit, tidy, type Tensor } from '../core/index.js';
import { poisonPoolForTesting } from '../core/pool.js';
import { buildArgs, OP_CASES, runCase } from '../tools/op_cases.js';

afterAll(() => {
  setPoolLimit(256);
  clearPool();
});

/** The bytes of a tensor's logical elements (a contiguous copy), for exact comparison NaNs included. */
function bytesOf(t: Tensor): Uint8Array {
  const a = t.toTypedArray();
  return new Uint8Array(a.buffer.slice(a.byteOffset, a.byteOffset + a.byteLength));
}

const cases = OP_CASES.filter((c) => !(c.tags ?? []).includes('bench') && !/rand|dropout|multinomial|normal_|uniform_/i.test(c.name + c.fn));

describe('catalog cases with poisoned pooled outputs', () => {
  it(`${cases.length} cases: outputs from a poisoned pool equal outputs from fresh arrays`, () => {
    const bad: string[] = [];
    let reused = 0;
    for (const c of cases) {
      const args = buildArgs(c);
      setPoolLimit(0);
      let ref: Uint8Array[];
      try {
        ref = runCase(c, args).map(bytesOf);
      } catch {
        continue; // cases that test an error path
      }
      setPoolLimit(256);
      // Fill the pool with this case's own output sizes, poisoned, then run the case again from it.
      tidy(() => {
        runCase(c, args);
      });
      poisonPoolForTesting();
      resetPoolStats();
      const again = tidy(() => runCase(c, args).map(bytesOf));
      if (poolStats().hits > 0) reused++;
      clearPool();
      const same = again.length === ref.length && again.every((b, i) => b.length === ref[i]!.length && b.every((v, j) => v === ref[i]![j]));
      if (!same) bad.push(c.name);
    }
    expect(bad).toEqual([]);
    // The second runs really took poisoned arrays (cases whose outputs are views of their inputs take none).
    expect(reused).toBeGreaterThan(cases.length / 2);
  });
});
