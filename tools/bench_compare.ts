/**
 * `opshift bench compare`: opshift, llama.cpp and PyTorch side by side, in ONE run, for every (model, precision,
 * threads) configuration: cold and warm time to first token, decode tokens/s and peak RSS, with the ratios the
 * README's model table reports. Every configuration of every engine runs in its own child process (bounded by a
 * timeout), one engine right after the other, so a change in the machine's load shows in all three columns of a
 * row rather than in one engine's.
 *
 * - opshift: tools/bench_compare_child.ts, i.e. `bench model` in a fresh process: the first generate is cold
 *   (weights read from the checkpoint and packed into their backend's form on first use), the next `reps` are
 *   warm. Peak RSS is the child's VmHWM. A `synthetic:` preset runs from on-disk safetensors folders of its shapes
 *   (tools/bench_checkpoints.ts: fp32, and w8a8 / w4 quantized by `opshift quantize`, lm_head included), as
 *   llama.cpp runs from its GGUF files: neither drawing random weights nor quantizing in memory is counted.
 * - llama.cpp: `llama-bench -p P -n G -t N -r R -o json` on {stem}-{f32,q8_0,q4_0}.gguf (tools/peers/llama_bench.ts).
 *   llama-bench warms up before timing and mmaps the file, so it has no cold TTFT column.
 * - PyTorch: float32 only (no peer for w8a8/w4 with the same kernels' class), tools/peers/torch_peer.ts.
 */
import { existsSync, readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ArgumentError } from '../core/errors.js';
import { PRESETS } from '../models/config.js';
import type { BenchModelResult } from './bench_model.js';
import { syntheticPromptIds } from './bench_model.js';
import type { ChildRequest } from './bench_compare_child.js';
import { failureOf, runChild } from './peers/child.js';
import { defaultCheckpointDir, ensureCheckpoints } from './bench_checkpoints.js';
import { GGUF_STEM, GGUF_TYPE, llamaBenchProblem, runLlamaBench, type LlamaBenchRow, type Precision } from './peers/llama_bench.js';
import { runTorchPeer, torchProblem, type TorchPeerRow } from './peers/torch_peer.js';
import { repoRoot } from './model_source.js';
import { fitTable, wrapParagraph } from './table.js';

export const PRECISIONS: readonly Precision[] = ['fp32', 'w8a8', 'w4'];

export interface CompareOptions {
  readonly models: readonly string[];
  readonly precisions: readonly Precision[];
  readonly threads: readonly number[];
  readonly promptTokens: number;
  readonly genTokens: number;
  readonly reps: number;
  /** opshift's dispatch policy; '' = the default of generate/serve/bench model. */
  readonly dispatch: string;
  /** llama-bench binary (undefined: llama.cpp skipped) and the folder of the GGUF files. */
  readonly llamaBench?: string;
  readonly ggufDir?: string;
  readonly torch: boolean;
  /** Per child process. */
  readonly timeoutMs: number;
  /**
   * Cache folder of the on-disk checkpoints opshift's rows load for `synthetic:` presets (tools/bench_checkpoints.ts);
   * undefined: the default under the OS temp dir.
   */
  readonly checkpointDir?: string;
  /** Seed of the synthetic weights (default 0). */
  readonly seed?: number;
}

export interface OpshiftCell {
  readonly coldTtftMs: number;
  readonly ttftMs: number;
  readonly ttftRelSpread: number;
  readonly tokensPerS: number;
  readonly tokensPerSRelSpread: number;
  readonly peakRssMiB: number;
}

export type Cell<T> = T | { readonly skipped: string };

export interface CompareRow {
  readonly model: string;
  readonly precision: Precision;
  readonly threads: number;
  readonly opshift: Cell<OpshiftCell>;
  readonly llama: Cell<LlamaBenchRow>;
  readonly torch: Cell<TorchPeerRow>;
}

export interface CompareResult {
  /** When the run started, and how long it took. */
  readonly date: string;
  readonly minutes: number;
  readonly machine: string;
  /** 1-minute load average when the run started and ended: the machine may be shared. */
  readonly loadStart: number;
  readonly loadEnd: number;
  readonly promptTokens: number;
  readonly genTokens: number;
  readonly reps: number;
  readonly dispatch: string;
  readonly llamaCommit?: string;
  readonly torchName?: string;
  readonly rows: CompareRow[];
}

export const isCell = <T extends object>(c: Cell<T>): c is T => !('skipped' in c);

/** Comma list -> precisions, refusing unknown ones by name. */
export function parsePrecisions(list: string): Precision[] {
  const out = list.split(',').map((s) => s.trim()).filter(Boolean);
  if (out.length === 0) throw new ArgumentError('--precision: give at least one of fp32, w8a8, w4');
  for (const p of out) if (!(PRECISIONS as readonly string[]).includes(p)) throw new ArgumentError(`--precision: unknown precision '${p}' (fp32, w8a8, w4)`);
  return out as Precision[];
}

/** The compiled child entry: next to this module in dist/tools, or in dist/ when running from the sources. */
export function childScript(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  for (const p of [join(here, 'bench_compare_child.js'), join(repoRoot(), 'dist', 'tools', 'bench_compare_child.js')]) if (existsSync(p)) return p;
  throw new Error('bench compare: dist/tools/bench_compare_child.js not found (build with npx tsc -p tsconfig.json)');
}

function machineLine(): string {
  const c = cpus();
  let flags = '';
  try {
    const info = readFileSync('/proc/cpuinfo', 'utf8');
    const f = /^flags\s*:\s*(.*)$/m.exec(info)?.[1]?.split(' ') ?? [];
    flags = ['avx512f', 'avx512_vnni', 'avx512_bf16', 'avx2', 'fma'].filter((x) => f.includes(x)).join(' ');
  } catch {
    // not Linux: no flags
  }
  return `${c[0]?.model ?? 'unknown CPU'}, ${c.length} logical cores${flags ? ` (${flags})` : ''}, Node ${process.version}`;
}

function loadAvg(): number {
  try {
    return Number(readFileSync('/proc/loadavg', 'utf8').split(' ')[0]);
  } catch {
    return NaN;
  }
}

const presetOf = (model: string) => (model.startsWith('synthetic:') ? model.slice('synthetic:'.length) : undefined);

async function runOpshift(model: string, precision: Precision, threads: number, o: CompareOptions, folders: Checkpoints): Promise<Cell<OpshiftCell>> {
  if (folders !== undefined && 'skipped' in folders) return { skipped: folders.skipped };
  // A synthetic preset loads its checkpoint folder (already quantized for w8a8/w4); any other model is quantized in memory.
  const folder = folders?.dirs[precision];
  const req: ChildRequest = {
    model: folder ?? model,
    quant: precision === 'fp32' || folder !== undefined ? undefined : precision,
    threads,
    promptTokens: o.promptTokens,
    genTokens: o.genTokens,
    reps: o.reps,
    dispatch: o.dispatch,
  };
  const r = await runChild(process.execPath, [childScript(), JSON.stringify(req)], { timeoutMs: o.timeoutMs });
  const failed = failureOf('opshift', r, o.timeoutMs);
  if (failed) return { skipped: failed };
  const res = JSON.parse(r.stdout) as BenchModelResult;
  const row = res.rows[0]!;
  return {
    coldTtftMs: res.coldTtftMs,
    ttftMs: row.ttftMs,
    ttftRelSpread: row.ttftRelSpread,
    tokensPerS: row.tokensPerS,
    tokensPerSRelSpread: row.tokensPerSRelSpread,
    // The polled high-water mark and the child's own getrusage: the larger (both are the same peak when read).
    peakRssMiB: Math.max(res.maxRssMiB, r.peakRssMiB ?? 0),
  };
}

async function runLlama(model: string, precision: Precision, threads: number, o: CompareOptions): Promise<Cell<LlamaBenchRow>> {
  if (!o.llamaBench) return { skipped: 'no --llama-bench (or OPSHIFT_LLAMA_BENCH)' };
  const problem = llamaBenchProblem(o.llamaBench);
  if (problem) return { skipped: problem };
  const stem = GGUF_STEM[presetOf(model) ?? ''];
  if (!stem) return { skipped: `no GGUF of ${model}'s shapes (llama.cpp runs ${Object.keys(GGUF_STEM).map((k) => `synthetic:${k}`).join(', ')})` };
  const file = join(o.ggufDir ?? '.', `${stem}-${GGUF_TYPE[precision]}.gguf`);
  if (!existsSync(file)) return { skipped: `${file} not found (make_gguf.py and llama-quantize, README Benchmarks)` };
  try {
    return await runLlamaBench(o.llamaBench, file, { threads, promptTokens: o.promptTokens, genTokens: o.genTokens, reps: o.reps, timeoutMs: o.timeoutMs });
  } catch (e) {
    return { skipped: (e as Error).message };
  }
}

async function runTorch(model: string, precision: Precision, threads: number, o: CompareOptions): Promise<Cell<TorchPeerRow>> {
  if (!o.torch) return { skipped: 'disabled (--no-torch)' };
  if (precision !== 'fp32') return { skipped: 'PyTorch runs float32 only' };
  const preset = presetOf(model);
  const config = preset ? PRESETS[preset] : undefined;
  if (!config) return { skipped: 'the PyTorch peer runs synthetic:<preset> shapes only' };
  const problem = torchProblem();
  if (problem) return { skipped: problem };
  const vocab = (config as { vocab_size: number }).vocab_size;
  try {
    return await runTorchPeer(config, syntheticPromptIds(vocab, o.promptTokens), { threads, genTokens: o.genTokens, reps: o.reps, timeoutMs: o.timeoutMs });
  } catch (e) {
    return { skipped: (e as Error).message };
  }
}

/** Checkpoint folders per precision of a synthetic preset, undefined for other models, or why they could not be made. */
type Checkpoints = { readonly dirs: Readonly<Record<string, string>> } | { readonly skipped: string } | undefined;

async function checkpointsOf(model: string, o: CompareOptions, onProgress?: (msg: string) => void): Promise<Checkpoints> {
  const preset = presetOf(model);
  if (preset === undefined) return undefined;
  const req = { root: o.checkpointDir ?? defaultCheckpointDir(), preset, seed: o.seed ?? 0, precisions: o.precisions };
  onProgress?.(`${model}: checkpoint folders in ${req.root} (written once, then reused)`);
  try {
    // Writing TinyLlama's fp32 folder and quantizing it takes minutes: bounded by a few child timeouts.
    return { dirs: await ensureCheckpoints(req, 4 * o.timeoutMs) };
  } catch (e) {
    return { skipped: `no checkpoint folders: ${(e as Error).message}` };
  }
}

export async function runCompare(o: CompareOptions, onProgress?: (msg: string) => void): Promise<CompareResult> {
  if (o.models.length === 0) throw new ArgumentError('bench compare: give at least one model (-m)');
  if (o.threads.length === 0 || o.threads.some((t) => !Number.isInteger(t) || t < 1)) throw new ArgumentError(`bench compare: --threads must be positive integers, got ${o.threads.join(',')}`);
  const loadStart = loadAvg();
  const started = Date.now();
  const rows: CompareRow[] = [];
  for (const model of o.models) {
    const folders = await checkpointsOf(model, o, onProgress);
    for (const precision of o.precisions)
      for (const threads of o.threads) {
        const tag = `${model} ${precision} -t ${threads}`;
        onProgress?.(`${tag}: opshift`);
        const opshift = await runOpshift(model, precision, threads, o, folders);
        onProgress?.(`${tag}: llama.cpp`);
        const llama = await runLlama(model, precision, threads, o);
        onProgress?.(`${tag}: PyTorch`);
        const torch = await runTorch(model, precision, threads, o);
        const row: CompareRow = { model, precision, threads, opshift, llama, torch };
        rows.push(row);
        // One line per finished row, so a run cut short (timeout, machine reclaimed) still leaves its numbers.
        onProgress?.(`${tag}: ${cells(row).slice(3).join(' | ')}`);
      }
  }
  const firstLlama = rows.map((r) => r.llama).find(isCell);
  const firstTorch = rows.map((r) => r.torch).find(isCell);
  return {
    date: new Date(started).toISOString().slice(0, 16).replace('T', ' ') + ' UTC',
    minutes: (Date.now() - started) / 60_000,
    machine: machineLine(),
    loadStart,
    loadEnd: loadAvg(),
    promptTokens: o.promptTokens,
    genTokens: o.genTokens,
    reps: o.reps,
    dispatch: o.dispatch,
    llamaCommit: firstLlama?.commit,
    torchName: firstTorch?.name,
    rows,
  };
}

/** a / b as "0.93x", or "-" when either is missing. */
export function ratioText(a: number | undefined, b: number | undefined): string {
  return a !== undefined && b !== undefined && Number.isFinite(a) && Number.isFinite(b) && b > 0 ? `${(a / b).toFixed(2)}x` : '-';
}

/** The ratios the issue targets: decode vs llama.cpp, warm TTFT vs the faster peer, peak RSS vs llama.cpp, cold vs warm TTFT. */
export function ratiosOf(r: CompareRow): { decode: string; ttft: string; rss: string; coldWarm: string } {
  const o = isCell(r.opshift) ? r.opshift : undefined;
  const l = isCell(r.llama) ? r.llama : undefined;
  const t = isCell(r.torch) ? r.torch : undefined;
  const peerTtft = [l?.ttftMs, t?.ttftMs].filter((x): x is number => x !== undefined);
  return {
    decode: ratioText(o?.tokensPerS, l?.tokensPerS),
    ttft: ratioText(o?.ttftMs, peerTtft.length ? Math.min(...peerTtft) : undefined),
    rss: ratioText(o?.peakRssMiB, l?.peakRssMiB),
    coldWarm: ratioText(o?.coldTtftMs, o?.ttftMs),
  };
}

const ms = (x: number | undefined) => (x === undefined || !Number.isFinite(x) ? '-' : x >= 100 ? x.toFixed(0) : x.toFixed(1));
const tps = (x: number | undefined) => (x === undefined || !Number.isFinite(x) ? '-' : x.toFixed(1));
const mib = (x: number | undefined) => (x === undefined || !Number.isFinite(x) ? '-' : x.toFixed(0));

function cells(r: CompareRow): string[] {
  const o = isCell(r.opshift) ? r.opshift : undefined;
  const l = isCell(r.llama) ? r.llama : undefined;
  const t = isCell(r.torch) ? r.torch : undefined;
  const q = ratiosOf(r);
  return [
    r.model.replace('synthetic:', ''),
    r.precision,
    String(r.threads),
    ms(o?.coldTtftMs),
    ms(o?.ttftMs),
    tps(o?.tokensPerS),
    mib(o?.peakRssMiB),
    ms(l?.ttftMs),
    tps(l?.tokensPerS),
    mib(l?.peakRssMiB),
    ms(t?.coldTtftMs),
    ms(t?.ttftMs),
    tps(t?.tokensPerS),
    mib(t?.peakRssMiB),
    q.decode,
    q.ttft,
    q.rss,
    q.coldWarm,
  ];
}

const HEAD = [
  'model', 'prec', 'thr',
  'opshift cold TTFT ms', 'opshift TTFT ms', 'opshift tok/s', 'opshift RSS MiB',
  'llama.cpp TTFT ms', 'llama.cpp tok/s', 'llama.cpp RSS MiB',
  'PyTorch cold TTFT ms', 'PyTorch TTFT ms', 'PyTorch tok/s', 'PyTorch RSS MiB',
  'decode / llama.cpp', 'TTFT / best peer', 'RSS / llama.cpp', 'cold / warm TTFT',
];

function notes(r: CompareResult): string[] {
  const skipped = new Map<string, string[]>();
  for (const row of r.rows)
    for (const [name, c] of [['opshift', row.opshift], ['llama.cpp', row.llama], ['PyTorch', row.torch]] as const)
      if (!isCell(c as Cell<object>)) {
        const why = `${name}: ${(c as { skipped: string }).skipped}`;
        skipped.set(why, [...(skipped.get(why) ?? []), `${row.model.replace('synthetic:', '')} ${row.precision} t${row.threads}`]);
      }
  const spread = r.rows.flatMap((row) =>
    isCell(row.opshift) && Math.max(row.opshift.ttftRelSpread, row.opshift.tokensPerSRelSpread) > 0.1 ? [`${row.model.replace('synthetic:', '')} ${row.precision} t${row.threads}`] : [],
  );
  return [
    `Run of ${r.date}, ${r.minutes.toFixed(0)} min; ${r.machine}; load average ${r.loadStart.toFixed(1)} at the start, ${r.loadEnd.toFixed(1)} at the end.`,
    `Prompt ${r.promptTokens} tokens, ${r.genTokens} generated (greedy), medians of ${r.reps} warm repetitions; opshift dispatch: ${r.dispatch || 'the default (tools/default_policy.ts)'}; ` +
      `llama.cpp ${r.llamaCommit === undefined ? '(not run)' : r.llamaCommit === 'unknown' ? '(a build without git metadata)' : r.llamaCommit} llama-bench (F32 / Q8_0 / Q4_0 for fp32 / w8a8 / w4); ${r.torchName ?? 'PyTorch (not run)'}, float32 only.`,
    ...(spread.length ? [`opshift rows with an IQR above 10% of the median (noisy): ${spread.join(', ')}.`] : []),
    ...[...skipped].map(([why, where]) => `skipped ${why} (${where.join(', ')})`),
  ];
}

export function formatCompare(r: CompareResult, width?: number): string {
  const table = fitTable(HEAD, r.rows.map(cells), { width });
  return [table, ...notes(r).map((l) => wrapParagraph(l, width))].join('\n');
}

/** The README's table: GitHub markdown, same columns, then the notes. */
export function compareMarkdown(r: CompareResult): string {
  const lines = [`| ${HEAD.join(' | ')} |`, `|${HEAD.map((_, i) => (i < 3 ? '---' : '---:')).join('|')}|`];
  for (const row of r.rows) lines.push(`| ${cells(row).join(' | ')} |`);
  return [...lines, '', ...notes(r).map((l) => `${l}  `)].join('\n');
}
