/**
 * The server's limits: one table of names, CLI flags, defaults and help, used by `opshift serve --help`, the
 * README and startup validation (an invalid value stops the server before it binds, naming the flag).
 */
import { ArgumentError } from '../../core/errors.js';

export interface ServeLimits {
  /** Requests waiting for a batch slot before 429. */
  readonly maxQueue: number;
  /** Sequences the scheduler runs together (one decode forward over all of them per step). */
  readonly maxBatch: number;
  /** KV cache budget, MiB: running sequences' caches plus kept prompt prefixes (503 + Retry-After when full). */
  readonly kvCacheMb: number;
  /** Largest request body (413 above). */
  readonly maxBodyBytes: number;
  /** Largest prompt, in tokens, after the chat template (400 prompt_too_long above). */
  readonly maxPromptTokens: number;
  /** Largest max_tokens accepted, and the default when a request gives none (then also capped by the context left). */
  readonly maxTokens: number;
  /** Wall time for rendering the chat template of one request. */
  readonly templateTimeoutMs: number;
  /** Largest rendered chat template (and any string or list it builds). */
  readonly templateMaxBytes: number;
  /** Wall time for tokenizing one prompt (a pathological tokenizer regex is stopped here). */
  readonly tokenizeTimeoutMs: number;
  /** Time for a client to send a whole request, headers and body (a trickled body gets 408). */
  readonly requestTimeoutMs: number;
  /** An idle keep-alive connection is closed after this. */
  readonly idleTimeoutMs: number;
  /** Prompt tokens per prefill forward: a cancel reaches a running prefill within one chunk. */
  readonly prefillChunk: number;
}

interface LimitSpec {
  readonly flag: string;
  readonly default: number;
  readonly help: string;
}

export const LIMITS: { readonly [K in keyof ServeLimits]: LimitSpec } = {
  maxQueue: { flag: '--max-queue', default: 16, help: 'requests waiting for a batch slot before 429' },
  maxBatch: { flag: '--max-batch', default: 8, help: 'sequences decoded together, one forward per step (continuous batching)' },
  kvCacheMb: { flag: '--kv-cache-mb', default: 1024, help: 'KV cache budget in MiB (running sequences and reusable prompt prefixes); a request that does not fit gets 503 with Retry-After' },
  maxBodyBytes: { flag: '--max-body-bytes', default: 1 << 20, help: 'largest request body; larger gets 413' },
  maxPromptTokens: { flag: '--max-prompt-tokens', default: 8192, help: 'largest prompt in tokens (after the chat template); longer gets 400' },
  maxTokens: { flag: '--max-tokens', default: 2048, help: 'largest max_tokens accepted, and the default when a request omits it (capped by the context left)' },
  templateTimeoutMs: { flag: '--template-timeout-ms', default: 1000, help: 'time budget for rendering one chat template; over it: 400' },
  templateMaxBytes: { flag: '--template-max-bytes', default: 4 << 20, help: 'largest rendered chat template (and any string/list it builds); over it: 400' },
  tokenizeTimeoutMs: { flag: '--tokenize-timeout-ms', default: 10_000, help: 'time budget for tokenizing one prompt; over it: 400 and a fresh model worker' },
  requestTimeoutMs: { flag: '--request-timeout-ms', default: 30_000, help: 'time to receive a whole request (headers and body); over it: 408' },
  idleTimeoutMs: { flag: '--idle-timeout-ms', default: 5000, help: 'idle keep-alive connections are closed after this' },
  prefillChunk: { flag: '--prefill-chunk', default: 64, help: 'prompt tokens per prefill forward (a cancel lands within one chunk)' },
};

/** Fills defaults and checks every limit is a positive integer; the error names the flag and the value. */
export function resolveLimits(given: Partial<Record<keyof ServeLimits, number | undefined>>): ServeLimits {
  const out: Partial<Record<keyof ServeLimits, number>> = {};
  for (const key of Object.keys(LIMITS) as (keyof ServeLimits)[]) {
    const spec = LIMITS[key];
    const v = given[key] ?? spec.default;
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 1) throw new ArgumentError(`opshift serve: ${spec.flag} ${String(v)} must be a positive integer (${spec.help})`);
    out[key] = v;
  }
  return out as ServeLimits;
}
