/**
 * `opshift bench serve`: a load generator for `opshift serve` over loopback. For each concurrency level it runs
 * `requests` streaming completions from `clients` concurrent clients (each sends its next request when the last
 * ends), optionally hanging up mid-stream at random (--disconnect-rate), and reports what the clients saw:
 * tokens/s over the level's wall time, TTFT and inter-token p50/p99, 4xx/5xx and connection errors. The whole run
 * has a hard time bound: past it, requests in flight are aborted and the level is marked cut.
 *
 * With `model` instead of `url` it starts the server itself (in this process; the model runs in the server's
 * worker thread) and stops it afterwards, for one-command runs.
 */
import { ArgumentError } from '../core/errors.js';
import { byteTokenIds, needsTokenIds } from './bench_serve_ids.js';
import { runPrefixReuse, type PrefixReuseResult } from './bench_serve_prefix.js';
import { levelStats, seededRandom, type LevelStats, type RequestSample } from './bench_serve_stats.js';
import type { ServeOptions } from './serve/server.js';

export interface BenchServeOptions {
  /** A running server's base URL (http://127.0.0.1:PORT), or undefined with `model`. */
  readonly url?: string;
  /** Start a server on this model (`demo:llama`, a folder, …) for the run. */
  readonly model?: string;
  /** More options for the server started with `model` (limits, dispatch, threads). */
  readonly server?: Partial<ServeOptions>;
  /** Concurrency levels, run in order. */
  readonly clients: readonly number[];
  /** Requests per level. */
  readonly requests: number;
  readonly maxTokens: number;
  /** Fraction of requests that hang up mid-stream, in [0, 1). */
  readonly disconnectRate: number;
  /** Prompts, used round-robin. */
  readonly prompts: readonly string[];
  /** The whole run's time bound. */
  readonly timeoutMs: number;
  /** Requests sent before each level's clock starts (not counted): the first request pays one-time setup. */
  readonly warmup: number;
  /** Seeds the disconnect pattern and is passed as each request's sampling seed. */
  readonly seed: number;
  readonly temperature: number;
  readonly apiKey?: string;
  /** The model name requests send (default: the first from /v1/models). */
  readonly modelName?: string;
  /**
   * Send prompts as token ids (their UTF-8 bytes as Llama byte tokens, bench_serve_ids.ts), for a model without a
   * tokenizer. Undefined: ask the server (a text prompt answered 400 no_tokenizer means ids).
   */
  readonly promptIds?: boolean;
  /** Also measure second-turn TTFT with and without a reusable prefix: system prompts of this many words. */
  readonly prefixReuse?: { readonly words: number; readonly reps: number };
  readonly onProgress?: (message: string) => void;
}

export interface BenchServeResult {
  readonly url: string;
  readonly model: string;
  readonly maxTokens: number;
  readonly disconnectRate: number;
  /** Prompts went as token ids (the model has no tokenizer). */
  readonly promptIds: boolean;
  readonly levels: readonly LevelStats[];
  readonly prefixReuse?: PrefixReuseResult;
  /** The server's /metrics once idle after the run (undefined: it has none, or never went idle). */
  readonly after?: ServerAfter;
  /** The run hit its time bound. */
  readonly timedOut: boolean;
}

/** Built-in prompts (the demo models were trained on the KJV): short, varied openings. */
export const DEFAULT_PROMPTS = ['And God said', 'In the beginning', 'The LORD is my shepherd', 'And it came to pass', 'Blessed are the', 'Then said Jesus unto them', 'And the king said', 'Hear, O Israel'];

/** What a leak check needs from the server once the run is over. */
export interface ServerAfter {
  /** KV caches of running sequences (kept prefixes are not counted): 0 when nothing leaked. */
  readonly liveKvCaches: number;
  /** KV bytes still held: the prefixes kept for reuse. */
  readonly kvCacheBytesUsed: number;
}

/** Polls the JSON /metrics until no sequence is active or queued (at most 5 s), then reads the cache figures. */
async function serverAfter(url: string, apiKey: string | undefined): Promise<ServerAfter | undefined> {
  const until = performance.now() + 5000;
  for (;;) {
    const res = await fetch(`${url}/metrics?format=json`, { headers: apiKey ? { authorization: `Bearer ${apiKey}` } : {} }).catch(() => undefined);
    if (!res?.ok) return undefined;
    const m = (await res.json()) as { active?: number; queued?: number; live_kv_caches?: number; kv_cache_bytes_used?: number };
    if (typeof m.live_kv_caches !== 'number') return undefined;
    if ((!m.active && !m.queued) || performance.now() > until) return { liveKvCaches: m.live_kv_caches, kvCacheBytesUsed: m.kv_cache_bytes_used ?? 0 };
    await new Promise((r) => setTimeout(r, 50));
  }
}

export function checkBenchServeOptions(o: BenchServeOptions): void {
  if ((o.url === undefined) === (o.model === undefined)) throw new ArgumentError('opshift bench serve: give exactly one of --url (a running server) or -m/--model (start one)');
  if (o.url !== undefined && !/^https?:\/\/[^/]+\/?$/.test(o.url)) throw new ArgumentError(`opshift bench serve: --url ${o.url} must be a base URL such as http://127.0.0.1:8000`);
  if (o.clients.length === 0 || o.clients.some((c) => !Number.isInteger(c) || c < 1 || c > 1024)) throw new ArgumentError(`opshift bench serve: --clients ${o.clients.join(',')} must be integers in 1..1024`);
  if (!Number.isInteger(o.requests) || o.requests < 1) throw new ArgumentError(`opshift bench serve: --requests ${o.requests} must be a positive integer`);
  if (!Number.isInteger(o.maxTokens) || o.maxTokens < 1) throw new ArgumentError(`opshift bench serve: --max-tokens ${o.maxTokens} must be a positive integer`);
  if (!(o.disconnectRate >= 0 && o.disconnectRate < 1)) throw new ArgumentError(`opshift bench serve: --disconnect-rate ${o.disconnectRate} must be in [0, 1)`);
  if (o.prompts.length === 0 || o.prompts.some((p) => p.length === 0)) throw new ArgumentError('opshift bench serve: every prompt must be non-empty');
  if (o.prefixReuse && !(Number.isInteger(o.prefixReuse.words) && o.prefixReuse.words >= 2 && Number.isInteger(o.prefixReuse.reps) && o.prefixReuse.reps >= 1))
    throw new ArgumentError(`opshift bench serve: --prefix-reuse needs at least 2 words and 1 repetition, got ${o.prefixReuse.words} words, ${o.prefixReuse.reps} reps`);
  if (!(o.timeoutMs > 0)) throw new ArgumentError(`opshift bench serve: --timeout must be positive`);
}

interface Plan {
  readonly prompt: string;
  /** Hang up after this many streamed pieces (undefined: read to the end). */
  readonly disconnectAfter: number | undefined;
}

/** A streaming request: `/v1/completions` with a prompt, or `/v1/chat/completions` with messages. */
export type StreamRequest = { readonly prompt: string | readonly number[] } | { readonly messages: readonly { role: string; content: string }[] };

/** One streaming request, timed piece by piece; `text` is what arrived. */
export async function streamOne(url: string, model: string, o: Pick<BenchServeOptions, 'maxTokens' | 'temperature' | 'seed' | 'apiKey'>, request: StreamRequest, disconnectAfter: number | undefined, deadline: AbortSignal): Promise<RequestSample & { text: string }> {
  const hangUp = new AbortController();
  const signal = AbortSignal.any([hangUp.signal, deadline]);
  const t0 = performance.now();
  let status = 0;
  let ttftMs: number | undefined;
  let last = 0;
  const gapsMs: number[] = [];
  let pieces = 0;
  let usageTokens: number | undefined;
  let disconnected = false;
  let text = '';
  let promptTokens: number | undefined;
  try {
    const res = await fetch(`${url}${'prompt' in request ? '/v1/completions' : '/v1/chat/completions'}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(o.apiKey ? { authorization: `Bearer ${o.apiKey}` } : {}) },
      body: JSON.stringify({ model, ...request, max_tokens: o.maxTokens, temperature: o.temperature, seed: o.seed, stream: true, stream_options: { include_usage: true } }),
      signal,
    });
    status = res.status;
    if (!res.ok || !res.body) return { status, ttftMs, gapsMs, tokens: 0, disconnected, timedOut: false, error: `${status}: ${(await res.text()).slice(0, 200)}`, text };
    const decoder = new TextDecoder();
    let buf = '';
    outer: for await (const bytes of res.body) {
      buf += decoder.decode(bytes as Uint8Array, { stream: true });
      for (let end = buf.indexOf('\n\n'); end >= 0; end = buf.indexOf('\n\n')) {
        const event = buf.slice(0, end);
        buf = buf.slice(end + 2);
        if (!event.startsWith('data: ') || event === 'data: [DONE]') continue;
        const data = JSON.parse(event.slice(6)) as { choices?: { text?: string; delta?: { content?: string } }[]; usage?: { completion_tokens: number; prompt_tokens: number }; error?: { message: string } };
        if (data.error) throw new StreamError(data.error.message);
        if (data.usage) [usageTokens, promptTokens] = [data.usage.completion_tokens, data.usage.prompt_tokens];
        const piece = data.choices?.[0]?.text ?? data.choices?.[0]?.delta?.content;
        if (!piece) continue;
        text += piece;
        const now = performance.now();
        if (ttftMs === undefined) ttftMs = now - t0;
        else gapsMs.push(now - last);
        last = now;
        pieces++;
        if (disconnectAfter !== undefined && pieces >= disconnectAfter) {
          disconnected = true;
          hangUp.abort();
          break outer;
        }
      }
    }
  } catch (e) {
    // Counted, never fatal to the run: our own hang-up, the time bound, a server error inside a 200 stream
    // (a 5xx the status line could not carry), or a refused/reset connection (no status).
    if (!disconnected) {
      const timedOut = deadline.aborted;
      const code = timedOut ? status : e instanceof StreamError ? 500 : 0;
      return { status: code, ttftMs, gapsMs, tokens: pieces, disconnected, timedOut, error: timedOut ? undefined : (e as Error).message, text };
    }
  }
  return { status, ttftMs, gapsMs, tokens: usageTokens ?? pieces, promptTokens, disconnected, timedOut: false, text };
}

class StreamError extends Error {}

/** `requests` requests from `clients` workers; the level's clock runs from the first send to the last answer. */
async function runLevel(url: string, model: string, o: BenchServeOptions, ids: boolean, clients: number, plans: readonly Plan[], deadline: AbortSignal): Promise<LevelStats> {
  const samples: RequestSample[] = [];
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (next < plans.length && !deadline.aborted) {
        const plan = plans[next++]!;
        samples.push(await streamOne(url, model, o, { prompt: ids ? byteTokenIds(plan.prompt) : plan.prompt }, plan.disconnectAfter, deadline));
      }
    }),
  );
  return levelStats(clients, samples, Math.max(1e-3, performance.now() - t0));
}

export async function runBenchServe(o: BenchServeOptions): Promise<BenchServeResult> {
  checkBenchServeOptions(o);
  let url = o.url?.replace(/\/$/, '');
  let stop: (() => Promise<void>) | undefined;
  if (o.model !== undefined) {
    o.onProgress?.(`starting a server on ${o.model}`);
    const { createServer } = await import('./serve/server.js');
    const server = await createServer({ ...o.server, model: o.model, modelName: o.model, apiKey: o.apiKey });
    url = await server.listen(0);
    stop = () => server.shutdown();
  }
  const deadline = AbortSignal.timeout(o.timeoutMs);
  try {
    const model = o.modelName ?? (await servedModel(url!, o.apiKey));
    const ids = o.promptIds ?? (await needsTokenIds(url!, model, o.apiKey, deadline));
    if (ids) o.onProgress?.('the model has no tokenizer: prompts go as token ids (UTF-8 bytes as Llama byte tokens)');
    const random = seededRandom(o.seed);
    const levels: LevelStats[] = [];
    for (const clients of o.clients) {
      if (deadline.aborted) break;
      for (let i = 0; i < o.warmup && !deadline.aborted; i++) await streamOne(url!, model, o, { prompt: ids ? byteTokenIds(o.prompts[i % o.prompts.length]!) : o.prompts[i % o.prompts.length]! }, undefined, deadline);
      const plans = Array.from({ length: o.requests }, (_, i): Plan => {
        const cut = random() < o.disconnectRate;
        const after = 1 + Math.floor(random() * Math.max(1, Math.floor(o.maxTokens / 2)));
        return { prompt: o.prompts[i % o.prompts.length]!, disconnectAfter: cut ? after : undefined };
      });
      o.onProgress?.(`${clients} client${clients > 1 ? 's' : ''}: ${o.requests} requests`);
      levels.push(await runLevel(url!, model, o, ids, clients, plans, deadline));
    }
    let prefixReuse: PrefixReuseResult | undefined;
    if (o.prefixReuse && !deadline.aborted) {
      o.onProgress?.(`second-turn TTFT: ${o.prefixReuse.reps} conversations, ${o.prefixReuse.words}-word system prompts`);
      prefixReuse = await runPrefixReuse(url!, model, o, o.prefixReuse.words, o.prefixReuse.reps, deadline, ids);
    }
    const timedOut = deadline.aborted;
    return { url: url!, model, maxTokens: o.maxTokens, disconnectRate: o.disconnectRate, promptIds: ids, levels, prefixReuse, after: await serverAfter(url!, o.apiKey), timedOut };
  } finally {
    await stop?.();
  }
}

async function servedModel(url: string, apiKey: string | undefined): Promise<string> {
  const res = await fetch(`${url}/v1/models`, { headers: apiKey ? { authorization: `Bearer ${apiKey}` } : {} });
  if (!res.ok) throw new Error(`opshift bench serve: GET ${url}/v1/models answered ${res.status}: ${(await res.text()).slice(0, 200)}`);
  const id = ((await res.json()) as { data?: { id?: unknown }[] }).data?.[0]?.id;
  if (typeof id !== 'string') throw new Error(`opshift bench serve: ${url}/v1/models lists no model`);
  return id;
}

const fmt = (v: number | null, digits = 1) => (v === null ? '-' : v.toFixed(digits));

export function formatBenchServe(r: BenchServeResult): string {
  const head = ['clients', 'requests', 'done', 'cut', '4xx', '5xx', 'net err', 'tokens', 'tok/s', 'TTFT p50 ms', 'TTFT p99 ms', 'ITL p50 ms', 'ITL p99 ms', 'wall s'];
  const rows = r.levels.map((l) => [
    String(l.clients),
    String(l.requests),
    String(l.completed),
    String(l.disconnected),
    String(l.status4xx),
    String(l.status5xx),
    String(l.networkErrors),
    String(l.tokens),
    fmt(l.tokensPerS),
    fmt(l.ttftMs.p50),
    fmt(l.ttftMs.p99),
    fmt(l.interTokenMs.p50),
    fmt(l.interTokenMs.p99),
    fmt(l.wallS, 2),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padStart(widths[i]!)).join('  ');
  const out = [`bench serve: ${r.model} at ${r.url}, max_tokens ${r.maxTokens}, disconnect rate ${r.disconnectRate}`];
  if (r.promptIds) out.push('the model has no tokenizer: prompts were sent as token ids (their UTF-8 bytes as Llama byte tokens), tokens counted from usage');
  out.push(line(head), ...rows.map(line));
  const first = r.levels[0];
  const lastLevel = r.levels.at(-1);
  if (first && lastLevel && lastLevel !== first && first.tokensPerS > 0 && first.interTokenMs.p99 !== null && lastLevel.interTokenMs.p99 !== null)
    out.push(`${lastLevel.clients} vs ${first.clients} clients: tok/s ×${(lastLevel.tokensPerS / first.tokensPerS).toFixed(2)}, ITL p99 ×${(lastLevel.interTokenMs.p99 / first.interTokenMs.p99).toFixed(2)}`);
  for (const l of r.levels) for (const e of l.errors) out.push(`${l.clients} client${l.clients > 1 ? 's' : ''}: ${e}`);
  const p = r.prefixReuse;
  if (p)
    out.push(
      `second turn (${p.promptTokens ?? '?'} prompt tokens, ${p.reps} conversations): TTFT p50 ${fmt(p.warmTtftMs.p50)} ms with the first turn's prefix kept vs ${fmt(p.coldTtftMs.p50)} ms without, ×${p.ratio === null ? '-' : p.ratio.toFixed(2)}${p.failed ? `; ${p.failed} requests failed` : ''}`,
    );
  if (r.after) out.push(`after the run: ${r.after.liveKvCaches} running KV caches (${r.after.liveKvCaches === 0 ? 'none leaked' : 'LEAKED'}), ${(r.after.kvCacheBytesUsed / 2 ** 20).toFixed(1)} MB of prefixes kept for reuse`);
  if (r.timedOut) out.push('the run hit its time bound (--timeout): the last level was cut short');
  return out.join('\n');
}
