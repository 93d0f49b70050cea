/**
 * The serving engine: one model, one generation at a time, a bounded FIFO queue in front. Generation runs
 * token by token (models/generate.ts `tokens()`), yielding to the event loop between tokens so the server keeps
 * accepting, queueing, answering 429s and noticing disconnects while a request generates. A cancelled job
 * (client gone) stops at the next token and its KV cache is released.
 */
import { withPolicy } from '../../core/policy.js';
import type { Policy } from '../../core/policy.js';
import { profile } from '../../core/profiler.js';
import type { CausalLM } from '../../models/causal_lm.js';
import { tokens } from '../../models/generate.js';
import type { HfTokenizer } from '../../models/tokenizer.js';

export type FinishReason = 'stop' | 'length' | 'cancelled';

export interface Job {
  readonly prompt: number[];
  readonly maxTokens: number;
  readonly temperature: number | undefined;
  readonly topP: number | undefined;
  readonly seed: number | undefined;
  readonly stop: readonly string[];
  readonly signal: AbortSignal;
  /** New text as it becomes final (stop strings held back until they cannot match). */
  readonly onText?: (text: string) => void;
}

export interface JobResult {
  readonly text: string;
  readonly finishReason: FinishReason;
  readonly promptTokens: number;
  readonly completionTokens: number;
  readonly ttftMs: number;
}

interface Queued {
  readonly job: Job;
  readonly resolve: (r: JobResult) => void;
  readonly reject: (e: unknown) => void;
}

export interface EngineMetrics {
  requests: number;
  completed: number;
  cancelled: number;
  failed: number;
  rejected: number;
  promptTokens: number;
  completionTokens: number;
  /** Decode tokens and the time they took (after each request's first token). */
  decodeTokens: number;
  decodeMs: number;
  ttftMs: number[];
  /** Kernel time per backend, ms (from the profiler, every op of every request). */
  backendMs: Record<string, number>;
}

const yieldToLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

/** Length of the longest suffix of `text` that is a proper prefix of some stop string (text to hold back). */
function pendingStopPrefix(text: string, stops: readonly string[]): number {
  let keep = 0;
  for (const s of stops)
    for (let n = Math.min(s.length - 1, text.length); n > keep; n--)
      if (text.endsWith(s.slice(0, n))) {
        keep = n;
        break;
      }
  return keep;
}

export class QueueFullError extends Error {}

export class Engine {
  readonly #queue: Queued[] = [];
  #running = false;
  #draining = false;
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
  };

  constructor(
    readonly model: CausalLM,
    readonly tokenizer: HfTokenizer,
    readonly options: { readonly maxQueue: number; readonly policy?: Policy },
  ) {}

  /** Requests waiting (not counting the one generating). */
  get queueLength(): number {
    return this.#queue.length;
  }

  get busy(): boolean {
    return this.#running;
  }

  /** Queue a job; rejects with QueueFullError at once when the queue is full or the engine is draining. */
  submit(job: Job): Promise<JobResult> {
    if (this.#draining || this.#queue.length >= this.options.maxQueue) {
      this.metrics.rejected++;
      return Promise.reject(new QueueFullError(this.#draining ? 'the server is shutting down' : `the queue is full (${this.options.maxQueue} waiting)`));
    }
    this.metrics.requests++;
    return new Promise<JobResult>((resolve, reject) => {
      this.#queue.push({ job, resolve, reject });
      if (!this.#running) void this.#loop();
    });
  }

  /** Stop taking jobs; queued ones are cancelled; resolves when the running one has finished. */
  async drain(): Promise<void> {
    this.#draining = true;
    for (const q of this.#queue.splice(0)) q.resolve({ text: '', finishReason: 'cancelled', promptTokens: q.job.prompt.length, completionTokens: 0, ttftMs: 0 });
    while (this.#running) await new Promise((r) => setTimeout(r, 5));
  }

  async #loop(): Promise<void> {
    this.#running = true;
    try {
      for (let q = this.#queue.shift(); q; q = this.#queue.shift()) {
        try {
          q.resolve(await this.#run(q.job));
        } catch (e) {
          this.metrics.failed++;
          q.reject(e);
        }
      }
    } finally {
      this.#running = false;
    }
  }

  /** Runs `fn` under the server's dispatch policy, adding its op time per backend to the metrics. */
  #step<T>(fn: () => T): T {
    const run = this.options.policy ? () => withPolicy(this.options.policy!, fn) : fn;
    const p = profile(run);
    for (const r of p.records) if (r.depth === 0) this.metrics.backendMs[r.backend] = (this.metrics.backendMs[r.backend] ?? 0) + r.ms;
    return p.result;
  }

  async #run(job: Job): Promise<JobResult> {
    const decoder = this.tokenizer.streamDecoder({ skipSpecialTokens: true, context: job.prompt });
    let text = '';
    let emitted = 0;
    let finishReason: FinishReason = 'length';
    let count = 0;
    let ttft = 0;
    const t0 = performance.now();
    if (job.signal.aborted) finishReason = 'cancelled';
    else {
      // temperature 0 (or none) is greedy, as in OpenAI's API.
      const it = tokens(this.model, job.prompt, { maxNewTokens: job.maxTokens, temperature: job.temperature || undefined, greedy: !job.temperature, topP: job.topP, seed: job.seed });
      try {
        for (;;) {
          const step = this.#step(() => it.next());
          if (step.done) break;
          count++;
          if (count === 1) ttft = performance.now() - t0;
          if (step.value.eos) {
            finishReason = 'stop';
            break;
          }
          text += decoder.push(step.value.id);
          const hit = job.stop.map((s) => text.indexOf(s)).filter((i) => i >= 0);
          if (hit.length > 0) {
            text = text.slice(0, Math.min(...hit));
            finishReason = 'stop';
            break;
          }
          const safe = text.length - pendingStopPrefix(text, job.stop);
          if (safe > emitted) {
            job.onText?.(text.slice(emitted, safe));
            emitted = safe;
          }
          await yieldToLoop();
          if (job.signal.aborted) {
            finishReason = 'cancelled';
            break;
          }
        }
        if (finishReason === 'length') text += decoder.flush();
      } finally {
        it.return(); // releases the KV cache when we stopped early
      }
    }
    if (finishReason !== 'cancelled' && text.length > emitted) job.onText?.(text.slice(emitted));
    const m = this.metrics;
    m.promptTokens += job.prompt.length;
    m.completionTokens += count;
    if (count > 1) {
      m.decodeTokens += count - 1;
      m.decodeMs += performance.now() - t0 - ttft;
    }
    if (count > 0) m.ttftMs.push(ttft);
    if (m.ttftMs.length > 1000) m.ttftMs.splice(0, m.ttftMs.length - 1000);
    if (finishReason === 'cancelled') m.cancelled++;
    else m.completed++;
    return { text, finishReason, promptTokens: job.prompt.length, completionTokens: count, ttftMs: ttft };
  }
}
