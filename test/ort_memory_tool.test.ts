/**
 * tools/bench_ort_memory.ts (README "Weights in memory", ORT sessions): an ORT Linear session built as the backend
 * builds it (FusedMatMul transB) keeps about one copy of its weight (MLAS's packed one), the old
 * MatMul(Transpose(W)) graph more; the tool refuses to run without a GC to call.
 * Runs the built tool in a child (`node --expose-gc`), like the other dist tool tests.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { backendStatus } from '../core/index.js';
import type { OrtMemoryResult } from '../tools/bench_ort_memory.js';

const TOOL = path.resolve(import.meta.dirname, '..', 'dist', 'tools', 'bench_ort_memory.js');

function run(args: string[], json: object): string {
  return execFileSync(process.execPath, [...args, TOOL, JSON.stringify(json)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

describe('bench_ort_memory', () => {
  it('a FusedMatMul session (the ORT backend fp32 Linear) keeps about one copy of its weight; MatMul(Transpose(W)) kept more', () => {
    if (!fs.existsSync(TOOL)) return console.warn(`${TOOL} not built: skipped`);
    if (backendStatus('ort')?.available !== true) return console.warn('ort unavailable: skipped');
    // 16 MiB weights: large enough that allocator slack is small against them
    const [fused, transpose] = (['fused', 'transpose'] as const).map((graph) => JSON.parse(run(['--expose-gc'], { graph, n: 2048, k: 2048, sessions: 6 })) as OrtMemoryResult);
    expect(fused!.weightMiB).toBe(16);
    expect(fused!.rssPerSessionMiB, JSON.stringify(fused)).toBeGreaterThan(0.75 * fused!.weightMiB);
    expect(fused!.rssPerSessionMiB, JSON.stringify(fused)).toBeLessThan(1.5 * fused!.weightMiB);
    // the folded Wᵀ and the arena it came from stay with the session (3x measured at this shape)
    expect(transpose!.rssPerSessionMiB, JSON.stringify(transpose)).toBeGreaterThan(fused!.rssPerSessionMiB + 0.5 * fused!.weightMiB);
    for (const r of [fused!, transpose!]) {
      expect(r.decodeMs).toBeGreaterThan(0);
      expect(r.prefill128Ms).toBeGreaterThan(r.decodeMs);
    }
  }, 60_000);

  it('refuses to run without --expose-gc, and unknown graphs', () => {
    if (!fs.existsSync(TOOL)) return console.warn(`${TOOL} not built: skipped`);
    expect(() => run([], { graph: 'fused' })).toThrow(/run with node --expose-gc/);
    expect(() => run(['--expose-gc'], { graph: 'gemm' })).toThrow(/graph 'gemm' \(fused, transpose\)/);
  });
});
