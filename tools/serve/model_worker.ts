/**
 * The HTTP thread's handle on the model worker (worker.ts): starts it, runs one job at a time on it, cancels,
 * and watches the untrusted phases. When a chat template or the tokenizer (a ReDoS pre-tokenizer regex, say)
 * runs past its time budget, the watchdog terminates the worker — V8 interrupts even a backtracking regex —
 * fails that job with a 400 naming the budget, and starts a fresh worker (reloading the model), so the server
 * stays up. A worker that dies on its own is restarted the same way.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { ApiError } from './errors.js';
import type { FromWorker, GuardedPhase, JobDone, JobMessage, ModelInfo, WorkerInit } from './protocol.js';
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
  readonly callbacks: JobCallbacks;
  readonly resolve: (r: JobDone) => void;
  readonly reject: (e: Error) => void;
  phase: GuardedPhase | 'generate' | 'queued';
  timer?: NodeJS.Timeout;
}

export class ModelWorker {
  #worker!: Worker;
  #ready!: Promise<ModelInfo>;
  #running: Running | undefined;
  #closed = false;
  /** The worker could not load the model: restarting would only fail again. */
  #fatal = false;
  readonly #cancel = new SharedArrayBuffer(4);
  readonly #cancelSlot = new Int32Array(this.#cancel);
  /** Fresh workers started after a watchdog kill or a crash. */
  restarts = 0;
  /** KV caches alive in the worker, as it last reported. */
  liveKvCaches = 0;
  info: ModelInfo | undefined;

  private constructor(
    private readonly init: Omit<WorkerInit, 'cancel'>,
    private readonly budgets: WatchdogBudgets,
  ) {}

  /** Starts the worker and waits for the model to load (a load error rejects, with the loader's message). */
  static async start(init: Omit<WorkerInit, 'cancel'>, budgets: WatchdogBudgets): Promise<ModelWorker> {
    const w = new ModelWorker(init, budgets);
    w.#spawn();
    w.info = await w.#ready;
    return w;
  }

  #spawn(): void {
    const worker = new Worker(workerScript(), { workerData: { ...this.init, cancel: this.#cancel } satisfies WorkerInit });
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

  /** The worker died (crash, OOM, or our terminate): fail the job it was running, start another. */
  #onDeath(worker: Worker, why: string): void {
    if (worker !== this.#worker || this.#closed) return;
    const r = this.#running;
    if (r) {
      this.#running = undefined;
      clearTimeout(r.timer);
      // Dying while rendering the client's messages or tokenizing their text is caused by that input.
      if (r.phase === 'template' || r.phase === 'tokenize')
        r.reject(new ApiError(400, `the ${r.phase === 'template' ? 'chat template' : 'tokenizer'} failed on this request: ${why}`, undefined, r.phase === 'template' ? 'messages' : null, `${r.phase}_failed`));
      else r.reject(new Error(why));
    }
    this.#restart();
  }

  #restart(): void {
    if (this.#closed || this.#fatal) return;
    this.restarts++;
    this.liveKvCaches = 0; // the caches died with the old worker's heap
    this.#spawn();
  }

  #onEvent(m: Exclude<FromWorker, { type: 'ready' | 'fatal' }>): void {
    const r = this.#running;
    if (!r || m.id !== r.id) return;
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
        this.#running = undefined;
        if (m.type !== 'rejected') this.liveKvCaches = m.liveKvCaches;
        if (m.type === 'done') r.resolve(m.result);
        else if (m.type === 'rejected') r.reject(new ApiError(m.error.status, m.error.message, undefined, m.error.param, m.error.code));
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
      if (this.#running !== r) return;
      this.#running = undefined;
      const worker = this.#worker;
      const [what, flag, code] = phase === 'template' ? ['rendering the chat template', '--template-timeout-ms', 'template_timeout'] : ['tokenizing the prompt', '--tokenize-timeout-ms', 'tokenize_timeout'];
      r.reject(new ApiError(400, `${what} took longer than its ${budget} ms budget (${flag}); the request was stopped`, undefined, phase === 'template' ? 'messages' : null, code));
      void worker.terminate();
      this.#restart();
    }, after);
  }

  /** Runs a job (waiting for a worker that is starting). Rejects with ApiError for client errors. */
  async run(job: JobMessage, callbacks: JobCallbacks): Promise<JobDone> {
    if (this.#running) throw new Error('model worker: a job is already running (the engine runs one at a time)');
    this.info = await this.#ready;
    Atomics.store(this.#cancelSlot, 0, 0);
    return new Promise<JobDone>((resolve, reject) => {
      this.#running = { id: job.id, callbacks, resolve, reject, phase: 'queued' };
      this.#worker.postMessage(job);
    });
  }

  /** Asks the running job `id` to stop at its next prefill chunk or token. */
  cancel(id: number): void {
    Atomics.store(this.#cancelSlot, 0, id);
  }

  async close(): Promise<void> {
    this.#closed = true;
    await this.#worker.terminate();
  }
}
