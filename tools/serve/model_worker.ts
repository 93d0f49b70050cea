/**
 * The HTTP thread's handle on the model worker (worker.ts): starts it, runs jobs on it (several at once: the
 * worker batches them), cancels, and watches the untrusted phases. When a chat template or the tokenizer (a ReDoS
 * pre-tokenizer regex, say) runs past its time budget, the watchdog terminates the worker — V8 interrupts even a
 * backtracking regex — fails that job with a 400 naming the budget, fails the jobs batched with it (their state
 * died with the worker), and starts a fresh worker (reloading the model), so the server stays up. A worker that
 * dies on its own is restarted the same way.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { ApiError } from './errors.js';
import type { FromWorker, GuardedPhase, JobDone, JobMessage, ModelInfo, ToWorker, WorkerInit } from './protocol.js';
import { repoRoot } from '../model_source.js';

/** The compiled worker: next to this file in dist/, or dist/tools/serve/ when running from the TS sources. */
export function workerScript(): string {
  const here = fileURLToPath(import.meta.url);
  const file = here.endsWith('.ts') ? join(repoRoot(), 'dist', 'tools', 'serve', 'worker.js') : join(dirname(here), 'worker.js');
  if (!existsSync(file)) throw new Error(`opshift serve: the model worker ${file} is missing; build it with 'npm run build' (or 'npx tsc -p tsconfig.json')`);
  return file;
}

export interface WatchdogBudgets {
  readonly templateTimeoutMs: number;
  readonly tokenizeTimeoutMs: number;
}

/**
 * The worker's own template clock fires first and answers a clean 400 without a restart; the watchdog fires
 * this much later, for what the cooperative clock cannot interrupt (a builtin call, a regex).
 */
const TEMPLATE_GRACE_MS = 250;

export interface JobCallbacks {
  onAccepted?(promptTokens: number, maxTokens: number): void;
  onText?(text: string): void;
}

interface Running {
  readonly id: number;
  readonly job: JobMessage;
  readonly callbacks: JobCallbacks;
  readonly resolve: (r: JobDone) => void;
  readonly reject: (e: Error) => void;
  phase: GuardedPhase | 'generate' | 'queued';
  timer?: NodeJS.Timeout;
}

/** A scheduler step's report (batch size, inter-token gaps, KV cache use). */
export type StepReport = Extract<FromWorker, { type: 'step' }>;

export class ModelWorker {
  #worker!: Worker;
  #ready!: Promise<ModelInfo>;
  readonly #running = new Map<number, Running>();
  #closed = false;
  /** The worker could not load the model: restarting would only fail again. */
  #fatal = false;
  /** Fresh workers started after a watchdog kill or a crash. */
  restarts = 0;
  /** KV caches of running sequences in the worker, and the KV bytes it holds, as it last reported. */
  liveKvCaches = 0;
  kvCacheBytesUsed = 0;
  info: ModelInfo | undefined;
  /** Called with every scheduler step's report (the engine's metrics). */
  onStep: ((s: StepReport) => void) | undefined;

  private constructor(
    private readonly init: WorkerInit,
    private readonly budgets: WatchdogBudgets,
  ) {}

  /** Starts the worker and waits for the model to load (a load error rejects, with the loader's message). */
  static async start(init: WorkerInit, budgets: WatchdogBudgets): Promise<ModelWorker> {
    const w = new ModelWorker(init, budgets);
    w.#spawn();
    w.info = await w.#ready;
    return w;
  }

  #spawn(): void {
    const worker = new Worker(workerScript(), { workerData: this.init });
    this.#worker = worker;
    this.#ready = new Promise<ModelInfo>((resolve, reject) => {
      worker.on('message', (m: FromWorker) => {
        if (m.type === 'ready') resolve(m.info);
        else if (m.type === 'fatal') {
          this.#fatal = true;
          reject(new Error(`opshift serve: the model worker could not load the model: ${m.message}`));
          void worker.terminate();
        } else this.#onEvent(m);
      });
      worker.on('error', (e) => {
        reject(e);
        this.#onDeath(worker, `the model worker failed: ${e.message}`);
      });
      worker.on('exit', (code) => {
        reject(new Error(`opshift serve: the model worker exited (code ${code}) before the model loaded`));
        this.#onDeath(worker, `the model worker exited (code ${code})`);
      });
    });
    this.#ready.catch(() => {}); // observed by start() or the next run()
  }

  /** The worker died (crash, OOM, or our terminate): fail the jobs it was running, start another. */
  #onDeath(worker: Worker, why: string): void {
    if (worker !== this.#worker || this.#closed) return;
    for (const r of this.#takeStarted()) {
      // Dying while rendering the client's messages or tokenizing their text is caused by that input.
      if (r.phase === 'template' || r.phase === 'tokenize')
        r.reject(new ApiError(400, `the ${r.phase === 'template' ? 'chat template' : 'tokenizer'} failed on this request: ${why}`, undefined, r.phase === 'template' ? 'messages' : null, `${r.phase}_failed`));
      else r.reject(new Error(why));
    }
    this.#restart();
  }

  /**
   * The jobs the worker had started on, removed from the table with their timers cleared. Jobs it had not yet
   * taken in (phase 'queued': no template, no tokens, nothing streamed) stay, and go to the next worker.
   */
  #takeStarted(): Running[] {
    const started = [...this.#running.values()].filter((r) => r.phase !== 'queued');
    for (const r of started) {
      this.#running.delete(r.id);
      clearTimeout(r.timer);
    }
    return started;
  }

  #restart(): void {
    if (this.#closed || this.#fatal) {
      for (const r of this.#running.values()) r.reject(new Error('the model worker stopped'));
      this.#running.clear();
      return;
    }
    this.restarts++;
    this.liveKvCaches = 0; // the caches died with the old worker's heap
    this.kvCacheBytesUsed = 0;
    this.#spawn();
    for (const r of this.#running.values()) this.#post(r.job); // queued behind the model load
  }

  #onEvent(m: Exclude<FromWorker, { type: 'ready' | 'fatal' }>): void {
    if (m.type === 'step') {
      this.kvCacheBytesUsed = m.kvUsed;
      this.onStep?.(m);
      return;
    }
    const r = this.#running.get(m.id);
    if (!r) return;
    switch (m.type) {
      case 'phase':
        r.phase = m.phase;
        this.#arm(r);
        return;
      case 'accepted':
        r.phase = 'generate';
        clearTimeout(r.timer);
        r.callbacks.onAccepted?.(m.promptTokens, m.maxTokens);
        return;
      case 'text':
        r.callbacks.onText?.(m.text);
        return;
      case 'done':
      case 'rejected':
      case 'failed':
        clearTimeout(r.timer);
        this.#running.delete(m.id);
        if (m.type !== 'rejected') {
          this.liveKvCaches = m.liveKvCaches;
          if (m.kvUsed !== undefined) this.kvCacheBytesUsed = m.kvUsed;
        }
        if (m.type === 'done') r.resolve(m.result);
        else if (m.type === 'rejected') r.reject(new ApiError(m.error.status, m.error.message, undefined, m.error.param, m.error.code, m.error.retryAfterS));
        else r.reject(new Error(`generation failed: ${m.message}`));
    }
  }

  /** Times the phase the worker just entered; past its budget the worker is killed and the job gets a 400. */
  #arm(r: Running): void {
    clearTimeout(r.timer);
    const phase = r.phase as GuardedPhase;
    const budget = phase === 'template' ? this.budgets.templateTimeoutMs : this.budgets.tokenizeTimeoutMs;
    const after = phase === 'template' ? budget + TEMPLATE_GRACE_MS : budget;
    r.timer = setTimeout(() => {
      if (this.#running.get(r.id) !== r) return;
      const worker = this.#worker;
      const [what, flag, code] = phase === 'template' ? ['rendering the chat template', '--template-timeout-ms', 'template_timeout'] : ['tokenizing the prompt', '--tokenize-timeout-ms', 'tokenize_timeout'];
      for (const other of this.#takeStarted())
        if (other === r) r.reject(new ApiError(400, `${what} took longer than its ${budget} ms budget (${flag}); the request was stopped`, undefined, phase === 'template' ? 'messages' : null, code));
        else other.reject(new Error(`the model worker was restarted: another request's ${phase === 'template' ? 'chat template' : 'tokenizer'} ran past its budget (${flag})`));
      void worker.terminate();
      this.#restart();
    }, after);
  }

  /** Runs a job (waiting for a worker that is starting). Rejects with ApiError for client errors. */
  async run(job: JobMessage, callbacks: JobCallbacks): Promise<JobDone> {
    if (this.#running.has(job.id)) throw new Error(`model worker: job ${job.id} is already running`);
    this.info = await this.#ready;
    return new Promise<JobDone>((resolve, reject) => {
      this.#running.set(job.id, { id: job.id, job, callbacks, resolve, reject, phase: 'queued' });
      this.#post(job);
    });
  }

  /** Asks the running job `id` to stop: it retires before the worker's next scheduler step. */
  cancel(id: number): void {
    if (this.#running.has(id)) this.#post({ type: 'cancel', id });
  }

  #post(m: ToWorker): void {
    this.#worker.postMessage(m);
  }

  async close(): Promise<void> {
    this.#closed = true;
    await this.#worker.terminate();
  }
}
