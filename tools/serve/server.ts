/**
 * `opshift serve`: an OpenAI-compatible HTTP server (the seeds' "Server Interface") on fastify.
 *
 *   GET  /v1/models               the one model served
 *   POST /v1/chat/completions     chat (the tokenizer's chat template), streaming with SSE when stream: true
 *   POST /v1/completions          text completion, streaming likewise
 *   GET  /health                  liveness + queue state
 *   GET  /metrics                 JSON by default; Prometheus text with `Accept: text/plain` or ?format=prometheus
 *                                 (metrics.ts: sequences, batch sizes, tokens, TTFT/inter-token, KV cache, rejections)
 *   /api/chat, /api/generate, /api/tags, /api/show, /api/ps, /api/version   Ollama-compatible (ollama_routes.ts)
 *
 * This thread only parses, validates, queues and streams; the model, tokenizer and chat template live in a
 * worker thread (model_worker.ts), so /health answers while a prompt prefills. Every bad request gets a 4xx
 * with an OpenAI-style error body (`{"error": "..."}` under /api/, Ollama's shape) — including what only the worker can see (prompt too long for the context,
 * a template that raises or runs out of budget), because a stream's 200 is sent only once the worker has
 * accepted the prompt. 429 when the queue is full, 413 for bodies over the limit, 408 for a request not
 * received within --request-timeout-ms, 403 for a Host header not on the allow-list (DNS rebinding).
 */
import { randomUUID } from 'node:crypto';
import { createServer as createHttpServer, type ServerResponse } from 'node:http';
import { join } from 'node:path';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { ArgumentError } from '../../core/errors.js';
import { parsePolicy } from '../../core/policy_spec.js';
import { resolveModelSource } from '../model_source.js';
import { readJson } from '../../models/io/checkpoint.js';
import { repoRoot } from '../model_source.js';
import { Engine, type FinishReason, type JobResult } from './engine.js';
import { ApiError, badRequest } from './errors.js';
import { hostAllowed, hostName, hostPolicy } from './host_check.js';
import { cancelOnClose, jobFor, submitError } from './http_job.js';
import { resolveLimits, type ServeLimits } from './limits.js';
import { checkServeQuant, type ServeQuant } from './load_quant.js';
import { metricsFamilies, metricsJson, ServerStats, wantsPrometheus, type MetricsSources } from './metrics.js';
import { PROMETHEUS_CONTENT_TYPE, renderPrometheus } from './metrics_prometheus.js';
import { ModelWorker } from './model_worker.js';
import { describeModel } from './ollama_model.js';
import { registerOllamaRoutes } from './ollama_routes.js';
import { parseChatRequest, parseCompletionRequest, type ChatRequest, type CompletionRequest } from './requests.js';

export interface ServeOptions extends Partial<ServeLimits> {
  /** A model folder, hub id (owner/name), `demo:<name>` or `synthetic:<preset>`. */
  readonly model: string;
  /** The id clients use in `model` (default: the model source). */
  readonly modelName?: string;
  /** `--dispatch` policy spec for the model's ops (parsed in the worker). */
  readonly dispatch?: string;
  /** `-t/--threads`: ORT intra-op and NPU library threads in the model worker. */
  readonly threads?: number;
  /** `--quant`: quantize every linear in memory at load (w8a8 or w4), e.g. for a synthetic model. */
  readonly quant?: ServeQuant;
  /** Address `listen()` binds (default 127.0.0.1); also allowed as a Host header. */
  readonly host?: string;
  /** More allowed Host names (`*`: any). */
  readonly allowHosts?: readonly string[];
  /** Require `Authorization: Bearer <apiKey>`. */
  readonly apiKey?: string;
  readonly logger?: boolean;
}

export interface Server {
  readonly app: FastifyInstance;
  readonly engine: Engine;
  readonly worker: ModelWorker;
  readonly limits: ServeLimits;
  /** Listen on `port` (0: any free port) at the configured host; resolves to the base URL. */
  listen(port: number): Promise<string>;
  /** Stop accepting, cancel queued requests, let the running one finish, stop the worker, close. */
  shutdown(): Promise<void>;
}

function finishFor(r: FinishReason): 'stop' | 'length' {
  return r === 'length' ? 'length' : 'stop';
}

/** Node's timeouts for receiving requests (fastify's own options leave them off or cannot set the check interval). */
function httpServer(limits: ServeLimits) {
  return (handler: Parameters<typeof createHttpServer>[1]) =>
    createHttpServer(
      {
        requestTimeout: limits.requestTimeoutMs,
        headersTimeout: limits.requestTimeoutMs,
        keepAliveTimeout: limits.idleTimeoutMs,
        // Node checks the two timeouts above on this interval (default 30 s): make a trickled body's 408 timely.
        connectionsCheckingInterval: Math.max(50, Math.min(1000, Math.floor(limits.requestTimeoutMs / 4))),
      },
      handler,
    );
}

export async function createServer(o: ServeOptions): Promise<Server> {
  const limits = resolveLimits(o);
  if (o.dispatch) parsePolicy(o.dispatch); // a bad policy fails here, not in the worker
  if (o.threads !== undefined && !(Number.isInteger(o.threads) && o.threads >= 1)) throw new ArgumentError(`opshift serve: --threads ${o.threads} must be a positive integer`);
  const quant = checkServeQuant(o.quant);
  const host = o.host ?? '127.0.0.1';
  const hosts = hostPolicy(host, o.allowHosts);
  const modelName = o.modelName ?? o.model;
  const source = await resolveModelSource(o.model);
  const worker = await ModelWorker.start(
    { modelLoad: source.load, tokenizerDir: source.dir, dispatch: o.dispatch, threads: o.threads, prefillChunk: limits.prefillChunk, templateTimeoutMs: limits.templateTimeoutMs, templateMaxBytes: limits.templateMaxBytes, kvCacheMb: limits.kvCacheMb, quant },
    { templateTimeoutMs: limits.templateTimeoutMs, tokenizeTimeoutMs: limits.tokenizeTimeoutMs },
  );
  const engine = new Engine(worker, { maxQueue: limits.maxQueue, maxBatch: limits.maxBatch, maxTokensCap: limits.maxTokens, maxPromptTokens: limits.maxPromptTokens });
  const app = Fastify({ logger: o.logger ?? false, bodyLimit: limits.maxBodyBytes, serverFactory: httpServer(limits) });
  const created = Math.floor(Date.now() / 1000);
  const stats = new ServerStats();
  const errorCode = new WeakMap<FastifyRequest, string>();
  // Ollama's routes answer errors as {"error": "..."}; everything else in OpenAI's shape.
  const errorBody = (req: FastifyRequest, e: ApiError) => (req.url.startsWith('/api/') ? { error: e.message } : e.body());

  app.setErrorHandler((err: Error & { statusCode?: number; code?: string }, req, reply) => {
    let e: ApiError;
    if (err instanceof ApiError) e = err;
    else {
      const status = err.statusCode && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 500;
      // fastify's own 4xx (bad JSON, body too large, unsupported media type) keep their status, in OpenAI's shape.
      e = new ApiError(status, status === 500 ? `internal error: ${err.message}` : err.message, undefined, null, err.code ?? null);
    }
    if (e.status >= 500) app.log.error(err);
    errorCode.set(req, e.code ?? `http_${e.status}`);
    if (e.retryAfterS !== undefined) void reply.header('retry-after', String(e.retryAfterS));
    return reply.status(e.status).send(errorBody(req, e));
  });
  app.setNotFoundHandler((req, reply) => {
    errorCode.set(req, 'not_found');
    return reply.status(404).send(errorBody(req, new ApiError(404, `no route ${req.method} ${req.url}`, undefined, null, 'not_found')));
  });
  // Counted by route pattern (not the URL: a scanner's random paths would grow the label set without bound).
  app.addHook('onResponse', async (req, reply) => stats.response(req.routeOptions.url ?? 'unmatched', reply.statusCode, errorCode.get(req)));

  app.addHook('onRequest', async (req) => {
    if (!hostAllowed(hosts, req.headers.host))
      throw new ApiError(403, `Host '${req.headers.host}' is not allowed (DNS rebinding protection); start the server with --allow-host ${hostName(req.headers.host ?? '')} to allow it`, 'permission_error', null, 'host_not_allowed');
    if (!o.apiKey || req.url === '/health') return;
    if (req.headers.authorization !== `Bearer ${o.apiKey}`) throw new ApiError(401, 'invalid or missing API key (Authorization: Bearer …)', undefined, null, 'invalid_api_key');
  });

  app.get('/health', async () => ({ status: 'ok', model: modelName, busy: engine.busy, queue: engine.queueLength, worker_restarts: worker.restarts }));

  app.get('/metrics', async (req, reply) => {
    const format = (req.query as { format?: unknown }).format;
    if (format !== undefined && format !== 'json' && format !== 'prometheus') throw badRequest(`/metrics: 'format' must be json or prometheus, got ${JSON.stringify(format)}`, 'format');
    const sources: MetricsSources = {
      modelName,
      engine: engine.metrics,
      queueLength: engine.queueLength,
      busy: engine.busy,
      workerRestarts: worker.restarts,
      liveKvCaches: worker.liveKvCaches,
      stats,
    };
    if (!wantsPrometheus(req.query, req.headers.accept)) return metricsJson(sources);
    return reply.type(PROMETHEUS_CONTENT_TYPE).send(renderPrometheus(metricsFamilies(sources)));
  });

  app.get('/v1/models', async () => ({ object: 'list', data: [{ id: modelName, object: 'model', created, owned_by: 'opshift' }] }));

  const checkModel = (name: string | undefined) => {
    if (name !== undefined && name !== modelName) throw new ApiError(404, `The model '${name}' does not exist (this server serves '${modelName}')`, undefined, 'model', 'model_not_found');
  };

  /** Submit and answer: one JSON body, or an SSE stream of chunks ending with `data: [DONE]`. */
  async function serve(reply: FastifyReply, r: ChatRequest | CompletionRequest): Promise<unknown> {
    checkModel(r.model);
    const id = `${r.kind === 'chat' ? 'chatcmpl' : 'cmpl'}-${randomUUID()}`;
    const chunk = (payload: { delta?: Record<string, string>; text?: string; finish: 'stop' | 'length' | null }) =>
      r.kind === 'chat'
        ? { id, object: 'chat.completion.chunk', created: Math.floor(Date.now() / 1000), model: modelName, choices: [{ index: 0, delta: payload.delta ?? {}, logprobs: null, finish_reason: payload.finish }] }
        : { id, object: 'text_completion', created: Math.floor(Date.now() / 1000), model: modelName, choices: [{ index: 0, text: payload.text ?? '', logprobs: null, finish_reason: payload.finish }] };
    const usage = (res: JobResult) => ({ prompt_tokens: res.promptTokens, completion_tokens: res.completionTokens, total_tokens: res.promptTokens + res.completionTokens });

    // Streaming commits to a 200 only when the worker accepts the prompt; until then any error is a proper status.
    let raw: ServerResponse | undefined;
    const send = (data: unknown) => {
      if (raw && !raw.destroyed) raw.write(`data: ${typeof data === 'string' ? data : JSON.stringify(data)}\n\n`);
    };
    const job = jobFor(r, cancelOnClose(reply), stats, {
      onAccepted: r.stream
        ? () => {
            reply.hijack();
            raw = reply.raw;
            raw.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', connection: 'keep-alive', 'x-accel-buffering': 'no' });
            if (r.kind === 'chat') send(chunk({ delta: { role: 'assistant', content: '' }, finish: null }));
          }
        : undefined,
      onText: r.stream ? (t) => send(r.kind === 'chat' ? chunk({ delta: { content: t }, finish: null }) : chunk({ text: t, finish: null })) : undefined,
    });

    let res: JobResult;
    try {
      res = await engine.submit(job);
    } catch (e) {
      const err = submitError(e);
      if (!raw) throw err;
      // The stream is already a 200: only a failure of the model itself gets here (inputs were checked before).
      send((err instanceof ApiError ? err : new ApiError(500, (err as Error).message)).body());
      send('[DONE]');
      raw.end();
      return reply;
    }
    if (res.finishReason === 'cancelled' && !raw && r.stream)
      throw new ApiError(503, 'the request was cancelled before it started (client gone or server shutting down)', undefined, null, 'cancelled');
    if (!r.stream) {
      const finish = finishFor(res.finishReason);
      return r.kind === 'chat'
        ? { id, object: 'chat.completion', created: Math.floor(Date.now() / 1000), model: modelName, choices: [{ index: 0, message: { role: 'assistant', content: res.text }, logprobs: null, finish_reason: finish }], usage: usage(res) }
        : { id, object: 'text_completion', created: Math.floor(Date.now() / 1000), model: modelName, choices: [{ index: 0, text: res.text, logprobs: null, finish_reason: finish }], usage: usage(res) };
    }
    if (res.finishReason !== 'cancelled') {
      send(chunk({ finish: finishFor(res.finishReason) }));
      if (r.includeUsage) send({ ...chunk({ finish: null }), choices: [], usage: usage(res) });
      send('[DONE]');
    }
    raw!.end();
    return reply;
  }

  app.post('/v1/chat/completions', async (req, reply) => serve(reply, parseChatRequest(req.body, { maxTokens: limits.maxTokens })));
  app.post('/v1/completions', async (req, reply) => serve(reply, parseCompletionRequest(req.body, { maxTokens: limits.maxTokens })));

  registerOllamaRoutes(app, {
    engine,
    stats,
    limits: { maxTokens: limits.maxTokens },
    modelName,
    description: describeModel(source.dir, worker.info!),
    info: () => worker.info,
    version: String(readJson(join(repoRoot(), 'package.json'), 'package.json').version),
  });

  return {
    app,
    engine,
    worker,
    limits,
    listen: (port: number) => app.listen({ port, host }),
    async shutdown() {
      await engine.drain();
      await app.close();
      await worker.close();
    },
  };
}
