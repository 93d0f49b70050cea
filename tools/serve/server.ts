/**
 * `opshift serve`: an OpenAI-compatible HTTP server (the seeds' "Server Interface") on fastify.
 *
 *   GET  /v1/models               the one model served
 *   POST /v1/chat/completions     chat (the tokenizer's chat template), streaming with SSE when stream: true
 *   POST /v1/completions          text completion, streaming likewise
 *   GET  /health                  liveness + queue state
 *   GET  /metrics                 tokens/s, TTFT, queue length, op time per backend (JSON)
 *
 * Every bad request gets a 4xx with an OpenAI-style error body; 429 when the queue is full; 413 for bodies
 * over the limit. A client that disconnects mid-generation cancels it at the next token.
 */
import { randomUUID } from 'node:crypto';
import Fastify, { type FastifyInstance, type FastifyReply } from 'fastify';
import type { Policy } from '../../core/policy.js';
import type { CausalLM } from '../../models/causal_lm.js';
import type { HfTokenizer } from '../../models/tokenizer.js';
import { liveKvCaches } from '../../models/generate.js';
import { Engine, QueueFullError, type FinishReason, type Job, type JobResult } from './engine.js';
import { ApiError, badRequest } from './errors.js';
import { parseChatRequest, parseCompletionRequest, type ChatMessage, type ChatRequest, type CompletionRequest, type Limits } from './requests.js';

export interface ServeOptions {
  readonly model: CausalLM;
  readonly tokenizer: HfTokenizer;
  /** The id clients use in `model` (default: the model source). */
  readonly modelName: string;
  readonly policy?: Policy;
  /** Requests waiting behind the running one before 429 (default 16). */
  readonly maxQueue?: number;
  /** Largest request body in bytes (default 1 MiB). */
  readonly bodyLimit?: number;
  readonly maxTokens?: number;
  readonly defaultMaxTokens?: number;
  /** Require `Authorization: Bearer <apiKey>`. */
  readonly apiKey?: string;
  readonly logger?: boolean;
}

export interface Server {
  readonly app: FastifyInstance;
  readonly engine: Engine;
  /** Stop accepting, cancel queued requests, let the running one finish, close. */
  shutdown(): Promise<void>;
}

/** Without a chat template (base models such as the demo ones), messages are joined as plain text. */
function plainChat(messages: readonly ChatMessage[]): string {
  return messages.map((m) => m.content).join('\n') + '\n';
}

function finishFor(r: FinishReason): 'stop' | 'length' {
  return r === 'length' ? 'length' : 'stop';
}

export function createServer(o: ServeOptions): Server {
  const limits: Limits = { maxTokens: o.maxTokens ?? 2048, defaultMaxTokens: o.defaultMaxTokens ?? 128 };
  const engine = new Engine(o.model, o.tokenizer, { maxQueue: o.maxQueue ?? 16, policy: o.policy });
  const app = Fastify({ logger: o.logger ?? false, bodyLimit: o.bodyLimit ?? 1 << 20 });
  const created = Math.floor(Date.now() / 1000);
  const maxPositions = o.model.config.modelType === 'opt' ? o.model.config.maxPositions : Infinity;

  app.setErrorHandler((err: Error & { statusCode?: number; code?: string }, _req, reply) => {
    if (err instanceof ApiError) return reply.status(err.status).send(err.body());
    const status = err.statusCode && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 500;
    // fastify's own 4xx (bad JSON, body too large, unsupported media type) keep their status, in OpenAI's shape.
    const e = new ApiError(status, status === 500 ? `internal error: ${err.message}` : err.message, undefined, null, err.code ?? null);
    if (status === 500) app.log.error(err);
    return reply.status(status).send(e.body());
  });
  app.setNotFoundHandler((req, reply) => reply.status(404).send(new ApiError(404, `no route ${req.method} ${req.url}`, undefined, null, 'not_found').body()));

  app.addHook('onRequest', async (req) => {
    if (!o.apiKey || req.url === '/health') return;
    if (req.headers.authorization !== `Bearer ${o.apiKey}`) throw new ApiError(401, 'invalid or missing API key (Authorization: Bearer …)', undefined, null, 'invalid_api_key');
  });

  app.get('/health', async () => ({ status: 'ok', model: o.modelName, busy: engine.busy, queue: engine.queueLength }));

  app.get('/metrics', async () => {
    const m = engine.metrics;
    const ttft = [...m.ttftMs].sort((a, b) => a - b);
    return {
      model: o.modelName,
      queue_length: engine.queueLength,
      busy: engine.busy,
      requests: m.requests,
      completed: m.completed,
      cancelled: m.cancelled,
      failed: m.failed,
      rejected: m.rejected,
      prompt_tokens: m.promptTokens,
      completion_tokens: m.completionTokens,
      decode_tokens_per_s: m.decodeMs > 0 ? (m.decodeTokens * 1000) / m.decodeMs : null,
      ttft_ms_median: ttft.length ? ttft[ttft.length >> 1] : null,
      backend_op_ms: m.backendMs,
      live_kv_caches: liveKvCaches(),
    };
  });

  app.get('/v1/models', async () => ({ object: 'list', data: [{ id: o.modelName, object: 'model', created, owned_by: 'opshift' }] }));

  const checkModel = (name: string | undefined) => {
    if (name !== undefined && name !== o.modelName) throw new ApiError(404, `The model '${name}' does not exist (this server serves '${o.modelName}')`, undefined, 'model', 'model_not_found');
  };

  const promptIds = (r: ChatRequest | CompletionRequest): number[] => {
    let ids: number[];
    if (r.kind === 'chat') {
      const tok = o.tokenizer;
      ids = tok.chatTemplate
        ? tok.encode(tok.applyChatTemplate(r.messages.map((m) => ({ ...m })), { addGenerationPrompt: true }), { addSpecialTokens: false })
        : tok.encode(plainChat(r.messages));
    } else if (typeof r.prompt === 'string') ids = o.tokenizer.encode(r.prompt);
    else {
      const V = o.model.config.vocabSize;
      const bad = r.prompt.find((v) => v >= V);
      if (bad !== undefined) throw badRequest(`prompt token id ${bad} is outside the vocabulary [0, ${V})`, 'prompt');
      ids = r.prompt;
    }
    if (ids.length === 0) throw badRequest('the prompt encodes to no tokens', r.kind === 'chat' ? 'messages' : 'prompt');
    if (ids.length + r.maxTokens > maxPositions)
      throw badRequest(`prompt (${ids.length} tokens) + max_tokens (${r.maxTokens}) exceed the model's ${maxPositions} positions`, 'max_tokens', 'context_length_exceeded');
    return ids;
  };

  /** Submit and answer: one JSON body, or an SSE stream of chunks ending with `data: [DONE]`. */
  async function serve(reply: FastifyReply, r: ChatRequest | CompletionRequest): Promise<unknown> {
    checkModel(r.model);
    const prompt = promptIds(r);
    const id = `${r.kind === 'chat' ? 'chatcmpl' : 'cmpl'}-${randomUUID()}`;
    const abort = new AbortController();
    // The client going away (socket closed before we answered) cancels the generation at the next token.
    reply.raw.on('close', () => {
      if (!reply.raw.writableFinished) abort.abort();
    });
    const chunk = (payload: { delta?: Record<string, string>; text?: string; finish: 'stop' | 'length' | null }) =>
      r.kind === 'chat'
        ? { id, object: 'chat.completion.chunk', created: Math.floor(Date.now() / 1000), model: o.modelName, choices: [{ index: 0, delta: payload.delta ?? {}, logprobs: null, finish_reason: payload.finish }] }
        : { id, object: 'text_completion', created: Math.floor(Date.now() / 1000), model: o.modelName, choices: [{ index: 0, text: payload.text ?? '', logprobs: null, finish_reason: payload.finish }] };
    const usage = (res: JobResult) => ({ prompt_tokens: res.promptTokens, completion_tokens: res.completionTokens, total_tokens: res.promptTokens + res.completionTokens });
    const job = (onText?: (t: string) => void): Job => ({ prompt, maxTokens: r.maxTokens, temperature: r.temperature, topP: r.topP, seed: r.seed, stop: r.stop, signal: abort.signal, onText });

    if (!r.stream) {
      let res: JobResult;
      try {
        res = await engine.submit(job());
      } catch (e) {
        if (e instanceof QueueFullError) throw new ApiError(429, `server busy: ${e.message}; retry later`, undefined, null, 'queue_full');
        throw e;
      }
      const finish = finishFor(res.finishReason);
      return r.kind === 'chat'
        ? { id, object: 'chat.completion', created: Math.floor(Date.now() / 1000), model: o.modelName, choices: [{ index: 0, message: { role: 'assistant', content: res.text }, logprobs: null, finish_reason: finish }], usage: usage(res) }
        : { id, object: 'text_completion', created: Math.floor(Date.now() / 1000), model: o.modelName, choices: [{ index: 0, text: res.text, logprobs: null, finish_reason: finish }], usage: usage(res) };
    }

    // Streaming: refuse with a proper status while we still can (queue full), then switch to SSE.
    if (engine.queueLength >= (o.maxQueue ?? 16)) throw new ApiError(429, 'server busy: the queue is full; retry later', undefined, null, 'queue_full');
    reply.hijack();
    const raw = reply.raw;
    raw.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', connection: 'keep-alive', 'x-accel-buffering': 'no' });
    const send = (data: unknown) => {
      if (!raw.destroyed) raw.write(`data: ${typeof data === 'string' ? data : JSON.stringify(data)}\n\n`);
    };
    if (r.kind === 'chat') send(chunk({ delta: { role: 'assistant', content: '' }, finish: null }));
    try {
      const res = await engine.submit(job((t) => send(r.kind === 'chat' ? chunk({ delta: { content: t }, finish: null }) : chunk({ text: t, finish: null }))));
      if (res.finishReason !== 'cancelled') {
        send(chunk({ finish: finishFor(res.finishReason) }));
        if (r.includeUsage) send({ ...chunk({ finish: null }), choices: [], usage: usage(res) });
        send('[DONE]');
      }
    } catch (e) {
      const err = e instanceof QueueFullError ? new ApiError(429, `server busy: ${e.message}`, undefined, null, 'queue_full') : new ApiError(500, `generation failed: ${(e as Error).message}`);
      send(err.body());
      send('[DONE]');
    }
    raw.end();
    return reply;
  }

  app.post('/v1/chat/completions', async (req, reply) => serve(reply, parseChatRequest(req.body, limits)));
  app.post('/v1/completions', async (req, reply) => serve(reply, parseCompletionRequest(req.body, limits)));

  return {
    app,
    engine,
    async shutdown() {
      await engine.drain();
      await app.close();
    },
  };
}
