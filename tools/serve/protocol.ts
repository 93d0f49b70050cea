/**
 * Messages between the HTTP thread (engine.ts, model_worker.ts) and the model worker (worker.ts). Everything
 * here is structured-clone data: the worker owns the model and tokenizer, the HTTP side never touches them.
 */
import type { ServeQuant } from './load_quant.js';
import type { ChatMessage } from './requests.js';

/** What the worker needs to build its model, tokenizer and budgets. */
export interface WorkerInit {
  /** What loadModel takes: a folder or `synthetic:<preset>` (the HTTP side resolves hub ids and demo: names). */
  readonly modelLoad: string;
  /** Folder with the tokenizer files (undefined: the model has none; only token-id prompts work). */
  readonly tokenizerDir: string | undefined;
  /** `--dispatch` policy spec, parsed in the worker (a policy may hold functions, which cannot be posted). */
  readonly dispatch: string | undefined;
  /** `-t/--threads`: ORT and NPU library threads, set in the worker (the backends' settings are per thread). */
  readonly threads: number | undefined;
  /** Prompt tokens per prefill forward: a cancel reaches a running prefill within one chunk. */
  readonly prefillChunk: number;
  readonly templateTimeoutMs: number;
  readonly templateMaxBytes: number;
  /** `--kv-cache-mb`: the KV cache budget of running sequences and kept prefixes (default: limits.ts). */
  readonly kvCacheMb?: number;
  /** `--quant`: quantize every linear in memory after loading (load_quant.ts); undefined: as loaded. */
  readonly quant?: ServeQuant;
}

/** The model as the HTTP side needs to know it. */
export interface ModelInfo {
  readonly modelType: string;
  readonly maxPositions: number;
  readonly vocabSize: number;
  readonly hasTokenizer: boolean;
  readonly hasChatTemplate: boolean;
  readonly loadMs: number;
  /** The KV cache budget, bytes (--kv-cache-mb). */
  readonly kvCacheBytes: number;
  /** Set with `--quant`: the format and how many linears the worker quantized at load. */
  readonly quant?: { readonly format: ServeQuant; readonly linears: number };
}

export type PromptInput = { readonly kind: 'chat'; readonly messages: readonly ChatMessage[] } | { readonly kind: 'text'; readonly text: string } | { readonly kind: 'ids'; readonly ids: readonly number[] };

export interface JobMessage {
  readonly type: 'job';
  readonly id: number;
  readonly prompt: PromptInput;
  /** The request's max_tokens, or undefined: then min(maxTokensCap, positions left after the prompt). */
  readonly maxTokens: number | undefined;
  readonly maxTokensCap: number;
  readonly maxPromptTokens: number;
  readonly temperature: number | undefined;
  readonly topP: number | undefined;
  readonly seed: number | undefined;
  readonly stop: readonly string[];
}

/** Stop job `id` (client gone): it retires before the scheduler's next step. */
export interface CancelMessage {
  readonly type: 'cancel';
  readonly id: number;
}

export type ToWorker = JobMessage | CancelMessage;

/** An OpenAI-style client error decided in the worker (it is the one that sees the prompt's tokens). */
export interface ClientError {
  readonly status: number;
  readonly message: string;
  readonly param: string | null;
  readonly code: string;
  /** Seconds after which the same request may succeed (503 kv_cache_full: running requests free the cache). */
  readonly retryAfterS?: number;
}

export type FinishReason = 'stop' | 'length' | 'cancelled';

export interface JobDone {
  readonly text: string;
  readonly finishReason: FinishReason;
  readonly promptTokens: number;
  /** Prompt positions run through the model before the job ended (< promptTokens when cancelled mid-prefill). */
  readonly prefilled: number;
  /** Prompt positions whose keys came from a kept prefix instead of a forward (prefix reuse). */
  readonly reusedPrompt: number;
  readonly completionTokens: number;
  readonly ttftMs: number;
  readonly decodeMs: number;
  /** Kernel time per backend during this job, ms. */
  readonly backendMs: Record<string, number>;
}

/** The untrusted phases the watchdog times: chat-template rendering and tokenization. */
export type GuardedPhase = 'template' | 'tokenize';

export type FromWorker =
  | { readonly type: 'ready'; readonly info: ModelInfo }
  | { readonly type: 'fatal'; readonly message: string }
  | { readonly type: 'phase'; readonly id: number; readonly phase: GuardedPhase }
  /** The prompt passed every check; generation starts (the HTTP side may now commit to a 200). */
  | { readonly type: 'accepted'; readonly id: number; readonly promptTokens: number; readonly maxTokens: number }
  | { readonly type: 'text'; readonly id: number; readonly text: string }
  /** `liveKvCaches`: running sequences' caches after this one retired; `kvUsed`: KV cache bytes held then (kept prefixes too). */
  | { readonly type: 'done'; readonly id: number; readonly result: JobDone; readonly liveKvCaches: number; readonly kvUsed?: number }
  | { readonly type: 'rejected'; readonly id: number; readonly error: ClientError }
  /** After each scheduler step that decoded: its batch size, each row's gap since its previous token, KV cache use. */
  | { readonly type: 'step'; readonly batch: number; readonly gapsMs: readonly number[]; readonly kvUsed: number; readonly kvBudget: number }
  | { readonly type: 'failed'; readonly id: number; readonly message: string; readonly liveKvCaches: number; readonly kvUsed?: number };
