/**
 * `opshift bench machine`: this machine's roofs for the roofline chart, measured by a small built-in probe on
 * one thread (the way opshift's kernels run):
 *
 * - memory bandwidth: STREAM-style copy (`Float64Array.set`, i.e. memcpy) and triad (`a[i] = b[i] + s·c[i]`, a
 *   JS loop) over arrays far larger than the caches, bytes counted as STREAM does (read + written); and a native
 *   READ probe (the NPU emulation library's `npu_emu_read_gbps`: a vector sum over 256 MiB read as 1, 4 and 8
 *   interleaved streams, the best kept), the rate a decode GEMV that only reads its weights can reach. One
 *   sequential stream under-reads a core here (12–15 vs 18–24 GB/s with 4 streams: too few misses in flight);
 *   the roof is the best probe, which is the read probe whenever the library is built;
 * - peak GFLOP/s: the best float32 GEMM opshift can run here: `linear` 256×512×512 with a constant weight (1 MiB,
 *   cache-resident) on each available GEMM backend (wasm SIMD, ORT's MLAS, npu, the TypeScript cpu kernel);
 *   the roof is the fastest, and the result says which.
 *
 * Results are cached in a file for the session (os.tmpdir(), 12 hours, keyed by CPU, core count and Node
 * version) so `bench op --plot` does not re-measure; `--fresh` re-measures.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir, totalmem, userInfo } from 'node:os';
import { join } from 'node:path';
import { getOp, linear, listBackends, manualSeed, profile, rand, withBackend } from '../core/index.js';
import { defaultNpuLibraryPath } from '../backends/npu/ffi.js';
import { koffi } from '../backends/native_library.js';
import { fitTable, wrapParagraph } from './table.js';

export interface BandwidthProbe {
  readonly kind: 'copy' | 'triad' | 'read';
  readonly how: string;
  readonly mib: number;
  readonly gbps: number;
}

export interface PeakProbe {
  readonly backend: string;
  /** The backend that really ran (a refusing backend falls back). */
  readonly ranOn: string;
  readonly shape: string;
  /** The backend's own threads (its `threads` detail); only single-thread probes make the roof. */
  readonly threads: number;
  readonly gflops: number;
}

export interface MachineProfile {
  readonly cpu: string;
  readonly cores: number;
  readonly memGiB: number;
  readonly node: string;
  readonly threads: 1;
  /** The roofs: memory bandwidth (GB/s) and peak float32 GFLOP/s, with what achieved each. */
  readonly bandwidthGBps: number;
  readonly bandwidthFrom: string;
  readonly peakGflops: number;
  readonly peakFrom: string;
  readonly bandwidth: readonly BandwidthProbe[];
  readonly peaks: readonly PeakProbe[];
  readonly measuredAt: string;
  /** True when read from the session cache instead of measured now. */
  readonly cached: boolean;
}

export interface MachineOptions {
  /** Time budget per probe (default 300 ms; at least 3 repetitions each). */
  readonly timeMs?: number;
  /** Re-measure even when a cached result exists. */
  readonly fresh?: boolean;
  /** Array size per stream in MiB (default 64). */
  readonly mib?: number;
  readonly onProgress?: (msg: string) => void;
}

const CACHE_HOURS = 12;

function cachePath(): string {
  return process.env.OPSHIFT_MACHINE_CACHE ?? join(tmpdir(), `opshift-machine-${userInfo().uid}.json`);
}

function machineKey(): { cpu: string; cores: number; node: string } {
  return { cpu: cpus()[0]?.model.trim() ?? 'unknown', cores: cpus().length, node: process.version };
}

/** Best time (ms) of fn over at least `minReps` runs within about `budgetMs`. */
function bestMs(fn: () => void, budgetMs: number, minReps = 3): number {
  fn(); // warm-up (JIT, page faults, session compile)
  let best = Infinity;
  const t0 = performance.now();
  for (let i = 0; i < minReps || performance.now() - t0 < budgetMs; i++) {
    const s = performance.now();
    fn();
    best = Math.min(best, performance.now() - s);
    if (i > 10_000) break;
  }
  return best;
}

function probeBandwidth(mib: number, budgetMs: number): BandwidthProbe[] {
  const n = (mib * 2 ** 20) / 8;
  const a = new Float64Array(n);
  const b = new Float64Array(n).fill(1);
  const c = new Float64Array(n).fill(2);
  const copyMs = bestMs(() => a.set(b), budgetMs);
  const triad = () => {
    for (let i = 0; i < n; i++) a[i] = b[i]! + 3 * c[i]!;
  };
  const triadMs = bestMs(triad, budgetMs);
  const bytes = n * 8;
  return [
    { kind: 'copy', how: 'Float64Array.set (memcpy), read + write', mib, gbps: (2 * bytes) / (copyMs * 1e6) },
    { kind: 'triad', how: 'JS loop a[i] = b[i] + s*c[i] on Float64Array, 2 reads + 1 write', mib, gbps: (3 * bytes) / (triadMs * 1e6) },
  ];
}

/** Interleaved streams the read probe tries (the best is the probe's figure). */
const READ_STREAMS = [1, 4, 8] as const;
const READ_MIB = 256;

type ReadGbps = (mib: number, streams: number, reps: number) => number;

/** The emulation library's read probe, or why there is none (not built, or a library without the symbol). */
function readProbeFn(): ReadGbps | string {
  const path = defaultNpuLibraryPath();
  if (!existsSync(path)) return `no NPU emulation library at ${path}`;
  try {
    return koffi().load(path).func('double npu_emu_read_gbps(int64_t mib, int32_t streams, int32_t reps)') as ReadGbps;
  } catch (e) {
    return `${path} has no npu_emu_read_gbps (${(e as Error).message})`;
  }
}

/** Single-thread read rate: the best of READ_STREAMS (each the best of `reps` passes over READ_MIB). */
export function probeRead(reps = 3): BandwidthProbe | string {
  const f = readProbeFn();
  if (typeof f === 'string') return f;
  let best = { streams: 0, gbps: -1 };
  for (const s of READ_STREAMS) {
    const gbps = f(READ_MIB, s, reps);
    if (gbps < 0) return `npu_emu_read_gbps could not allocate ${READ_MIB} MiB`;
    if (gbps > best.gbps) best = { streams: s, gbps };
  }
  return { kind: 'read', how: `native vector sum, read only, best of ${READ_STREAMS.join('/')} interleaved streams (${best.streams})`, mib: READ_MIB, gbps: best.gbps };
}

function probePeak(budgetMs: number, onProgress?: (msg: string) => void): PeakProbe[] {
  const [M, K, N] = [256, 512, 512];
  manualSeed(0);
  const x = rand([M, K]);
  const w = rand([N, K]).markConstant();
  const op = getOp('Linear')!;
  const out: PeakProbe[] = [];
  for (const info of listBackends().filter((s) => s.status.available && op.kernels.has(s.name))) {
    const b = info.name;
    const threads = Number((info.status.available && info.status.details?.threads) || 1) || 1;
    onProgress?.(`peak: linear ${M}x${K}x${N} on ${b}`);
    const run = () => withBackend(b, () => linear(x, w));
    const ranOn = profile(run).records.find((r) => r.op === 'Linear')?.backend ?? b;
    // The TypeScript kernel is ~10x slower; a shorter budget keeps the probe quick.
    const ms = bestMs(run, b === 'cpu' ? budgetMs / 3 : budgetMs, b === 'cpu' ? 1 : 3);
    out.push({ backend: b, ranOn, threads, shape: `linear ${M}x${K}x${N} float32, constant weight`, gflops: (2 * M * N * K) / (ms * 1e6) });
  }
  return out;
}

let sessionCache: MachineProfile | undefined;

/** Measure (or read from the session cache) this machine's bandwidth and peak. */
export function machineProfile(o: MachineOptions = {}): MachineProfile {
  const key = machineKey();
  if (!o.fresh && sessionCache) return sessionCache;
  const path = cachePath();
  if (!o.fresh && existsSync(path)) {
    try {
      const c = JSON.parse(readFileSync(path, 'utf8')) as MachineProfile;
      const fresh = Date.now() - Date.parse(c.measuredAt) < CACHE_HOURS * 3600e3;
      if (fresh && c.cpu === key.cpu && c.cores === key.cores && c.node === key.node && c.peaks.length > 0) return (sessionCache = { ...c, cached: true });
    } catch {
      // unreadable cache: measure again
    }
  }
  const budget = o.timeMs ?? 300;
  o.onProgress?.('memory bandwidth');
  const read = probeRead();
  if (typeof read === 'string') o.onProgress?.(`read probe skipped: ${read}`);
  const bandwidth = [...probeBandwidth(o.mib ?? 64, budget), ...(typeof read === 'string' ? [] : [read])];
  const peaks = probePeak(budget, o.onProgress);
  const bw = bandwidth.reduce((a, b) => (b.gbps > a.gbps ? b : a));
  const single = peaks.filter((p) => p.threads === 1);
  const pk = (single.length ? single : peaks).reduce((a, b) => (b.gflops > a.gflops ? b : a));
  const m: MachineProfile = {
    ...key,
    memGiB: Math.round(totalmem() / 2 ** 30),
    threads: 1,
    bandwidthGBps: bw.gbps,
    bandwidthFrom: `${bw.kind} (${bw.how})`,
    peakGflops: pk.gflops,
    peakFrom: `${pk.backend} ${pk.shape}`,
    bandwidth,
    peaks,
    measuredAt: new Date().toISOString(),
    cached: false,
  };
  try {
    writeFileSync(path, JSON.stringify(m));
  } catch {
    // a read-only tmpdir only costs a re-measure next time
  }
  return (sessionCache = m);
}

export function formatMachine(m: MachineProfile, width?: number): string {
  const head = `${m.cpu}, ${m.cores} cores, ${m.memGiB} GiB, Node ${m.node}; one thread${m.cached ? ` (cached from ${m.measuredAt}; --fresh re-measures)` : ''}`;
  const bw = fitTable(
    ['memory probe', 'array MiB', 'GB/s'],
    m.bandwidth.map((b) => [`${b.kind}: ${b.how}`, String(b.mib), b.gbps.toFixed(2)]),
    { width },
  );
  const pk = fitTable(
    ['peak probe', 'backend', 'threads', 'GFLOP/s'],
    m.peaks.map((p) => [p.shape, p.backend === p.ranOn ? p.backend : `${p.backend} -> ${p.ranOn}`, p.threads === 1 ? '1' : `${p.threads} (not a roof)`, p.gflops.toFixed(2)]),
    { width },
  );
  const roofs = `roofs: ${m.bandwidthGBps.toFixed(2)} GB/s (${m.bandwidthFrom}), ${m.peakGflops.toFixed(2)} GFLOP/s (${m.peakFrom}); ridge at ${(m.peakGflops / m.bandwidthGBps).toFixed(2)} flop/byte`;
  return `${wrapParagraph(head, width)}\n\n${bw}\n\n${pk}\n\n${wrapParagraph(roofs, width)}`;
}
