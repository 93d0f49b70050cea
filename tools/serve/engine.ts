/**
 * The serving engine on the HTTP thread: one model in a worker thread (model_worker.ts) that batches up to
 * `maxBatch` requests at once (continuous batching, scheduler.ts), a bounded FIFO queue in front for the rest.
 * It never runs model work itself, so the event loop stays free to accept, queue, answer 429s, /health and
 * /metrics while prompts prefill. A client that goes away cancels its job: a queued one is dropped, a running one
 * retires before the worker's next step.
 */
import { ApiError } from './errors.js';
import { LIMITS } from './limits.js';
import type { JobCallbacks, ModelWorker, StepReport } from './model_worker.js';
import type { FinishReason, JobDone, PromptInput } from './protocol.js';

export type { FinishReason };

export interface Job extends JobCallbacks {
  readonly prompt: PromptInput;
  /** The request's max_tokens, or undefined for the server's default (min(cap, context left)). */
  readonly maxTokens: number | undefined;
  readonly temperature: number | undefined;
  readonly topP: number | undefined;
  readonly seed: number | undefined;
  readonly stop: readonly string[];
  readonly signal: AbortSignal;
}

export type JobResult = Pick<JobDone, 'text' | 'finishReason' | 'promptTokens' | 'completionTokens' | 'ttftMs'>;

export interface EngineMetrics {
  requests: number;
  completed: number;
  cancelled: number;
  failed: number;
  /** Requests refused for capacity: 429 (queue full, draining) and 503 (KV cache full). */
  rejected: number;
  promptTokens: number;
  completionTokens: number;
  /** Decode tokens and the time they took (after each request's first token). */
  decodeTokens: number;
  decodeMs: number;
  ttftMs: number[];
  /** Kernel time per backend, ms (from the worker's profiler, every op of every request). */
  backendMs: Record<string, number>;
  /** Sequences in the worker's batch now (prefilling or decoding). */
  active: number;
  /** Requests waiting in the engine's queue for a batch slot. */
  queued: number;
  /** Decode steps run, by batch size (rows in the step's forward). */
  batchSizes: Record<number, number>;
  /** The last INTER_TOKEN_RING gaps between a sequence's consecutive tokens, ms (oldest first). */
  interTokenMs: number[];
  /** KV cache bytes held in the worker (running sequences and reusable prefixes), and the --kv-cache-mb budget. */
  kvCacheBytesUsed: number;
  kvCacheBytesBudget: number;
  /** Refusals by cause: 'queue_full', 'kv_cache_full', 'draining', 'too_long'. */
  rejectedBy: Record<string, number>;
}

/** How many inter-token gaps EngineMetrics.interTokenMs keeps. */
export const INTER_TOKEN_RING = 4096;

export interface EngineOptions {
  readonly maxQueue: number;
  /** Requests in the worker's batch at once (default: limits.ts's --max-batch default). */
  readonly maxBatch?: number;
  readonly maxTokensCap: number;
  readonly maxPromptTokens: number;
}

interface Queued {
  readonly id: number;
  readonly job: Job;
  readonly resolve: (r: JobResult) => void;
  readonly reject: (e: unknown) => void;
}

export class QueueFullError extends Error {
  /** Seconds for Retry-After: about one request's time at the recent pace (at least 1). */
  constructor(
    message: string,
    readonly retryAfterS: number,
  ) {
    super(message);
  }
}

/** Rejection codes from the worker counted as a cause in EngineMetrics.rejectedBy. */
const CAUSE_OF_CODE: Record<string, string> = {
  kv_cache_full: 'kv_cache_full',
  kv_cache_too_small: 'too_long',
  prompt_too_long: 'too_long',
  context_length_exceeded: 'too_long',
};

export class Engine {
  readonly #queue: Queued[] = [];
  /** Jobs in the worker (intake, prefill or decode). */
  readonly #running = new Set<Queued>();
  readonly #maxBatch: number;
  #draining = false;
  #nextId = 1;
  readonly metrics: EngineMetrics = {
    requests: 0,
    completed: 0,
    cancelled: 0,
    failed: 0,
    rejected: 0,
    promptTokens: 0,
    completionTokens: 0,
    decodeTokens: 0,
    decodeMs: 0,
    ttftMs: [],
    backendMs: {},
    active: 0,
    queued: 0,
    batchSizes: {},
    interTokenMs: [],
    kvCacheBytesUsed: 0,
    kvCacheBytesBudget: 0,
    rejectedBy: {},
  };

  constructor(
    readonly worker: ModelWorker,
    readonly options: EngineOptions,
  ) {
    this.#maxBatch = options.maxBatch ?? LIMITS.maxBatch.default;
    worker.onStep = (s) => this.#onStep(s);
    this.metrics.kvCacheBytesBudget = worker.info?.kvCacheBytes ?? 0;
  }

  /** Requests waiting for a batch slot (not counting the running ones). */
  get queueLength(): number {
    return this.#queue.length;
  }

  /** Requests in the worker's batch. */
  get activeCount(): number {
    return this.#running.size;
  }

  get busy(): boolean {
    return this.#running.size > 0;
  }

  /** True when submit() would refuse at once (queue full or draining). */
  get full(): boolean {
    return this.#draining || this.#queue.length >= this.options.maxQueue;
  }

  /** Queue a job; rejects with QueueFullError at once when the queue is full or the engine is draining. */
  submit(job: Job): Promise<JobResult> {
    if (this.full) {
      this.metrics.rejected++;
      const cause = this.#draining ? 'draining' : 'queue_full';
      this.#count(cause);
      return Promise.reject(new QueueFullError(this.#draining ? 'the server is shutting down' : `the queue is full (${this.options.maxQueue} waiting, ${this.#running.size} running)`, this.#retryAfter()));
    }
    this.metrics.requests++;
    if (job.signal.aborted) {
      this.metrics.cancelled++;
      return Promise.resolve({ text: '', finishReason: 'cancelled', promptTokens: 0, completionTokens: 0, ttftMs: 0 });
    }
    return new Promise<JobResult>((resolve, reject) => {
      const q: Queued = { id: this.#nextId++, job, resolve, reject };
      this.#queue.push(q);
      this.metrics.queued = this.#queue.length;
      job.signal.addEventListener('abort', () => this.#abort(q), { once: true });
      this.#dispatch();
    });
  }

  #count(cause: string): void {
    this.metrics.rejectedBy[cause] = (this.metrics.rejectedBy[cause] ?? 0) + 1;
  }

  /** About one queue's worth of requests at the recent decode pace, s (a Retry-After hint). */
  #retryAfter(): number {
    const m = this.metrics;
    const perToken = m.decodeTokens > 0 ? m.decodeMs / m.decodeTokens : 100;
    const perRequest = m.completed > 0 ? (m.completionTokens / m.completed) * perToken : 1000;
    return Math.max(1, Math.min(60, Math.ceil(((this.#queue.length + 1) * perRequest) / Math.max(1, this.#maxBatch) / 1000)));
  }

  #onStep(s: StepReport): void {
    const m = this.metrics;
    m.batchSizes[s.batch] = (m.batchSizes[s.batch] ?? 0) + 1;
    m.interTokenMs.push(...s.gapsMs);
    if (m.interTokenMs.length > INTER_TOKEN_RING) m.interTokenMs.splice(0, m.interTokenMs.length - INTER_TOKEN_RING);
    m.kvCacheBytesUsed = s.kvUsed;
    m.kvCacheBytesBudget = s.kvBudget;
  }

  #abort(q: Queued): void {
    const i = this.#queue.indexOf(q);
    if (i >= 0) {
      this.#queue.splice(i, 1);
      this.metrics.cancelled++;
      q.resolve({ text: '', finishReason: 'cancelled', promptTokens: 0, completionTokens: 0, ttftMs: 0 });
      this.metrics.queued = this.#queue.length;
    } else if (this.#running.has(q)) this.worker.cancel(q.id);
  }

  /** Stop taking jobs; queued ones are cancelled; resolves when the running ones have finished. */
  async drain(): Promise<void> {
    this.#draining = true;
    for (const q of this.#queue.splice(0)) q.resolve({ text: '', finishReason: 'cancelled', promptTokens: 0, completionTokens: 0, ttftMs: 0 });
    this.metrics.queued = 0;
    while (this.#running.size > 0) await new Promise((r) => setTimeout(r, 5));
  }

  /** Moves queued jobs into the worker's batch while it has room. */
  #dispatch(): void {
    while (this.#running.size < this.#maxBatch && this.#queue.length > 0) {
      const q = this.#queue.shift()!;
      this.#running.add(q);
      void this.#runOne(q);
    }
    this.metrics.queued = this.#queue.length;
    this.metrics.active = this.#running.size;
  }

  async #runOne(q: Queued): Promise<void> {
    try {
      q.resolve(this.#record(await this.#run(q)));
    } catch (e) {
      if (e instanceof ApiError && e.code !== null && CAUSE_OF_CODE[e.code]) this.#count(CAUSE_OF_CODE[e.code]!);
      if (e instanceof ApiError && e.code === 'kv_cache_full') this.metrics.rejected++;
      if (!(e instanceof ApiError && e.status < 500) && !(e instanceof ApiError && e.code === 'kv_cache_full')) this.metrics.failed++;
      q.reject(e);
    } finally {
      this.#running.delete(q);
      this.metrics.kvCacheBytesUsed = this.worker.kvCacheBytesUsed;
      this.#dispatch();
    }
  }

  #run(q: Queued): Promise<JobDone> {
    const { job } = q;
    return this.worker.run(
      {
        type: 'job',
        id: q.id,
        prompt: job.prompt,
        maxTokens: job.maxTokens,
        maxTokensCap: this.options.maxTokensCap,
        maxPromptTokens: this.options.maxPromptTokens,
        temperature: job.temperature,
        topP: job.topP,
        seed: job.seed,
        stop: job.stop,
      },
      { onAccepted: job.onAccepted?.bind(job), onText: job.onText?.bind(job) },
    );
  }

  #record(r: JobDone): JobResult {
    const m = this.metrics;
    m.promptTokens += r.promptTokens;
    m.completionTokens += r.completionTokens;
    if (r.completionTokens > 1) {
      m.decodeTokens += r.completionTokens - 1;
      m.decodeMs += r.decodeMs;
    }
    if (r.completionTokens > 0) m.ttftMs.push(r.ttftMs);
    if (m.ttftMs.length > 1000) m.ttftMs.splice(0, m.ttftMs.length - 1000);
    for (const [b, ms] of Object.entries(r.backendMs)) m.backendMs[b] = (m.backendMs[b] ?? 0) + ms;
    if (r.finishReason === 'cancelled') m.cancelled++;
    else m.completed++;
    return r;
  }
}
