/**
 * What the OpenAI and Ollama routes share between a validated request and the engine: the prompt, the job with
 * its sampling parameters, cancel-on-disconnect, client-side timing for /metrics, and the 429 for a full queue.
 * Each route keeps only its wire format (SSE chunks or newline-delimited JSON).
 */
import type { FastifyReply } from 'fastify';
import { QueueFullError, type Job } from './engine.js';
import { ApiError } from './errors.js';
import type { ServerStats } from './metrics.js';
import type { JobCallbacks } from './model_worker.js';
import type { PromptInput } from './protocol.js';
import type { ChatRequest, CompletionRequest } from './requests.js';

export function promptOf(r: ChatRequest | CompletionRequest): PromptInput {
  return r.kind === 'chat' ? { kind: 'chat', messages: r.messages } : typeof r.prompt === 'string' ? { kind: 'text', text: r.prompt } : { kind: 'ids', ids: r.prompt };
}

/**
 * An AbortSignal that fires when the client goes away (socket closed before we answered): the job is dropped
 * from the queue, or stopped at its next prefill chunk or token.
 */
export function cancelOnClose(reply: FastifyReply): AbortSignal {
  const abort = new AbortController();
  reply.raw.on('close', () => {
    if (!reply.raw.writableFinished) abort.abort();
  });
  return abort.signal;
}

/** The engine job for a request; every text piece is also timed for /metrics (TTFT, inter-token gaps). */
export function jobFor(r: ChatRequest | CompletionRequest, signal: AbortSignal, stats: ServerStats, callbacks: JobCallbacks): Job {
  const timer = stats.timer();
  return {
    prompt: promptOf(r),
    maxTokens: r.maxTokens,
    temperature: r.temperature,
    topP: r.topP,
    seed: r.seed,
    stop: r.stop,
    signal,
    onAccepted: callbacks.onAccepted,
    onText: (t: string) => {
      timer.text();
      callbacks.onText?.(t);
    },
  };
}

/** The engine's refusal as the status a client retries on. */
export function submitError(e: unknown): unknown {
  return e instanceof QueueFullError ? new ApiError(429, `server busy: ${e.message}; retry later`, undefined, null, 'queue_full', e.retryAfterS) : e;
}
