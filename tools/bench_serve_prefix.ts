/**
 * The second-turn TTFT of `opshift bench serve --prefix-reuse WORDS`: a conversation's second request repeats the
 * first one's prompt and answer, so a server that keeps KV entries of earlier prompts (prefix reuse) only has to
 * prefill the new turn. Each repetition runs
 *
 *   turn 1  [system S_i, user Q1]                        → answer A
 *   warm    [system S_i, user Q1, assistant A, user Q2]   second turn: its prefix was just computed
 *   cold    [system S'_i, user Q1, assistant A, user Q2]  the same length, but S'_i differs from its first word
 *                                                        on, so no kept prefix matches (the no-reuse baseline)
 *
 * and reports both TTFT distributions and their median ratio (the target is ≤ 0.3 at 512 tokens).
 * Requests run one at a time: the figure is prefill work saved, not queueing.
 */
import type { BenchServeOptions } from './bench_serve.js';
import { streamOne, type StreamRequest } from './bench_serve.js';
import { byteTokenIds, parseStreamedIds } from './bench_serve_ids.js';
import { quantiles, type Quantiles } from './bench_serve_stats.js';

export interface PrefixReuseResult {
  /** Words in each system prompt. */
  readonly words: number;
  readonly reps: number;
  /** Median prompt tokens of the second turn (from the server's usage). */
  readonly promptTokens: number | null;
  readonly warmTtftMs: Quantiles;
  readonly coldTtftMs: Quantiles;
  /** median(warm) / median(cold); null when either is missing. */
  readonly ratio: number | null;
  /** Requests that did not finish with a 2xx (their TTFTs are left out). */
  readonly failed: number;
}

/** A long, deterministic system prompt whose first word is `tag` (so two tags share no token prefix). */
export function systemPrompt(tag: string, words: number, corpus: readonly string[]): string {
  const out = [tag];
  for (let i = 0; out.length < words; i++) out.push(...corpus[i % corpus.length]!.split(' '));
  return out.slice(0, words).join(' ');
}

/**
 * The three requests of one repetition as chat messages, or for a model without a tokenizer (`ids`) as
 * /v1/completions token ids: system, question and turns joined by newlines as byte tokens, the answer as the ids
 * the server streamed back (so the warm second turn extends the first turn's ids exactly).
 */
export function conversationTurns(ids: boolean, system: string, other: string, q1: string, q2: string) {
  const first: StreamRequest = ids ? { prompt: byteTokenIds(`${system}\n${q1}`) } : { messages: [{ role: 'system', content: system }, { role: 'user', content: q1 }] };
  const second = (s: string, answer: string): StreamRequest =>
    ids
      ? { prompt: [...byteTokenIds(`${s}\n${q1}`), ...parseStreamedIds(answer), ...byteTokenIds(`\n${q2}`)] }
      : {
          messages: [
            { role: 'system', content: s },
            { role: 'user', content: q1 },
            { role: 'assistant', content: answer },
            { role: 'user', content: q2 },
          ],
        };
  return { first, warm: (answer: string) => second(system, answer), cold: (answer: string) => second(other, answer) };
}

export async function runPrefixReuse(url: string, model: string, o: BenchServeOptions, words: number, reps: number, deadline: AbortSignal, ids = false): Promise<PrefixReuseResult> {
  const warm: number[] = [];
  const cold: number[] = [];
  const promptTokens: number[] = [];
  let failed = 0;
  // Greedy and short: the answer is only there to make turn 2 a real continuation.
  const opts = { ...o, temperature: 0 };
  for (let i = 0; i < reps && !deadline.aborted; i++) {
    const q1 = o.prompts[i % o.prompts.length]!;
    const q2 = o.prompts[(i + 1) % o.prompts.length]!;
    const t = conversationTurns(ids, systemPrompt(`Conversation${o.seed}x${i}.`, words, o.prompts), systemPrompt(`Unrelated${o.seed}y${i}.`, words, o.prompts), q1, q2);
    const first = await streamOne(url, model, opts, t.first, undefined, deadline);
    if (first.status !== 200 || first.error) {
      failed++;
      continue;
    }
    const w = await streamOne(url, model, opts, t.warm(first.text), undefined, deadline);
    const c = await streamOne(url, model, opts, t.cold(first.text), undefined, deadline);
    for (const [r, into] of [
      [w, warm],
      [c, cold],
    ] as const) {
      if (r.status === 200 && !r.error && r.ttftMs !== undefined) into.push(r.ttftMs);
      else failed++;
    }
    if (w.promptTokens !== undefined) promptTokens.push(w.promptTokens);
  }
  const warmQ = quantiles(warm);
  const coldQ = quantiles(cold);
  return {
    words,
    reps,
    promptTokens: quantiles(promptTokens).p50,
    warmTtftMs: warmQ,
    coldTtftMs: coldQ,
    ratio: warmQ.p50 !== null && coldQ.p50 ? warmQ.p50 / coldQ.p50 : null,
    failed,
  };
}
