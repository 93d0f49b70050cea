/**
 * llama.cpp as a peer of `bench compare`: its own `llama-bench` on a GGUF file of the same shapes, in a child
 * process of the same run. Nothing of llama.cpp ships with opshift: the user builds llama-bench (README,
 * "Benchmarks") and passes its path (`--llama-bench PATH` or OPSHIFT_LLAMA_BENCH).
 *
 * `llama-bench -p P -n G -t N -r R -o json` runs a warm-up, then R timed prompt-processing runs (pp P: the P-token
 * prefill, which is what stands between a prompt and its first token) and R timed generation runs (tg G). TTFT is
 * the median pp sample; decode tokens/s the median tg sample.
 */
import { existsSync, statSync } from 'node:fs';
import { failureOf, runChild } from './child.js';
import { spreadOf } from '../stats.js';

/** The precisions `bench compare` measures and the GGUF type llama.cpp runs for each (same weight-bytes class). */
export const GGUF_TYPE = { fp32: 'f32', w8a8: 'q8_0', w4: 'q4_0' } as const;
export type Precision = keyof typeof GGUF_TYPE;

/** opshift synthetic preset -> file stem of the GGUF written by make_gguf.py (same shapes; see the README). */
export const GGUF_STEM: Readonly<Record<string, string>> = { 'opt-125m': 'opt', 'tinyllama-1.1b': 'tinyllama' };

export interface LlamaBenchRow {
  readonly file: string;
  readonly commit: string;
  readonly threads: number;
  readonly ttftMs: number;
  readonly ttftRelSpread: number;
  readonly tokensPerS: number;
  readonly tokensPerSRelSpread: number;
  readonly peakRssMiB: number | undefined;
}

/** The llama-bench binary: the option, else OPSHIFT_LLAMA_BENCH; undefined when neither is set. */
export function llamaBenchPath(option: string | undefined): string | undefined {
  return option ?? (process.env.OPSHIFT_LLAMA_BENCH || undefined);
}

/** Why llama-bench cannot run from `path`, or undefined when it can. */
export function llamaBenchProblem(path: string): string | undefined {
  if (!existsSync(path)) return `llama-bench not found at ${path} (build it as the README's Benchmarks section says)`;
  if (!statSync(path).isFile()) return `${path} is not a file`;
  return undefined;
}

interface LlamaBenchJson {
  readonly build_commit?: string;
  readonly n_prompt: number;
  readonly n_gen: number;
  readonly n_threads: number;
  readonly samples_ns: readonly number[];
  readonly samples_ts: readonly number[];
}

/** The pp and tg results of llama-bench's JSON output (one object per test). */
export function parseLlamaBench(json: string, promptTokens: number, genTokens: number): { commit: string; ppNs: number[]; tgTs: number[] } {
  let rows: LlamaBenchJson[];
  try {
    rows = JSON.parse(json) as LlamaBenchJson[];
  } catch {
    throw new Error(`llama-bench printed no JSON array (first bytes: ${JSON.stringify(json.slice(0, 80))})`);
  }
  if (!Array.isArray(rows)) throw new Error('llama-bench JSON: expected an array of tests');
  const pp = rows.find((r) => r.n_prompt === promptTokens && r.n_gen === 0);
  const tg = rows.find((r) => r.n_gen === genTokens && r.n_prompt === 0);
  if (!pp || !tg) throw new Error(`llama-bench JSON: no pp${promptTokens} and tg${genTokens} tests in its output (tests: ${rows.map((r) => `p${r.n_prompt}/n${r.n_gen}`).join(', ')})`);
  return { commit: pp.build_commit ?? 'unknown', ppNs: [...pp.samples_ns], tgTs: [...tg.samples_ts] };
}

export async function runLlamaBench(
  bin: string,
  file: string,
  o: { threads: number; promptTokens: number; genTokens: number; reps: number; timeoutMs: number },
): Promise<LlamaBenchRow> {
  const args = ['-m', file, '-p', String(o.promptTokens), '-n', String(o.genTokens), '-t', String(o.threads), '-r', String(o.reps), '-o', 'json'];
  const r = await runChild(bin, args, { timeoutMs: o.timeoutMs });
  const failed = failureOf('llama-bench', r, o.timeoutMs);
  if (failed) throw new Error(failed);
  const p = parseLlamaBench(r.stdout, o.promptTokens, o.genTokens);
  const ttft = spreadOf(p.ppNs.map((ns) => ns / 1e6));
  const tps = spreadOf(p.tgTs);
  return {
    file,
    commit: p.commit,
    threads: o.threads,
    ttftMs: ttft.median,
    ttftRelSpread: ttft.relSpread,
    tokensPerS: tps.median,
    tokensPerSRelSpread: tps.relSpread,
    peakRssMiB: r.peakRssMiB,
  };
}
