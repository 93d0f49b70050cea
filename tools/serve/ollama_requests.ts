/**
 * Validating Ollama request bodies (`/api/chat`, `/api/generate`, `/api/show`) into the same typed requests the
 * OpenAI routes build, so both share the engine, limits and cancellation. Every wrong type, range, unknown or
 * unsupported field is a 400 naming it: a client asking for JSON mode, tools, images or a sampler this server
 * does not implement gets told so instead of a silently different answer.
 */
import { badRequest } from './errors.js';
import { asObject, optInt, optNumber, type ChatMessage, type ChatRequest, type CompletionRequest, type Limits, type Obj, type SamplingParams } from './requests.js';

/** Ollama's `options` this server honours. */
const SAMPLING_OPTIONS = ['temperature', 'top_p', 'seed', 'num_predict', 'stop'] as const;

/**
 * Options about how Ollama's runner loads and runs a model (context size, GPU layers, threads, mmap…): they do
 * not change what is generated, and this server sets those at startup, so they are accepted and ignored.
 */
const RUNNER_OPTIONS = new Set([
  'numa',
  'num_ctx',
  'num_batch',
  'num_gpu',
  'main_gpu',
  'low_vram',
  'f16_kv',
  'logits_all',
  'vocab_only',
  'use_mmap',
  'use_mlock',
  'embedding_only',
  'num_thread',
  'num_keep',
]);

/** Stop strings per request (Ollama has no limit; each one is checked after every token, so keep it small). */
const MAX_STOP = 8;

/** A 400 for a feature this server does not implement (counted apart from malformed requests in /metrics). */
const unsupported = (message: string, param: string) => badRequest(message, param, 'unsupported_parameter');

export interface OllamaChatRequest extends ChatRequest {
  /** The model name as given (Ollama requires it). */
  readonly model: string;
}

export interface OllamaGenerateRequest {
  readonly model: string;
  /** An empty prompt only loads the model (Ollama answers done_reason 'load' without generating). */
  readonly loadOnly: boolean;
  readonly completion: CompletionRequest | ChatRequest;
}

function requiredModel(o: Obj): string {
  const m = o.model ?? o.name; // `name` is the pre-0.5 spelling some clients still send
  if (typeof m !== 'string' || m.length === 0) throw badRequest("'model' is required (a model name string)", 'model');
  if (m.length > 256) throw badRequest(`'model' is ${m.length} characters, longer than 256`, 'model');
  return m;
}

/** Fields Ollama defines that this server cannot honour: present and not empty/false → 400 naming them. */
function refuseUnsupported(o: Obj, route: string): void {
  const f = o.format;
  if (f !== undefined && f !== null && f !== '')
    throw unsupported(`'format' (${typeof f === 'string' ? JSON.stringify(f) : 'a JSON schema'}) is not supported by ${route}: this server has no constrained decoding; omit 'format'`, 'format');
  if (o.think !== undefined && o.think !== null && o.think !== false) throw unsupported(`'think' is not supported by ${route}: the served model has no thinking mode; omit it or send false`, 'think');
  if (Array.isArray(o.tools) ? o.tools.length > 0 : o.tools !== undefined && o.tools !== null) throw unsupported(`'tools' is not supported by ${route} (no tool calling)`, 'tools');
  if (Array.isArray(o.images) ? o.images.length > 0 : o.images !== undefined && o.images !== null) throw unsupported(`'images' is not supported by ${route}: the served model is text-only`, 'images');
  if (o.logprobs !== undefined && o.logprobs !== null && o.logprobs !== false) throw unsupported(`'logprobs' is not supported by ${route}`, 'logprobs');
  const ka = o.keep_alive;
  // The model stays loaded for the server's lifetime; keep_alive is accepted (clients send it) but bounded in type.
  if (ka !== undefined && ka !== null && !(typeof ka === 'number' && Number.isFinite(ka)) && !(typeof ka === 'string' && ka.length <= 32))
    throw badRequest(`'keep_alive' must be a number or a duration string such as "5m", got ${JSON.stringify(ka).slice(0, 40)}`, 'keep_alive');
}

function stopOf(opts: Obj): string[] {
  const s = opts.stop;
  if (s === undefined || s === null) return [];
  const list = typeof s === 'string' ? [s] : s;
  if (!Array.isArray(list) || list.length > MAX_STOP || list.some((x) => typeof x !== 'string' || x.length === 0))
    throw badRequest(`'options.stop' must be a string or a list of up to ${MAX_STOP} non-empty strings`, 'options.stop');
  return list as string[];
}

/** `options` and `stream` into the shared sampling parameters. */
function sampling(o: Obj, model: string, limits: Limits): SamplingParams {
  const raw = o.options ?? {};
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw badRequest("'options' must be an object", 'options');
  const opts = raw as Obj;
  for (const k of Object.keys(opts)) {
    if ((SAMPLING_OPTIONS as readonly string[]).includes(k) || RUNNER_OPTIONS.has(k)) continue;
    throw unsupported(`'options.${k}' is not supported by this server (it honours ${SAMPLING_OPTIONS.join(', ')}; runner options such as num_ctx are ignored)`, `options.${k}`);
  }
  // num_predict: -1 (unbounded) and -2 (fill the context) both mean the server's default here: min(--max-tokens, context left).
  const n = optInt(opts, 'num_predict', -2, limits.maxTokens, 'options.num_predict');
  if (n === 0) throw badRequest("'options.num_predict' must be positive, -1 or -2, got 0", 'options.num_predict');
  const stream = o.stream ?? true; // Ollama streams unless told not to
  if (typeof stream !== 'boolean') throw badRequest(`'stream' must be true or false, got ${JSON.stringify(stream)}`, 'stream');
  return {
    maxTokens: n !== undefined && n > 0 ? n : undefined,
    temperature: optNumber(opts, 'temperature', 0, 2, 'options.temperature'),
    topP: optNumber(opts, 'top_p', 0, 1, 'options.top_p'),
    seed: optInt(opts, 'seed', -(2 ** 63), 2 ** 63, 'options.seed'),
    stop: stopOf(opts),
    stream,
    includeUsage: false,
    model,
  };
}

function message(m: unknown, i: number): ChatMessage {
  if (typeof m !== 'object' || m === null || Array.isArray(m)) throw badRequest(`messages[${i}] must be an object`, 'messages');
  const { role, content, images, tool_calls: calls } = m as Obj;
  if (typeof role !== 'string' || !['system', 'user', 'assistant', 'tool'].includes(role)) throw badRequest(`messages[${i}].role must be one of system, user, assistant, tool`, 'messages');
  if (typeof content !== 'string') throw badRequest(`messages[${i}].content must be a string`, 'messages');
  if (Array.isArray(images) && images.length > 0) throw unsupported(`messages[${i}].images is not supported: the served model is text-only`, 'messages');
  if (Array.isArray(calls) && calls.length > 0) throw unsupported(`messages[${i}].tool_calls is not supported (no tool calling)`, 'messages');
  return { role, content };
}

export function parseOllamaChat(body: unknown, limits: Limits): OllamaChatRequest {
  const o = asObject(body);
  const model = requiredModel(o);
  refuseUnsupported(o, '/api/chat');
  const raw = o.messages ?? [];
  if (!Array.isArray(raw)) throw badRequest("'messages' must be a list", 'messages');
  // Ollama answers an empty message list by loading the model; a chat with nothing to answer is refused here.
  if (raw.length === 0) throw badRequest("'messages' is empty: nothing to answer", 'messages');
  return { kind: 'chat', messages: raw.map(message), ...sampling(o, model, limits), model };
}

/**
 * `/api/generate`: `raw` sends the prompt as is; otherwise `system` and `prompt` go through the model's chat
 * template as a system and a user message (Ollama's default template does that).
 */
export function parseOllamaGenerate(body: unknown, limits: Limits): OllamaGenerateRequest {
  const o = asObject(body);
  const model = requiredModel(o);
  refuseUnsupported(o, '/api/generate');
  for (const k of ['suffix', 'template', 'context'] as const) {
    const v = o[k];
    if (v !== undefined && v !== null && v !== '' && !(Array.isArray(v) && v.length === 0))
      throw unsupported(`'${k}' is not supported by /api/generate${k === 'context' ? ': send the conversation to /api/chat instead' : ''}`, k);
  }
  const prompt = o.prompt ?? '';
  if (typeof prompt !== 'string') throw badRequest("'prompt' must be a string", 'prompt');
  const system = o.system;
  if (system !== undefined && system !== null && typeof system !== 'string') throw badRequest("'system' must be a string", 'system');
  const rawMode = o.raw ?? false;
  if (typeof rawMode !== 'boolean') throw badRequest(`'raw' must be true or false, got ${JSON.stringify(rawMode)}`, 'raw');
  if (rawMode && system) throw badRequest("'system' cannot be used with 'raw': true (a raw prompt is sent as is, with no template to put it in)", 'system');
  const params = sampling(o, model, limits);
  const completion: CompletionRequest | ChatRequest = rawMode
    ? { kind: 'completion', prompt, ...params }
    : { kind: 'chat', messages: [...(system ? [{ role: 'system', content: system }] : []), { role: 'user', content: prompt }], ...params };
  return { model, loadOnly: prompt.length === 0, completion };
}

export function parseOllamaShow(body: unknown): { model: string } {
  const o = asObject(body);
  const model = requiredModel(o);
  if (o.verbose !== undefined && typeof o.verbose !== 'boolean') throw badRequest("'verbose' must be true or false", 'verbose');
  return { model };
}

/** Ollama names carry a tag (`name:tag`, default `latest`): `demo` and `demo:latest` are the same model. */
export function sameModel(requested: string, served: string): boolean {
  // A tag is a ':' part after the last '/' (a path or owner/name may hold neither).
  const norm = (s: string) => (/:[^/:]*$/.test(s) ? s : `${s}:latest`);
  return norm(requested) === norm(served);
}
