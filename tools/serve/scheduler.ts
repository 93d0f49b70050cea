/**
 * Continuous batching in the model worker. Requests join between steps (intake: template, tokenization, checks,
 * a KV cache from the pool, maybe with a reused prefix); every step then runs
 *   1. retire: cancelled sequences end at once (their cache goes back to the pool);
 *   2. prefill: one chunk (≤ --prefill-chunk tokens) of the oldest sequence still prefilling, so a long prompt
 *      delays the running streams by one chunk per step, not by its whole length;
 *   3. decode: ONE forward over every sequence that has a token to feed (B rows, so each Linear is a B-row GEMM
 *      instead of B GEMVs), each row on its own single-sequence cache at its own length (ForwardOptions.caches).
 * A sequence's output does not depend on the batch: its rows attend only over its own cache with the ops it runs
 * alone, it samples from its own logits row with its own seeded sampler, and its stop strings are its own.
 * Finished, cancelled and failed sequences retire in the step they end.
 */
import { withPolicy } from '../../core/policy.js';
import { profile } from '../../core/profiler.js';
import type { Tensor } from '../../core/tensor.js';
import { idsTensor } from '../../models/generate.js';
import type { KVCache } from '../../models/kv_cache.js';
import { Sampler } from '../../models/sampling.js';
import type { HfTokenizer } from '../../models/tokenizer.js';
import { fromTypedArray } from '../../ops/creation.js';
import { KvPool } from './kv_pool.js';
import { LIMITS } from './limits.js';
import type { FinishReason, FromWorker, JobMessage } from './protocol.js';
import { admit, pendingStopPrefix, promptIds, Rejection, samplingFor, type WorkerContext } from './scheduler_intake.js';

interface Sequence {
  readonly job: JobMessage;
  readonly prompt: readonly number[];
  readonly maxTokens: number;
  readonly sampler: Sampler;
  readonly cache: KVCache;
  /** Prompt positions copied from a kept prefix. */
  readonly reused: number;
  readonly decoder: ReturnType<HfTokenizer['streamDecoder']> | undefined;
  /** Prompt positions in the cache. */
  prefilled: number;
  /** Prompt and generated ids. */
  readonly ids: number[];
  count: number;
  text: string;
  /** Characters of `text` already posted (held back: a possible stop string's start). */
  emitted: number;
  readonly t0: number;
  ttft: number;
  lastTokenAt: number;
  readonly backendMs: Record<string, number>;
  cancelled: boolean;
}

const MIB = 1 << 20;
const mib = (b: number) => (b / MIB).toFixed(1);

export class Scheduler {
  readonly #seqs: Sequence[] = [];
  readonly pool: KvPool;
  /** Rows of different lengths share a forward through per-row caches; LongRoPE models decode row by row. */
  readonly #batchable: boolean;
  readonly #eos: ReadonlySet<number>;
  /** Smoothed wall time of a step, ms (the Retry-After estimate). */
  #stepMs = 0;

  constructor(
    readonly ctx: WorkerContext,
    readonly post: (m: FromWorker) => void,
  ) {
    this.pool = new KvPool(ctx.model, (ctx.kvCacheMb ?? LIMITS.kvCacheMb.default) * MIB);
    this.#batchable = ctx.model.recomputeCacheAt === undefined;
    this.#eos = new Set(ctx.model.config.eosTokenIds);
  }

  /** Sequences running (prefilling or decoding). */
  get active(): number {
    return this.#seqs.length;
  }

  get idle(): boolean {
    return this.#seqs.length === 0;
  }

  /** Intake: the prompt, its checks and a KV cache; posts `accepted` (the sequence joins the batch) or `rejected`. */
  submit(job: JobMessage): void {
    const { ctx, post } = this;
    let prompt: number[];
    let maxTokens: number;
    try {
      prompt = promptIds(ctx, job, post);
      maxTokens = admit(ctx, job, prompt);
    } catch (e) {
      if (e instanceof Rejection) post({ type: 'rejected', id: job.id, error: e.error });
      // Anything else while preparing the prompt is the tokenizer failing on this input: still the client's text.
      else post({ type: 'rejected', id: job.id, error: { status: 400, message: `cannot tokenize the prompt: ${(e as Error).message}`, param: null, code: 'tokenizer_error' } });
      return;
    }
    const lease = this.pool.acquire(prompt, prompt.length + maxTokens);
    if ('refused' in lease) {
      const what = `prompt (${prompt.length} tokens) + max_tokens (${maxTokens}) need ${mib(lease.need)} MiB of KV cache`;
      if (lease.refused === 'too_long')
        post({ type: 'rejected', id: job.id, error: { status: 400, message: `${what}, more than the server's whole budget of ${mib(lease.budget)} MiB (--kv-cache-mb); lower max_tokens or shorten the prompt`, param: job.maxTokens === undefined ? null : 'max_tokens', code: 'kv_cache_too_small' } });
      else {
        const retryAfterS = this.#retryAfter();
        post({
          type: 'rejected',
          id: job.id,
          error: { status: 503, message: `the KV cache is full: ${what}, ${mib(Math.max(0, lease.free))} of ${mib(lease.budget)} MiB (--kv-cache-mb) are free while ${this.#seqs.length} requests run; retry after ${retryAfterS} s`, param: null, code: 'kv_cache_full', retryAfterS },
        });
      }
      return;
    }
    post({ type: 'accepted', id: job.id, promptTokens: prompt.length, maxTokens });
    const now = performance.now();
    this.#seqs.push({
      job,
      prompt,
      maxTokens,
      sampler: new Sampler(samplingFor(job)),
      cache: lease.cache,
      reused: lease.reused,
      decoder: ctx.tokenizer?.streamDecoder({ skipSpecialTokens: true, context: prompt }),
      prefilled: lease.reused,
      ids: [...prompt],
      count: 0,
      text: '',
      emitted: 0,
      t0: now,
      ttft: 0,
      lastTokenAt: now,
      backendMs: {},
      cancelled: false,
    });
  }

  /** The client went away: the sequence retires at the start of the next step. */
  cancel(id: number): void {
    const s = this.#seqs.find((q) => q.job.id === id);
    if (s) s.cancelled = true;
  }

  /** One scheduling step (retire, one prefill chunk, one decode forward). */
  step(): void {
    const t0 = performance.now();
    for (const s of this.#seqs.filter((q) => q.cancelled)) this.#finish(s, 'cancelled');
    const pre = this.#seqs.find((s) => s.prefilled < s.prompt.length);
    if (pre) this.#prefillChunk(pre);
    const rows = this.#seqs.filter((s) => s.count > 0);
    if (rows.length > 0) this.#decode(rows);
    if (pre || rows.length > 0) {
      const ms = performance.now() - t0;
      this.#stepMs = this.#stepMs === 0 ? ms : 0.8 * this.#stepMs + 0.2 * ms;
    }
  }

  #prefillChunk(s: Sequence): void {
    const part = s.prompt.slice(s.prefilled, s.prefilled + this.ctx.prefillChunk);
    let logits: Tensor;
    try {
      logits = this.#timed([s], () => this.ctx.model.forward(idsTensor(part), { cache: s.cache, lastOnly: true })); // (1, 1, V)
    } catch (e) {
      this.#fail([s], e);
      return;
    }
    s.prefilled += part.length;
    if (s.prefilled === s.prompt.length) this.#token(s, logits.to('float32').contiguous().toTypedArray().slice() as Float32Array);
  }

  #decode(rows: Sequence[]): void {
    const { model } = this.ctx;
    const V = model.config.vocabSize;
    let all: Float32Array;
    try {
      if (this.#batchable) {
        const ids = fromTypedArray(BigInt64Array.from(rows, (s) => BigInt(s.ids.at(-1)!)), [rows.length, 1]); // (B, 1)
        const caches = rows.map((s) => s.cache);
        all = this.#timed(rows, () => model.forward(ids, { caches, lastOnly: true }).to('float32').contiguous().toTypedArray() as Float32Array); // (B, 1, V)
      } else {
        all = new Float32Array(rows.length * V);
        rows.forEach((s, b) => all.set(this.#timed([s], () => model.forward(idsTensor([s.ids.at(-1)!]), { cache: s.cache, lastOnly: true }).to('float32').contiguous().toTypedArray() as Float32Array), b * V));
      }
    } catch (e) {
      this.#fail(rows, e);
      return;
    }
    // Reported before the rows' tokens so the report precedes any `done` it led to.
    const now = performance.now();
    this.post({ type: 'step', batch: rows.length, gapsMs: rows.map((s) => now - s.lastTokenAt), kvUsed: this.pool.used, kvBudget: this.pool.budget });
    rows.forEach((s, b) => this.#token(s, all.slice(b * V, (b + 1) * V)));
  }

  /** Runs `fn` under the server's dispatch policy; its op time is shared among the rows it served. */
  #timed<T>(rows: readonly Sequence[], fn: () => T): T {
    const policy = this.ctx.policy;
    const p = profile(policy ? () => withPolicy(policy, fn) : fn);
    for (const r of p.records)
      if (r.depth === 0) for (const s of rows) s.backendMs[r.backend] = (s.backendMs[r.backend] ?? 0) + r.ms / rows.length;
    return p.result;
  }

  /** Picks the sequence's next token from its logits row and streams its text; ends it on EOS, a stop or its budget. */
  #token(s: Sequence, row: Float32Array): void {
    const id = s.sampler.next(row, s.ids);
    s.ids.push(id);
    s.count++;
    const now = performance.now();
    if (s.count === 1) s.ttft = now - s.t0;
    s.lastTokenAt = now;
    if (this.#eos.has(id)) return this.#finish(s, 'stop');
    // Without a tokenizer (ids in, ids out) the text is the ids, space-separated.
    s.text += s.decoder ? s.decoder.push(id) : `${s.count > 1 ? ' ' : ''}${id}`;
    const stops = s.job.stop;
    const hit = stops.map((x) => s.text.indexOf(x)).filter((i) => i >= 0);
    if (hit.length > 0) {
      s.text = s.text.slice(0, Math.min(...hit));
      return this.#finish(s, 'stop');
    }
    const safe = s.text.length - pendingStopPrefix(s.text, stops);
    if (safe > s.emitted) {
      this.post({ type: 'text', id: s.job.id, text: s.text.slice(s.emitted, safe) });
      s.emitted = safe;
    }
    if (s.count === s.maxTokens) {
      if (s.decoder) s.text += s.decoder.flush();
      this.#finish(s, 'length');
    }
  }

  #finish(s: Sequence, finishReason: FinishReason): void {
    this.#seqs.splice(this.#seqs.indexOf(s), 1);
    if (finishReason !== 'cancelled' && s.text.length > s.emitted) this.post({ type: 'text', id: s.job.id, text: s.text.slice(s.emitted) });
    // The cache holds the keys of ids[0 .. length): the prompt so far and every generated token fed back.
    this.pool.release(s.cache, s.ids.slice(0, s.cache.length));
    const decodeMs = s.count > 1 ? performance.now() - s.t0 - s.ttft : 0;
    this.post({
      type: 'done',
      id: s.job.id,
      result: { text: s.text, finishReason, promptTokens: s.prompt.length, prefilled: s.prefilled, reusedPrompt: s.reused, completionTokens: s.count, ttftMs: s.ttft, decodeMs, backendMs: s.backendMs },
      liveKvCaches: this.pool.live,
      kvUsed: this.pool.used,
    });
  }

  /** A forward threw: its rows end as failed, their caches dropped (they may be half-written). */
  #fail(rows: readonly Sequence[], e: unknown): void {
    for (const s of rows) {
      this.#seqs.splice(this.#seqs.indexOf(s), 1);
      this.pool.release(s.cache, undefined);
      this.post({ type: 'failed', id: s.job.id, message: (e as Error).message, liveKvCaches: this.pool.live, kvUsed: this.pool.used });
    }
  }

  /** Seconds until the running sequence closest to its end frees its cache, at the recent step time (1..60). */
  #retryAfter(): number {
    const chunk = this.ctx.prefillChunk;
    const steps = Math.min(...this.#seqs.map((s) => s.maxTokens - s.count + Math.ceil((s.prompt.length - s.prefilled) / chunk)));
    return Math.max(1, Math.min(60, Math.ceil((Number.isFinite(steps) ? steps : 1) * (this.#stepMs || 100) / 1000)));
  }
}
