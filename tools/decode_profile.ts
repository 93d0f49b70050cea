/**
 * Where decode time goes (issue #16's "non-GEMM ≤ 10% of decode op time"): one warm generate under the CLI's
 * default policy, profiled, its top-level op records split at the first decode step (the second forward's
 * Embedding call) into prefill and decode; per op and backend the decode milliseconds and share, the GEMM
 * (Linear*, MatMul) versus non-GEMM split, and the decode wall time not inside any op (JS between ops: sampling,
 * cache bookkeeping, dispatch outside the timed kernels). `bench model`'s breakdown mixes prefill in.
 *
 *   node dist/tools/decode_profile.js <model> [w8a8|w4|fp32] [prompt] [tokens] [threads]
 */
import { profile, type OpRecord } from '../core/profiler.js';
import { withPolicy } from '../core/policy.js';
import { generate } from '../models/generate.js';
import { quantize } from '../models/quantize/index.js';
import { defaultPolicy } from './default_policy.js';
import { openModel } from './generate.js';
import { promptIds } from './bench_model.js';
import { setThreads } from './threads.js';

const isGemm = (op: string): boolean => op.startsWith('Linear') || op === 'MatMul';

async function main(): Promise<void> {
  const [source = 'synthetic:opt-125m', quant = 'fp32', promptArg = '128', tokensArg = '16', threadsArg = '1'] = process.argv.slice(2);
  if (!['fp32', 'w8a8', 'w4'].includes(quant)) throw new Error(`decode_profile: quant must be fp32, w8a8 or w4, got '${quant}'`);
  setThreads(Number(threadsArg));
  const { model } = await openModel(source);
  if (quant !== 'fp32') quantize(model, quant === 'w8a8' ? { method: 'w8a8' } : { method: 'pergrp', groupSize: 128 }, { exclude: [] });
  const prompt = promptIds(model, Number(promptArg), undefined);
  const policy = defaultPolicy();
  const run = () => withPolicy(policy, () => generate(model, prompt, { maxNewTokens: Number(tokensArg), ignoreEos: true }));
  run(); // warm: weights prepared, pools filled
  const p = profile(run);
  const top = p.records.filter((r) => r.depth === 0);
  // A decode step's Embedding looks up one id per sequence (OPT's positional embedding is an Embedding too,
  // so the forwards are told apart by their id count, not by counting Embedding calls).
  const numel = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);
  const embeds = top.filter((r) => r.op === 'Embedding' && r.inputShapes.some((s) => s.length >= 1 && numel(s) === 1));
  if (embeds.length < 1) throw new Error('decode_profile: no decode step (an Embedding of one id) in the profile');
  const t0 = embeds[0]!.start;
  const decode = top.filter((r) => r.start >= t0);
  const last = decode[decode.length - 1]!;
  const wall = last.start + last.ms - t0;
  const by = new Map<string, { ms: number; calls: number; med: number; shapes: Map<string, number[]>; gemm: boolean }>();
  for (const r of decode as OpRecord[]) {
    const k = `${r.op}@${r.backend}`;
    const e = by.get(k) ?? { ms: 0, calls: 0, med: 0, shapes: new Map<string, number[]>(), gemm: isGemm(r.op) };
    e.ms += r.ms;
    e.calls++;
    const sk = JSON.stringify(r.inputShapes);
    const list = e.shapes.get(sk) ?? [];
    list.push(r.ms);
    e.shapes.set(sk, list);
    by.set(k, e);
  }
  // Σ calls × median per op and input shape: a preempted call (a shared machine) inflates a sum, hardly a
  // median (per shape, since one op's calls differ in size: lm_head against the layers' projections)
  const medianMs = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
  let medAll = 0;
  let medGemm = 0;
  for (const e of by.values()) {
    for (const xs of e.shapes.values()) e.med += xs.length * medianMs(xs);
    medAll += e.med;
    if (e.gemm) medGemm += e.med;
  }
  const opMs = decode.reduce((a, r) => a + r.ms, 0);
  const gemmMs = decode.filter((r) => isGemm(r.op)).reduce((a, r) => a + r.ms, 0);
  const steps = Number(tokensArg) - 1; // the first new token comes from the prefill
  console.log(`${source} ${quant}, prompt ${prompt.length}, ${steps} decode steps, threads ${threadsArg}: decode wall ${wall.toFixed(1)} ms (${(wall / steps).toFixed(2)} ms/token), op time ${opMs.toFixed(1)} ms`);
  console.log(`  GEMM ${gemmMs.toFixed(1)} ms (${((100 * gemmMs) / opMs).toFixed(1)}% of op time), non-GEMM ${(opMs - gemmMs).toFixed(1)} ms (${((100 * (opMs - gemmMs)) / opMs).toFixed(1)}%); between ops ${(wall - opMs).toFixed(1)} ms (${((100 * (wall - opMs)) / wall).toFixed(1)}% of wall)`);
  console.log(`  by calls × median: GEMM ${medGemm.toFixed(1)} ms, non-GEMM ${(medAll - medGemm).toFixed(1)} ms (${((100 * (medAll - medGemm)) / medAll).toFixed(1)}%)`);
  for (const [k, e] of [...by].sort((a, b) => b[1].ms - a[1].ms))
    console.log(
      `  ${k.padEnd(24)} ${String(e.calls).padStart(5)} calls ${e.ms.toFixed(1).padStart(9)} ms ${((100 * e.ms) / opMs).toFixed(1).padStart(5)}%  ` +
        `${((1000 * e.ms) / e.calls).toFixed(1).padStart(8)} us/call; by medians ${e.med.toFixed(1).padStart(8)} ms ${((100 * e.med) / medAll).toFixed(1).padStart(5)}%`,
    );
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
