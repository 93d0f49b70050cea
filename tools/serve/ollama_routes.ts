/**
 * Ollama-compatible endpoints beside the OpenAI ones, on the same engine, limits and cancellation:
 *
 *   POST /api/chat       messages → assistant message; streams newline-delimited JSON unless stream: false
 *   POST /api/generate   prompt (+ system, or raw) → response, likewise
 *   GET  /api/tags       the served model (size, digest, details)
 *   POST /api/show       its details, template, model_info
 *   GET  /api/ps         the loaded model (always the served one)
 *   GET  /api/version
 *   GET  /               "opshift is running" (Ollama's heartbeat is HEAD /; fastify answers HEAD for GET routes)
 *
 * Durations are nanoseconds as in Ollama: total_duration from request to done, prompt_eval_duration the worker's
 * time to first token, eval_duration from the first generated piece to the last, load_duration 0 (the model is
 * loaded at startup). Errors are `{"error": "..."}` (server.ts's error handler); a stream commits to its 200
 * only once the worker accepts the prompt, so prompt errors keep their 4xx, and a failure after that is a
 * final `{"error": ...}` line, which the Ollama clients raise.
 */
import type { ServerResponse } from 'node:http';
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { Engine, FinishReason, JobResult } from './engine.js';
import { ApiError } from './errors.js';
import { cancelOnClose, jobFor, submitError } from './http_job.js';
import type { ServerStats } from './metrics.js';
import type { OllamaModelDescription } from './ollama_model.js';
import { parseOllamaChat, parseOllamaGenerate, parseOllamaShow, sameModel } from './ollama_requests.js';
import type { ModelInfo } from './protocol.js';
import type { ChatRequest, CompletionRequest, Limits } from './requests.js';

export interface OllamaContext {
  readonly engine: Engine;
  readonly stats: ServerStats;
  readonly limits: Limits;
  readonly modelName: string;
  readonly description: OllamaModelDescription;
  /** The worker's model info (read per request: a restarted worker reports it anew). */
  readonly info: () => ModelInfo | undefined;
  /** opshift's version, reported by /api/version. */
  readonly version: string;
}

const ns = (ms: number) => Math.max(0, Math.round(ms * 1e6));

export function registerOllamaRoutes(app: FastifyInstance, c: OllamaContext): void {
  const checkModel = (name: string) => {
    if (!sameModel(name, c.modelName)) throw new ApiError(404, `model '${name}' not found (this server serves '${c.modelName}')`, undefined, 'model', 'model_not_found');
  };
  const d = c.description;
  const listed = () => ({ name: c.modelName, model: c.modelName, modified_at: d.modifiedAt, size: d.size, digest: d.digest, details: d.details });

  app.get('/', async (_req, reply) => reply.type('text/plain; charset=utf-8').send('opshift is running (OpenAI API under /v1, Ollama API under /api)'));
  app.get('/api/version', async () => ({ version: c.version }));
  app.get('/api/tags', async () => ({ models: [listed()] }));
  app.get('/api/ps', async () => ({ models: [{ ...listed(), expires_at: '0001-01-01T00:00:00Z', size_vram: 0 }] }));

  app.post('/api/show', async (req) => {
    const { model } = parseOllamaShow(req.body);
    checkModel(model);
    const info = c.info();
    const arch = d.details.family;
    const modelInfo: Record<string, unknown> = { 'general.architecture': arch };
    if (d.parameterCount !== undefined) modelInfo['general.parameter_count'] = d.parameterCount;
    if (info) {
      modelInfo[`${arch}.context_length`] = info.maxPositions;
      modelInfo[`${arch}.vocab_size`] = info.vocabSize;
    }
    for (const [k, v] of Object.entries(d.config)) if (typeof v === 'number' || typeof v === 'string' || typeof v === 'boolean') modelInfo[`${arch}.${k}`] = v;
    return {
      license: '',
      modelfile: '',
      parameters: '',
      template: d.template,
      system: '',
      details: d.details,
      model_info: modelInfo,
      capabilities: ['completion'],
      modified_at: d.modifiedAt,
    };
  });

  app.post('/api/chat', async (req, reply) => {
    const r = parseOllamaChat(req.body, c.limits);
    checkModel(r.model);
    return generate(reply, r, 'chat');
  });

  app.post('/api/generate', async (req, reply) => {
    const g = parseOllamaGenerate(req.body, c.limits);
    checkModel(g.model);
    // An empty prompt is how Ollama clients preload a model: it is loaded, nothing is generated.
    if (g.loadOnly) {
      const body = { model: c.modelName, created_at: new Date().toISOString(), response: '', done: true, done_reason: 'load' };
      if (!g.completion.stream) return body;
      return reply.type('application/x-ndjson').send(`${JSON.stringify(body)}\n`);
    }
    return generate(reply, g.completion, 'generate');
  });

  /** Runs one request and answers in Ollama's shape: one JSON object, or NDJSON pieces then a done object. */
  async function generate(reply: FastifyReply, r: ChatRequest | CompletionRequest, kind: 'chat' | 'generate'): Promise<unknown> {
    const t0 = performance.now();
    let firstText: number | undefined;
    let raw: ServerResponse | undefined;
    const line = (o: unknown) => {
      if (raw && !raw.destroyed) raw.write(`${JSON.stringify(o)}\n`);
    };
    const piece = (text: string, done: boolean) =>
      kind === 'chat'
        ? { model: c.modelName, created_at: new Date().toISOString(), message: { role: 'assistant', content: text }, done }
        : { model: c.modelName, created_at: new Date().toISOString(), response: text, done };
    const job = jobFor(r, cancelOnClose(reply), c.stats, {
      onAccepted: r.stream
        ? () => {
            reply.hijack();
            raw = reply.raw;
            raw.writeHead(200, { 'content-type': 'application/x-ndjson', 'cache-control': 'no-cache', connection: 'keep-alive', 'x-accel-buffering': 'no' });
          }
        : undefined,
      onText: (t) => {
        firstText ??= performance.now();
        if (r.stream) line(piece(t, false));
      },
    });
    let res: JobResult;
    try {
      res = await c.engine.submit(job);
    } catch (e) {
      const err = submitError(e);
      if (!raw) throw err;
      line({ error: err instanceof Error ? err.message : String(err) });
      raw.end();
      return reply;
    }
    if (res.finishReason === 'cancelled' && !raw && r.stream)
      throw new ApiError(503, 'the request was cancelled before it started (client gone or server shutting down)', undefined, null, 'cancelled');
    const end = performance.now();
    const stats = {
      done: true,
      done_reason: doneReason(res.finishReason),
      total_duration: ns(end - t0),
      load_duration: 0,
      prompt_eval_count: res.promptTokens,
      prompt_eval_duration: ns(res.ttftMs),
      eval_count: res.completionTokens,
      eval_duration: firstText === undefined ? 0 : ns(end - firstText),
    };
    if (!r.stream) return { ...piece(res.text, true), ...stats };
    if (res.finishReason !== 'cancelled') line({ ...piece('', true), ...stats });
    raw!.end();
    return reply;
  }
}

function doneReason(r: FinishReason): string {
  return r === 'length' ? 'length' : 'stop';
}
