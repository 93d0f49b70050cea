/**
 * The serving engine on the HTTP thread: one model (in a worker thread, model_worker.ts), one generation at a
 * time, a bounded FIFO queue in front. It never runs model work itself, so the event loop stays free to
 * accept, queue, answer 429s, /health and /metrics while a prompt prefills. A client that goes away cancels
 * its job: a queued one is dropped, a running one stops at its next prefill chunk or token.
 */
import { ApiError } from './errors.js';
import type { JobCallbacks, ModelWorker } from './model_worker.js';
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
  /** 429s: requests refused because the queue was full or the server was draining. */
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
  readonly maxTokensCap: number;
  readonly maxPromptTokens: number;
}

interface Queued {
  readonly id: number;
  readonly job: Job;
  readonly resolve: (r: JobResult) => void;
  readonly reject: (e: unknown) => void;
}

export class QueueFullError extends Error {}

export class Engine {
  readonly #queue: Queued[] = [];
  #running: Queued | undefined;
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
  ) {}

  /** Requests waiting (not counting the one generating). */
  get queueLength(): number {
    return this.#queue.length;
  }

  get busy(): boolean {
    return this.#running !== undefined;
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
      this.metrics.rejectedBy[cause] = (this.metrics.rejectedBy[cause] ?? 0) + 1;
      return Promise.reject(new QueueFullError(this.#draining ? 'the server is shutting down' : `the queue is full (${this.options.maxQueue} waiting)`));
    }
    this.metrics.requests++;
    if (job.signal.aborted) {
      this.metrics.cancelled++;
      return Promise.resolve({ text: '', finishReason: 'cancelled', promptTokens: 0, completionTokens: 0, ttftMs: 0 });
    }
    return new Promise<JobResult>((resolve, reject) => {
      const q: Queued = { id: this.#nextId++, job, resolve, reject };
      this.#queue.push(q);
      job.signal.addEventListener('abort', () => this.#abort(q), { once: true });
      if (!this.#running) void this.#loop();
    });
  }

  #abort(q: Queued): void {
    const i = this.#queue.indexOf(q);
    if (i >= 0) {
      this.#queue.splice(i, 1);
      this.metrics.cancelled++;
      q.resolve({ text: '', finishReason: 'cancelled', promptTokens: 0, completionTokens: 0, ttftMs: 0 });
    } else if (this.#running === q) this.worker.cancel(q.id);
  }

  /** Stop taking jobs; queued ones are cancelled; resolves when the running one has finished. */
  async drain(): Promise<void> {
    this.#draining = true;
    for (const q of this.#queue.splice(0)) q.resolve({ text: '', finishReason: 'cancelled', promptTokens: 0, completionTokens: 0, ttftMs: 0 });
    while (this.#running) await new Promise((r) => setTimeout(r, 5));
  }

  async #loop(): Promise<void> {
    for (let q = this.#queue.shift(); q; q = this.#queue.shift()) {
      this.#running = q;
      try {
        q.resolve(this.#record(await this.#run(q)));
      } catch (e) {
        if (!(e instanceof ApiError && e.status < 500)) this.metrics.failed++;
        q.reject(e);
      } finally {
        this.#running = undefined;
      }
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
