/**
 * Attention against its peers in ONE process, round-robin (issue #16's targets, fair on a machine whose load
 * changes): causal prefill on the native kernel vs ORT's MLAS GEMM (`linear` 256×512×512, constant weight, the
 * `bench machine` peak probe) — GFLOP/s of the full 4·H·L·S·D work and of the useful causal part
 * (4·H·D·L(L+1)/2) — and decode (one query, S cached keys, read in place from a [1, KV, capacity, D] cache as
 * the models do) vs a memcpy of 64 MiB (read + write bytes, as `bench machine` counts them): GB/s of K+V read.
 * Each round takes every case in turn, the best single call over at least 2-5 calls and ~30 ms (so a case runs
 * again on caches that the memcpy probe flushed); the reported figure is the best over the rounds.
 *
 *   node dist/tools/bench_attention.js [rounds=5] [threads=1]
 */
import { linear, manualSeed, rand, scaledDotProductAttention, withBackend } from '../core/index.js';
import { setThreads } from './threads.js';

interface Case {
  readonly name: string;
  readonly run: () => void;
  /** full and useful float ops (prefill) or bytes of K+V (decode) */
  readonly flops?: { full: number; useful: number };
  readonly bytes?: number;
  best: number;
}

/** Best single call over at least `n` calls and ~30 ms (short cases get enough calls to warm the caches again). */
function bestOf(fn: () => void, n: number): number {
  let best = Infinity;
  const t0 = performance.now();
  for (let i = 0; i < n || performance.now() - t0 < 30; i++) {
    const t = performance.now();
    fn();
    best = Math.min(best, performance.now() - t);
  }
  return best;
}

function prefill(H: number, KV: number, T: number, D: number): Case {
  const q = rand([1, H, T, D]);
  const k = rand([1, KV, T, D]);
  const v = rand([1, KV, T, D]);
  const run = () => withBackend('native', () => scaledDotProductAttention(q, k, v, { isCausal: true, enableGqa: KV !== H }).dispose());
  return { name: `prefill H${H}/KV${KV} T${T} D${D}`, run, flops: { full: 4 * H * T * T * D, useful: (4 * H * D * T * (T + 1)) / 2 }, best: Infinity };
}

function decode(H: number, KV: number, S: number, D: number): Case {
  const cap = 4096;
  const kc = rand([1, KV, cap, D]);
  const vc = rand([1, KV, cap, D]);
  const q = rand([1, 1, H, D]).transpose(1, 2); // (B, H, 1, D) as the models' view of (B, 1, H·D)
  const k = kc.narrow(2, 0, S);
  const v = vc.narrow(2, 0, S);
  const run = () => withBackend('native', () => scaledDotProductAttention(q, k, v, { enableGqa: KV !== H }).dispose());
  return { name: `decode H${H}/KV${KV} S${S} D${D}`, run, bytes: 2 * KV * S * D * 4, best: Infinity };
}

function main(): void {
  const rounds = Number(process.argv[2] ?? 5);
  const threads = Number(process.argv[3] ?? 1);
  setThreads(threads);
  manualSeed(0);
  const x = rand([256, 512]);
  const w = rand([512, 512]).markConstant();
  const gemm: Case = { name: 'ort linear 256x512x512', run: () => withBackend('ort', () => linear(x, w).dispose()), flops: { full: 2 * 256 * 512 * 512, useful: 2 * 256 * 512 * 512 }, best: Infinity };
  const src = new Float64Array(8 << 20); // 64 MiB
  const dst = new Float64Array(8 << 20);
  src.fill(1);
  const memcpy: Case = { name: 'memcpy 64 MiB (read + write)', run: () => dst.set(src), bytes: 2 * src.byteLength, best: Infinity };
  const cases: Case[] = [
    prefill(8, 8, 128, 64),
    prefill(12, 12, 512, 64),
    prefill(32, 4, 1024, 64),
    prefill(32, 32, 256, 128),
    prefill(32, 32, 128, 128),
    decode(12, 12, 128, 64),
    decode(12, 12, 2048, 64),
    decode(32, 4, 128, 64),
    decode(32, 4, 2048, 64),
  ];
  const all = [gemm, memcpy, ...cases];
  for (const c of all) c.run(); // warm: ORT session, pools, weights prepared
  for (let r = 0; r < rounds; r++)
    for (const c of all) {
      const ms = bestOf(c.run, c.flops && c.flops.full > 1e9 ? 2 : 5);
      c.best = Math.min(c.best, ms);
    }
  const peak = gemm.flops!.full / (gemm.best * 1e6);
  const roof = memcpy.bytes! / (memcpy.best * 1e6);
  console.log(`threads ${threads}, best of ${rounds} round-robin rounds; ${gemm.name}: ${peak.toFixed(1)} GFLOP/s; ${memcpy.name}: ${roof.toFixed(2)} GB/s`);
  for (const c of cases) {
    if (c.flops) {
      const full = c.flops.full / (c.best * 1e6);
      const useful = c.flops.useful / (c.best * 1e6);
      console.log(`${c.name.padEnd(28)} ${c.best.toFixed(3).padStart(9)} ms  ${full.toFixed(1).padStart(6)} GFLOP/s full  ${useful.toFixed(1).padStart(6)} useful = ${((100 * useful) / peak).toFixed(0)}% of ORT`);
    } else {
      const gbps = c.bytes! / (c.best * 1e6);
      console.log(`${c.name.padEnd(28)} ${c.best.toFixed(3).padStart(9)} ms  ${gbps.toFixed(2).padStart(6)} GB/s of K+V = ${((100 * gbps) / roof).toFixed(0)}% of memcpy`);
    }
  }
}

main();
