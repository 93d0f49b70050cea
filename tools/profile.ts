/**
 * `opshift profile`: a generate (or, with --max-new-tokens 0, one forward) under the profiler, split into
 * prefill (the first forward, over the whole prompt: M = prompt length) and decode (one forward per further
 * token, M = 1) the way Ryzen AI's profiler splits GEMM time, with the dispatch causes, and a Chrome trace
 * that Perfetto opens.
 *
 * The split needs nothing from models/: generate() calls onToken right after each forward's token is picked,
 * so the first call's timestamp ends prefill and each later one ends a decode step; a record belongs to the
 * phase its start time falls in. The trace gets a "phases" lane with one span per forward.
 *
 * The first run of a model includes one-time weight preparation (ORT sessions with baked-in weights, NPU
 * weight formatting, wasm packing), which would show up as a slow prefill; `warmup` runs that many untimed
 * generate steps on the same prompt and policy first, so the profile shows the steady state.
 */
import { ArgumentError } from '../core/errors.js';
import { parsePolicy } from '../core/policy_spec.js';
import { Profile, summaryCells, type GroupKey, type OpRecord, type SummaryRow } from '../core/profiler.js';
import type { DType } from '../core/dtype.js';
import { generate, idsTensor } from '../models/generate.js';
import { loadTokenizerIfAny, openModel, parseIds, underPolicy } from './generate.js';
import { fitTable, wrapParagraph, type Column } from './table.js';

/** The GEMM-like ops whose time Ryzen AI's profiler reports per phase. */
export const GEMM_OPS: readonly string[] = ['MatMul', 'Linear', 'LinearW8A8', 'LinearW4'];

export interface ProfileOptions {
  readonly model: string;
  readonly prompt?: string;
  readonly ids?: string;
  readonly maxNewTokens: number;
  readonly dispatch?: string;
  readonly dtype?: DType;
  readonly groupBy?: readonly GroupKey[];
  /** Untimed generate steps (forwards) on the same prompt and policy before the profiled run (default 0). */
  readonly warmup?: number;
  readonly onProgress?: (msg: string) => void;
}

export interface PhaseReport {
  readonly phase: 'prefill' | 'decode';
  /** Forward passes in this phase. */
  readonly forwards: number;
  /** Rows (tokens) per forward: the prompt length for prefill, 1 for decode. */
  readonly m: number;
  /** Wall time of the phase (forwards + sampling), ms. */
  readonly wallMs: number;
  /** Kernel time of the top-level ops, ms. */
  readonly opMs: number;
  readonly ops: number;
  readonly rows: SummaryRow[];
}

export interface GemmSplitRow {
  readonly op: string;
  readonly backend: string;
  readonly prefillCalls: number;
  readonly prefillMs: number;
  readonly prefillGflops: number;
  readonly decodeCalls: number;
  readonly decodeMs: number;
  readonly decodeGflops: number;
  readonly causes: readonly string[];
}

export interface ProfileReport {
  readonly model: string;
  readonly dispatch: string;
  readonly promptTokens: number;
  readonly generatedTokens: number;
  readonly ids: number[];
  readonly ttftMs: number;
  readonly tokensPerS: number;
  readonly loadMs: number;
  /** Untimed generate steps run before the profile. */
  readonly warmup: number;
  readonly groupBy: readonly GroupKey[];
  readonly prefill: PhaseReport;
  readonly decode: PhaseReport;
  readonly gemm: GemmSplitRow[];
}

export interface ProfileRun {
  readonly report: ProfileReport;
  /** Chrome trace-event JSON: one lane per backend, plus a "phases" lane (prefill, decode 1..n). */
  readonly trace: { traceEvents: object[]; displayTimeUnit: 'ms' };
}

function phase(name: 'prefill' | 'decode', recs: readonly OpRecord[], forwards: number, m: number, wallMs: number, groupBy: readonly GroupKey[]): PhaseReport {
  const p = new Profile(recs, undefined);
  return { phase: name, forwards, m, wallMs, opMs: p.totalMs, ops: recs.filter((r) => r.depth === 0).length, rows: p.rows(groupBy) };
}

function gemmSplit(pre: readonly OpRecord[], dec: readonly OpRecord[]): GemmSplitRow[] {
  const keys = new Map<string, { op: string; backend: string }>();
  for (const r of [...pre, ...dec]) if (GEMM_OPS.includes(r.op)) keys.set(`${r.op}\u0000${r.backend}`, { op: r.op, backend: r.backend });
  const agg = (recs: readonly OpRecord[], op: string, backend: string) => {
    const xs = recs.filter((r) => r.op === op && r.backend === backend);
    const ms = xs.reduce((a, r) => a + r.ms, 0);
    return { calls: xs.length, ms, gflops: ms > 0 ? xs.reduce((a, r) => a + r.flops, 0) / (ms * 1e6) : 0, causes: xs.map((r) => r.cause) };
  };
  return [...keys.values()]
    .map(({ op, backend }) => {
      const p = agg(pre, op, backend);
      const d = agg(dec, op, backend);
      return { op, backend, prefillCalls: p.calls, prefillMs: p.ms, prefillGflops: p.gflops, decodeCalls: d.calls, decodeMs: d.ms, decodeGflops: d.gflops, causes: [...new Set([...p.causes, ...d.causes])] };
    })
    .sort((a, b) => b.prefillMs + b.decodeMs - (a.prefillMs + a.decodeMs));
}

export async function runProfile(o: ProfileOptions): Promise<ProfileRun> {
  if (o.dispatch) parsePolicy(o.dispatch); // a bad policy fails before the model loads
  if (o.prompt === undefined && o.ids === undefined) throw new ArgumentError('profile: give --prompt TEXT or --ids 1,2,3');
  if (!Number.isInteger(o.maxNewTokens) || o.maxNewTokens < 0) throw new ArgumentError(`profile: --max-new-tokens ${o.maxNewTokens} must be a non-negative integer`);
  const warmup = o.warmup ?? 0;
  if (!Number.isInteger(warmup) || warmup < 0) throw new ArgumentError(`profile: --warmup ${warmup} must be a non-negative integer`);
  const ids = o.ids !== undefined ? parseIds(o.ids) : undefined;
  o.onProgress?.(`loading ${o.model}`);
  const { model, dir, loadMs } = await openModel(o.model, o.dtype ? { dtype: o.dtype } : {});
  const prompt = ids ?? loadTokenizerIfAny(dir, true)!.encode(o.prompt!);
  const groupBy = o.groupBy ?? ['op', 'backend', 'shape'];
  if (warmup > 0) {
    o.onProgress?.(`warm-up: ${warmup} untimed step${warmup > 1 ? 's' : ''}`);
    underPolicy(o.dispatch, false, () => generate(model, prompt, { maxNewTokens: warmup, ignoreEos: true }));
  }
  const marks: number[] = [];
  let t0 = 0;
  const { result, profile: prof } = underPolicy(o.dispatch, true, () => {
    t0 = performance.now();
    if (o.maxNewTokens === 0) {
      const input = idsTensor(prompt); // (1, T)
      model.forward(input, { lastOnly: true });
      marks.push(performance.now());
      return { ids: [] as number[], ttftMs: marks[0]! - t0, tokensPerS: NaN };
    }
    return generate(model, prompt, {
      maxNewTokens: o.maxNewTokens,
      ignoreEos: false,
      onToken: (_id, i) => {
        marks.push(performance.now());
        o.onProgress?.(`token ${i + 1}/${o.maxNewTokens}`);
      },
    });
  });
  const records = prof!.records;
  const end0 = marks[0] ?? Infinity;
  const pre = records.filter((r) => r.start < end0);
  const dec = records.filter((r) => r.start >= end0);
  const decodeWall = marks.length > 1 ? marks.at(-1)! - marks[0]! : 0;
  const report: ProfileReport = {
    model: o.model,
    dispatch: o.dispatch ?? 'default',
    promptTokens: prompt.length,
    generatedTokens: result.ids.length,
    ids: result.ids,
    ttftMs: result.ttftMs,
    tokensPerS: result.tokensPerS,
    loadMs,
    warmup,
    groupBy,
    prefill: phase('prefill', pre, marks.length > 0 ? 1 : 0, prompt.length, (marks[0] ?? t0) - t0, groupBy),
    decode: phase('decode', dec, Math.max(0, marks.length - 1), 1, decodeWall, groupBy),
    gemm: gemmSplit(pre, dec),
  };
  const trace = prof!.toChromeTrace();
  const spans = marks.map((end, i) => {
    const start = i === 0 ? t0 : marks[i - 1]!;
    return {
      name: i === 0 ? `prefill (M=${prompt.length})` : `decode ${i} (M=1)`,
      cat: 'phase',
      ph: 'X',
      ts: start * 1000,
      dur: (end - start) * 1000,
      pid: 1,
      tid: 0,
      args: { phase: i === 0 ? 'prefill' : 'decode', ops: records.filter((r) => r.depth === 0 && r.start >= start && r.start < end).length },
    };
  });
  trace.traceEvents.unshift({ name: 'thread_name', ph: 'M', pid: 1, tid: 0, args: { name: 'phases' } }, { name: 'process_name', ph: 'M', pid: 1, args: { name: `opshift profile ${o.model}` } });
  trace.traceEvents.push(...spans);
  return { report, trace };
}

/**
 * The key-averages table (op, backend, calls, times, causes, inputs) fitted to `width`: causes and input
 * signatures wrap; average µs and GFLOP/s are the first columns to go when it is still too wide.
 */
export function summaryText(rows: readonly SummaryRow[], totalMs: number, width?: number): string {
  const { header, body } = summaryCells(rows, totalMs);
  const drop: Record<string, number> = { 'avg µs': 1, 'GFLOP/s': 2, 'total ms': 3 };
  return fitTable(header.map((h): Column => (drop[h] ? { title: h, drop: drop[h] } : h)), body, { width });
}

function phaseTable(p: PhaseReport, top: number, width: number | undefined): string {
  const more = p.rows.length > top ? `\n… ${p.rows.length - top} more rows (--top N, or --json for all)` : '';
  return `${summaryText(p.rows.slice(0, top), p.opMs, width)}${more}`;
}

export function formatProfile(r: ProfileReport, top = 25, width?: number): string {
  const tps = Number.isNaN(r.tokensPerS) ? '-' : r.tokensPerS.toFixed(2);
  const lines = [
    wrapParagraph(`${r.model}: ${r.promptTokens} prompt + ${r.generatedTokens} generated tokens; TTFT ${r.ttftMs.toFixed(1)} ms; decode ${tps} tok/s; dispatch: ${r.dispatch}; load ${r.loadMs.toFixed(0)} ms; ` +
      (r.warmup > 0 ? `after ${r.warmup} untimed warm-up step${r.warmup > 1 ? 's' : ''}` : 'no warm-up (prefill includes one-time weight preparation; --warmup N)'), width),
    '',
    wrapParagraph(`prefill: ${r.prefill.forwards} forward, M = ${r.prefill.m}; ${r.prefill.wallMs.toFixed(1)} ms wall, ${r.prefill.opMs.toFixed(1)} ms in ${r.prefill.ops} ops (grouped by ${r.groupBy.join(', ')})`, width),
    phaseTable(r.prefill, top, width),
    '',
    `decode: ${r.decode.forwards} forwards, M = 1; ${r.decode.wallMs.toFixed(1)} ms wall, ${r.decode.opMs.toFixed(1)} ms in ${r.decode.ops} ops`,
    r.decode.forwards > 0 ? phaseTable(r.decode, top, width) : '(no decode steps: generate at least 2 tokens)',
    '',
    'GEMM time by phase',
    fitTable(
      ['op', 'backend', 'prefill calls', 'prefill ms', 'prefill GFLOP/s', 'decode calls', 'decode ms', 'decode GFLOP/s', 'cause'],
      r.gemm.map((g) => [g.op, g.backend, String(g.prefillCalls), g.prefillMs.toFixed(2), g.prefillGflops.toFixed(2), String(g.decodeCalls), g.decodeMs.toFixed(2), g.decodeGflops.toFixed(2), g.causes.join(' | ')]),
      { width },
    ),
  ];
  return lines.join('\n');
}
