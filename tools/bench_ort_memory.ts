/**
 * What one ORT Linear session keeps and costs to build (issue #17, README "Weights in memory"): `sessions` sessions
 * of one fp32 nn.Linear weight [N, K], built in this process the way backends/ort/kernels.ts builds them, with a
 * forced GC after each (run with `node --expose-gc`), so the RSS slope is what ORT holds per session and not JS
 * garbage. Reports per-session RSS and high-water-mark growth over the second half of the sessions, build time,
 * and the first session's decode (1 row) and prefill (128 rows) time.
 *
 *   node --expose-gc dist/tools/bench_ort_memory.js '{"graph":"fused","sessions":8}'
 *   node --expose-gc dist/tools/bench_ort_memory.js '{"graph":"transpose","options":{"enableCpuMemArena":false}}'
 *
 * graph: "fused" = com.microsoft FusedMatMul(x, W, transB=1) (what the ORT backend builds), "transpose" =
 * MatMul(x, Transpose(W)) (what it built before: ORT constant-folds a Wᵀ copy first). `options` and `session`
 * (session config entries, e.g. {"disable_prepacking":"1"}) are added to the backend's session options.
 */
import { readFileSync, realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ArgumentError } from '../core/errors.js';
import { loadOrt, type NativeSession, type NativeSessionOptions } from '../backends/ort/binding.js';
import { buildModel, type GraphSpec } from '../backends/ort/onnx_model.js';

export interface OrtMemoryOptions {
  readonly graph: 'fused' | 'transpose';
  readonly n?: number;
  readonly k?: number;
  readonly sessions?: number;
  readonly options?: Partial<NativeSessionOptions>;
  readonly session?: Readonly<Record<string, string>>;
}

export interface OrtMemoryResult extends OrtMemoryOptions {
  readonly weightMiB: number;
  /** RSS and VmHWM growth per session over the second half of the sessions, MiB. */
  readonly rssPerSessionMiB: number;
  readonly hwmPerSessionMiB: number;
  readonly peakMiB: number;
  readonly buildMsPerSession: number;
  readonly decodeMs: number;
  readonly prefill128Ms: number;
}

function statusMiB(field: string): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync('/proc/self/status', 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

function graphOf(graph: OrtMemoryOptions['graph'], w: Float32Array, N: number, K: number): GraphSpec {
  const x = { name: 'x', dtype: 'float32', rank: 2 } as const;
  const y = { name: 'y', dtype: 'float32', rank: 2 } as const;
  const init = [{ name: 'w', dtype: 'float32' as const, shape: [N, K], data: w }];
  return graph === 'fused'
    ? { nodes: [{ op: 'FusedMatMul', domain: 'com.microsoft', inputs: ['x', 'w'], outputs: ['y'], attrs: { transB: { i: 1 } } }], inputs: [x], initializers: init, outputs: [y] }
    : {
        nodes: [
          { op: 'Transpose', inputs: ['w'], outputs: ['wt'], attrs: { perm: { ints: [1, 0] } } },
          { op: 'MatMul', inputs: ['x', 'wt'], outputs: ['y'] },
        ],
        inputs: [x],
        initializers: init,
        outputs: [y],
      };
}

export function runOrtMemory(o: OrtMemoryOptions): OrtMemoryResult {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new ArgumentError('bench_ort_memory: run with node --expose-gc (the per-session figures need a GC after each build)');
  if (o.graph !== 'fused' && o.graph !== 'transpose') throw new ArgumentError(`bench_ort_memory: graph '${String(o.graph)}' (fused, transpose)`);
  const N = o.n ?? 5632;
  const K = o.k ?? 2048;
  const S = o.sessions ?? 8;
  if (!Number.isInteger(S) || S < 2) throw new ArgumentError(`bench_ort_memory: sessions ${S} must be an integer >= 2`);
  const loaded = loadOrt();
  if (!loaded.ok) throw new Error(`bench_ort_memory: ${loaded.reason}`);
  const rt = loaded.runtime;
  // The ORT backend's options (backends/ort/config.ts, 1 thread, no spinning) plus what is being tried.
  const options: NativeSessionOptions = {
    intraOpNumThreads: 1,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
    executionProviders: ['cpu'],
    logSeverityLevel: 3,
    extra: { session: { intra_op: { allow_spinning: '0' }, inter_op: { allow_spinning: '0' }, ...o.session } },
    ...o.options,
  };
  const marks: [number, number][] = [];
  const sessions: NativeSession[] = [];
  let buildMs = 0;
  for (let s = 0; s < S; s++) {
    const w = new Float32Array(N * K);
    for (let i = 0; i < w.length; i++) w[i] = ((i * 2654435761 + s) % 1000) / 1000 - 0.5;
    const t = performance.now();
    sessions.push(rt.createSession(buildModel(graphOf(o.graph, w, N, K)), options));
    buildMs += performance.now() - t;
    gc();
    marks.push([statusMiB('VmRSS'), statusMiB('VmHWM')]);
  }
  const h = S >> 1;
  const slope = (i: 0 | 1) => (marks[S - 1]![i] - marks[h - 1]![i]) / (S - h);
  const time = (M: number, reps: number) => {
    const x = new rt.Tensor('float32', new Float32Array(M * K).fill(0.01), [M, K]);
    sessions[0]!.run({ x }, { y: null }, {});
    const t = performance.now();
    for (let r = 0; r < reps; r++) sessions[0]!.run({ x }, { y: null }, {});
    return (performance.now() - t) / reps;
  };
  return {
    ...o,
    weightMiB: (N * K * 4) / 2 ** 20,
    rssPerSessionMiB: slope(0),
    hwmPerSessionMiB: slope(1),
    peakMiB: statusMiB('VmHWM'),
    buildMsPerSession: buildMs / S,
    decodeMs: time(1, 20),
    prefill128Ms: time(128, 3),
  };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === realpathSync(process.argv[1])) {
  process.stdout.write(JSON.stringify(runOrtMemory(JSON.parse(process.argv[2] ?? '{"graph":"fused"}') as OrtMemoryOptions)) + '\n');
}
