/**
 * `opshift bench model`: Ryzen AI's model_benchmark.exe for opshift. For each prompt length: time to first
 * token (prefill + first pick), decode tokens/s and ms/token over the generated tokens, peak RSS, and where the
 * op time went per op and backend (one profiled repetition). Prompts are deterministic token ids (or the
 * tokens of --prompt-file, cut to length), so runs compare across policies and machines.
 */
import { readTextOption } from './cli_files.js';
import { ArgumentError } from '../core/errors.js';
import { parsePolicy } from '../core/policy_spec.js';
import { defaultPolicy } from './default_policy.js';
import { withPolicy } from '../core/policy.js';
import { profile, type SummaryRow } from '../core/profiler.js';
import type { CausalLM } from '../models/causal_lm.js';
import { generate } from '../models/generate.js';
import { PRESETS } from '../models/config.js';
import { loadTokenizerIfAny, openModel } from './generate.js';
import { peerBlas, runPythonPeer } from './peer.js';
import { quantize } from '../models/quantize/index.js';
import { percentText, spreadOf, spreadWarning } from './stats.js';
import { fitTable, wrapParagraph } from './table.js';

export interface BenchModelOptions {
  readonly model: string;
  readonly promptLengths: readonly number[];
  readonly genTokens: number;
  readonly warmup: number;
  readonly reps: number;
  /** Dispatch policies to compare (each a policy string; '' = the default priority order). */
  readonly dispatch: readonly string[];
  readonly promptFile?: string;
  readonly seed?: number;
  /** Also time PyTorch eager on the same shapes (synthetic presets only; default true). */
  readonly peer?: boolean;
  /** PyTorch peer threads (default 1, like opshift's kernels); the CLI's -t also sets ORT's and the NPU's. */
  readonly threads?: number;
  /** Quantize every linear (lm_head too) in memory first: w8a8 (per-tensor int8, quantize_dynamic) or w4 (pergrp uint4 g128). */
  readonly quant?: 'w8a8' | 'w4';
  /** Take the repetitions round-robin over the dispatch policies instead of one policy after the other. */
  readonly interleave?: boolean;
  /** Run one profiled repetition per row for the per-op breakdown (default true; `bench compare` skips it). */
  readonly profile?: boolean;
}

export interface PeerRow {
  readonly promptTokens: number;
  readonly ttftMs: number;
  readonly tokensPerS: number;
}

export interface BenchModelRow {
  readonly dispatch: string;
  readonly promptTokens: number;
  readonly genTokens: number;
  /** Medians over the repetitions. */
  readonly ttftMs: number;
  readonly tokensPerS: number;
  /** Interquartile ranges over the repetitions, and IQR / median. */
  readonly ttftIqrMs: number;
  readonly ttftRelSpread: number;
  readonly tokensPerSIqr: number;
  readonly tokensPerSRelSpread: number;
  readonly reps: number;
  readonly msPerToken: number;
  readonly peakRssMiB: number;
  /** Op time per op and backend, prefill and decode together, from one profiled repetition. */
  readonly breakdown: SummaryRow[];
}

export interface BenchModelResult {
  readonly model: string;
  readonly parameters: number;
  readonly loadMs: number;
  /**
   * TTFT of the first generate in this process (the first dispatch policy and prompt length): it includes the
   * backends' one-time weight preparation (transpose, packing, sessions), which later runs reuse.
   */
  readonly coldTtftMs: number;
  /** The process's peak resident set (getrusage maxrss) when the benchmark ended: weights, prepared copies, caches. */
  readonly maxRssMiB: number;
  readonly rows: BenchModelRow[];
  /** PyTorch eager on the same shapes and prompts, same run; or why it was skipped. */
  readonly peer: { readonly name: string; readonly rows: PeerRow[] } | { readonly skipped: string };
}

/** `n` prompt ids: the file's tokens repeated to length, or a fixed pseudo-random sequence in the vocabulary. */
export function promptIds(model: CausalLM, n: number, fileTokens: number[] | undefined, seed = 1): number[] {
  if (fileTokens && fileTokens.length > 0) return Array.from({ length: n }, (_, i) => fileTokens[i % fileTokens.length]!);
  return syntheticPromptIds(model.config.vocabSize, n, seed);
}

/** The fixed pseudo-random prompt of `promptIds` for a vocabulary of V ids (peers without the model use it too). */
export function syntheticPromptIds(V: number, n: number, seed = 1): number[] {
  let s = seed >>> 0 || 1;
  return Array.from({ length: n }, () => {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    return 3 + (s % (V - 3)); // clear of the usual special ids 0..2
  });
}

export async function runBenchModel(o: BenchModelOptions, onProgress?: (msg: string) => void): Promise<BenchModelResult> {
  if (o.promptLengths.length === 0 || o.promptLengths.some((l) => !Number.isInteger(l) || l < 1))
    throw new ArgumentError(`bench model: prompt lengths must be positive integers, got ${o.promptLengths.join(',')}`);
  if (!Number.isInteger(o.genTokens) || o.genTokens < 2) throw new ArgumentError(`bench model: -g ${o.genTokens}: generate at least 2 tokens to time decode`);
  const { model, dir, loadMs } = await openModel(o.model);
  // Every linear, lm_head included, as llama.cpp's Q8_0 / Q4_0 files quantize the output matrix too.
  if (o.quant) quantize(model, o.quant === 'w8a8' ? { method: 'w8a8' } : { method: 'pergrp', groupSize: 128 }, { exclude: [] });
  let fileTokens: number[] | undefined;
  if (o.promptFile) {
    const tok = loadTokenizerIfAny(dir, true)!;
    fileTokens = tok.encode(readTextOption('--prompt-file', o.promptFile));
  }
  let coldTtftMs: number | undefined;
  interface Cell {
    readonly spec: string;
    readonly L: number;
    readonly run: () => ReturnType<typeof generate>;
    readonly ttft: number[];
    readonly tps: number[];
    peak: number;
  }
  const cells: Cell[] = [];
  for (const spec of o.dispatch) {
    // No policy: the CLI's measured default, as generate and serve use (tools/default_policy.ts).
    const policy = spec ? parsePolicy(spec) : defaultPolicy();
    for (const L of o.promptLengths) {
      if (model.config.modelType === 'opt' && L + o.genTokens > model.config.maxPositions)
        throw new ArgumentError(`bench model: ${L} + ${o.genTokens} tokens exceed OPT's ${model.config.maxPositions} positions`);
      const prompt = promptIds(model, L, fileTokens, o.seed);
      const run = () => {
        const res = withPolicy(policy, () => generate(model, prompt, { maxNewTokens: o.genTokens, ignoreEos: true }));
        coldTtftMs ??= res.ttftMs;
        return res;
      };
      cells.push({ spec, L, run, ttft: [], tps: [], peak: process.memoryUsage.rss() });
    }
  }
  const timed = (c: Cell, r: number) => {
    onProgress?.(`${c.spec || 'default'}: prompt ${c.L}, repetition ${r + 1}/${o.reps}`);
    const res = c.run();
    c.ttft.push(res.ttftMs);
    c.tps.push(res.tokensPerS);
    c.peak = Math.max(c.peak, process.memoryUsage.rss());
  };
  if (o.interleave) {
    // Round-robin over the policies: on a shared machine a slow minute then costs every policy one repetition
    // instead of all of one policy's, so the ratios between rows survive a changing load.
    for (const c of cells) for (let w = 0; w < o.warmup; w++) c.run();
    for (let r = 0; r < o.reps; r++) for (const c of cells) timed(c, r);
  } else
    for (const c of cells) {
      for (let w = 0; w < o.warmup; w++) c.run();
      for (let r = 0; r < o.reps; r++) timed(c, r);
    }
  const rows: BenchModelRow[] = cells.map((c) => {
    const breakdown = o.profile === false ? [] : profile(c.run).rows(['op', 'backend']);
    const t = spreadOf(c.ttft);
    const d = spreadOf(c.tps);
    return {
      dispatch: c.spec || 'default',
      promptTokens: c.L,
      genTokens: o.genTokens,
      ttftMs: t.median,
      tokensPerS: d.median,
      ttftIqrMs: t.iqr,
      ttftRelSpread: t.relSpread,
      tokensPerSIqr: d.iqr,
      tokensPerSRelSpread: d.relSpread,
      reps: o.reps,
      msPerToken: 1000 / d.median,
      peakRssMiB: Math.max(c.peak, process.memoryUsage.rss()) / 2 ** 20,
      breakdown,
    };
  });
  let peer: BenchModelResult['peer'] = { skipped: 'disabled (--no-peer)' };
  if (o.peer !== false) {
    const preset = o.model.startsWith('synthetic:') ? PRESETS[o.model.slice('synthetic:'.length)] : undefined;
    if (!preset) peer = { skipped: 'the PyTorch peer runs synthetic:<preset> shapes only' };
    else {
      onProgress?.('PyTorch peer');
      const input = JSON.stringify({
        config: preset,
        prompts: o.promptLengths.map((L) => promptIds(model, L, fileTokens, o.seed)),
        gen_tokens: o.genTokens,
        reps: o.reps,
        warmup: o.warmup,
        threads: o.threads ?? 1,
      });
      const res = runPythonPeer<{ torch: string; threads: number; results: { prompt_tokens: number; ttft_ms: number; tokens_per_s: number }[] }>('torch_model.py', [], input);
      peer = res.ok
        ? {
            name: `PyTorch ${res.value.torch} eager with ${peerBlas()} (F.linear, ${res.value.threads} thread${res.value.threads > 1 ? 's' : ''})`,
            rows: res.value.results.map((x) => ({ promptTokens: x.prompt_tokens, ttftMs: x.ttft_ms, tokensPerS: x.tokens_per_s })),
          }
        : { skipped: res.reason };
    }
  }
  const maxRssMiB = process.resourceUsage().maxRSS / 1024; // maxRSS is in KiB
  return { model: o.quant ? `${o.model} (${o.quant})` : o.model, parameters: model.numParameters(), loadMs, coldTtftMs: coldTtftMs ?? NaN, maxRssMiB, rows, peer };
}

export function formatBenchModel(r: BenchModelResult, width?: number): string {
  const head = `${r.model}: ${(r.parameters / 1e6).toFixed(1)}M parameters, loaded in ${r.loadMs.toFixed(0)} ms; cold TTFT ${r.coldTtftMs.toFixed(0)} ms (first generate, weight preparation included); process peak RSS ${r.maxRssMiB.toFixed(0)} MiB`;
  const peerRows = 'rows' in r.peer ? r.peer.rows : [];
  const table = fitTable(
    [
      'dispatch', 'prompt', 'gen', 'TTFT ms', 'IQR %', 'tok/s', 'IQR %', { title: 'ms/token', drop: 1 }, { title: 'peak RSS MiB', drop: 2 },
      ...(peerRows.length ? [{ title: 'PyTorch TTFT ms', drop: 4 }, { title: 'PyTorch tok/s', drop: 5 }] : []),
      { title: 'top ops (backend: % of op time)', drop: 3 },
    ],
    r.rows.map((x) => {
      const total = x.breakdown.reduce((a, b) => a + b.totalMs, 0) || 1;
      const top = x.breakdown.slice(0, 4).map((b) => `${b.op}@${b.backend} ${((100 * b.totalMs) / total).toFixed(0)}%`).join(', ');
      const p = peerRows.find((y) => y.promptTokens === x.promptTokens);
      return [
        x.dispatch,
        String(x.promptTokens),
        String(x.genTokens),
        x.ttftMs.toFixed(1),
        x.reps > 1 ? percentText(x.ttftRelSpread) : '-',
        x.tokensPerS.toFixed(2),
        x.reps > 1 ? percentText(x.tokensPerSRelSpread) : '-',
        x.msPerToken.toFixed(1),
        x.peakRssMiB.toFixed(0),
        ...(peerRows.length ? [p ? p.ttftMs.toFixed(1) : '-', p ? p.tokensPerS.toFixed(2) : '-'] : []),
        top,
      ];
    }),
    { width },
  );
  const peer = 'rows' in r.peer ? `peer: ${r.peer.name}, same shapes and prompts, same run` : `peer: skipped: ${r.peer.skipped}`;
  const noisy = r.rows.flatMap((x) => [
    { label: `${x.dispatch}, prompt ${x.promptTokens}: TTFT`, relSpread: x.ttftRelSpread },
    { label: `${x.dispatch}, prompt ${x.promptTokens}: tok/s`, relSpread: x.tokensPerSRelSpread },
  ]);
  const reps = r.rows[0]?.reps ?? 1;
  const warn = spreadWarning(noisy, `-r ${Math.max(reps * 2, 5)}`);
  const note = reps > 1 ? 'IQR %: interquartile range over the repetitions over the median' : 'one repetition: no spread (-r 3 or more to see it)';
  return [wrapParagraph(head, width), table, ...[note, peer, ...(warn ? [warn] : [])].map((l) => wrapParagraph(l, width))].join('\n');
}

export function benchModelCsv(r: BenchModelResult): string {
  const lines = ['model,dispatch,prompt_tokens,gen_tokens,ttft_ms,tokens_per_s,ms_per_token,peak_rss_mib,ttft_iqr_ms,tokens_per_s_iqr,reps'];
  const q = (s: string) => (/[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s);
  for (const x of r.rows)
    lines.push([q(r.model), q(x.dispatch), x.promptTokens, x.genTokens, x.ttftMs.toFixed(3), x.tokensPerS.toFixed(3), x.msPerToken.toFixed(3), x.peakRssMiB.toFixed(1), x.ttftIqrMs.toFixed(3), x.tokensPerSIqr.toFixed(3), x.reps].join(','));
  return lines.join('\n');
}
