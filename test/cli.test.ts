import { describe, expect, it } from 'vitest';
import { formatDispatchBench, runDispatchBench } from '../tools/bench_dispatch.js';
import { runDemo } from '../tools/demo.js';

describe('opshift demo', () => {
  it('runs prefill and decode under the per-op policy and profiles every op with its cause', () => {
    const { profile, policy } = runDemo({ tokens: 8, dim: 16 });
    expect(policy).toMatch(/Linear\/MatMul: M >= 8 -> \[.*cpu\]/);
    expect(profile.result.prefill.shape).toEqual([8, 16]);
    expect(profile.result.decode.shape).toEqual([1, 16]);
    const linears = profile.records.filter((r) => r.op === 'Linear');
    expect(linears).toHaveLength(10);
    expect(linears.every((r) => r.cause === 'policy (scoped)')).toBe(true);
    const softmax = profile.records.filter((r) => r.op === 'Softmax');
    expect(softmax.map((r) => r.backend)).toEqual(['decompose', 'decompose']);
    // The decomposition's primitives are recorded one level down.
    expect(profile.records.some((r) => r.op === 'Exp' && r.depth === 1)).toBe(true);
    expect(Number.isFinite(profile.result.prefill.mean().item())).toBe(true);
  });
});

describe('opshift bench dispatch', () => {
  it('times eager, bare kernel and allocation for both sizes and formats a table', () => {
    const r = runDispatchBench({ timeMs: 20, peer: false });
    expect(r.rows.map((x) => x.elements)).toEqual([1, 4096]);
    for (const row of r.rows) {
      expect(row.eagerNs).toBeGreaterThan(0);
      expect(row.kernelNs).toBeGreaterThan(0);
      expect(row.overheadNs).toBeCloseTo(row.eagerNs - row.kernelNs, 6);
      expect(row.torchNs).toBeUndefined();
    }
    const text = formatDispatchBench(r);
    expect(text).toMatch(/^add, float32\s+eager a\.add\(b\)/);
    expect(text).toContain('peer: PyTorch peer skipped: disabled (--no-peer)');
  });
});

describe('opshift bench op', () => {
  it('times catalog cases per backend with flops/bytes from the dispatcher and the cause', async () => {
    const { runBenchOp, formatBenchOp, selectBenchCases } = await import('../tools/bench_op.js');
    expect(selectBenchCases().map((c) => c.name)).toContain('Linear/gemv_1x4096x4096');
    const r = runBenchOp({ cases: '^(Add/same_4x5|MatMul/2d_odd)$', timeMs: 20, peer: false, backends: ['cpu'] });
    expect(r.rows.map((x) => [x.case, x.backend, x.ranOn])).toEqual([
      ['Add/same_4x5', 'cpu', 'cpu'],
      ['MatMul/2d_odd', 'cpu', 'cpu'],
    ]);
    const mm = r.rows[1]!;
    expect(mm.medianMs).toBeGreaterThan(0);
    // 7×13 @ 13×11: 2·7·11·13 flops.
    expect(mm.gflops * mm.medianMs * 1e6).toBeCloseTo(2 * 7 * 11 * 13, 3);
    expect(formatBenchOp(r)).toMatch(/^case\s+backend\s+median ms/);
    expect(() => runBenchOp({ cases: '^nothing$', peer: false })).toThrow('bench op: no case matches /^nothing$/');
  });
});
