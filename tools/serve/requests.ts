/**
 * Validating OpenAI request bodies into typed requests: every wrong type, range or missing field is a 400
 * naming the parameter, never an exception later.
 */
import { badRequest } from './errors.js';

export interface ChatMessage {
  readonly role: string;
  readonly content: string;
}

export interface SamplingParams {
  /** undefined: the server's default (min(--max-tokens, context left after the prompt)). */
  readonly maxTokens: number | undefined;
  readonly temperature: number | undefined;
  readonly topP: number | undefined;
  readonly seed: number | undefined;
  readonly stop: string[];
  readonly stream: boolean;
  readonly includeUsage: boolean;
  readonly model: string | undefined;
}

export interface ChatRequest extends SamplingParams {
  readonly kind: 'chat';
  readonly messages: ChatMessage[];
}

export interface CompletionRequest extends SamplingParams {
  readonly kind: 'completion';
  /** Text, or token ids. */
  readonly prompt: string | number[];
}

export interface Limits {
  /** Largest max_tokens accepted (--max-tokens). */
  readonly maxTokens: number;
}

export type Obj = Record<string, unknown>;

export function asObject(body: unknown): Obj {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw badRequest('the request body must be a JSON object');
  return body as Obj;
}

/** `label`: how the error names the field (default `key`; e.g. `options.temperature` for Ollama's nested options). */
export function optNumber(o: Obj, key: string, lo: number, hi: number, label = key): number | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v)) throw badRequest(`'${label}' must be a number, got ${JSON.stringify(v)}`, label);
  if (v < lo || v > hi) throw badRequest(`'${label}' must be between ${lo} and ${hi}, got ${v}`, label);
  return v;
}

export function optInt(o: Obj, key: string, lo: number, hi: number, label = key): number | undefined {
  const v = optNumber(o, key, lo, hi, label);
  if (v !== undefined && !Number.isInteger(v)) throw badRequest(`'${label}' must be an integer, got ${v}`, label);
  return v;
}

function sampling(o: Obj, limits: Limits): SamplingParams {
  const maxTokens = optInt(o, 'max_completion_tokens', 1, limits.maxTokens) ?? optInt(o, 'max_tokens', 1, limits.maxTokens);
  const n = optInt(o, 'n', 1, 1);
  void n; // n > 1 is refused by optInt's range
  const stopRaw = o.stop;
  let stop: string[] = [];
  if (typeof stopRaw === 'string') stop = [stopRaw];
  else if (Array.isArray(stopRaw)) {
    if (stopRaw.length > 4 || stopRaw.some((s) => typeof s !== 'string' || s.length === 0))
      throw badRequest("'stop' must be a string or a list of up to 4 non-empty strings", 'stop');
    stop = stopRaw as string[];
  } else if (stopRaw !== undefined && stopRaw !== null) throw badRequest("'stop' must be a string or a list of strings", 'stop');
  const stream = o.stream ?? false;
  if (typeof stream !== 'boolean') throw badRequest(`'stream' must be true or false, got ${JSON.stringify(stream)}`, 'stream');
  const so = o.stream_options;
  if (so !== undefined && so !== null && (typeof so !== 'object' || Array.isArray(so))) throw badRequest("'stream_options' must be an object", 'stream_options');
  const includeUsage = (so as Obj | undefined)?.include_usage === true;
  const model = o.model;
  if (model !== undefined && typeof model !== 'string') throw badRequest(`'model' must be a string`, 'model');
  const temperature = optNumber(o, 'temperature', 0, 2);
  return {
    maxTokens,
    temperature,
    // top_p 0 is greedy and any int64 seed is valid (its low 32 bits seed the generator): worker_job.ts samplingFor.
    topP: optNumber(o, 'top_p', 0, 1),
    seed: optInt(o, 'seed', -(2 ** 63), 2 ** 63),
    stop,
    stream,
    includeUsage,
    model,
  };
}

/** Message content: a string, or a list of {type: 'text', text} parts. */
function messageContent(m: Obj, i: number): string {
  const c = m.content;
  if (typeof c === 'string') return c;
  if (Array.isArray(c)) {
    return c
      .map((p, j) => {
        const part = p as Obj;
        if (typeof part !== 'object' || part === null || part.type !== 'text' || typeof part.text !== 'string')
          throw badRequest(`messages[${i}].content[${j}] must be a {type: 'text', text} part (only text is supported)`, 'messages');
        return part.text;
      })
      .join('');
  }
  throw badRequest(`messages[${i}].content must be a string or a list of text parts`, 'messages');
}

export function parseChatRequest(body: unknown, limits: Limits): ChatRequest {
  const o = asObject(body);
  const raw = o.messages;
  if (!Array.isArray(raw) || raw.length === 0) throw badRequest("'messages' must be a non-empty list", 'messages');
  const messages = raw.map((m, i) => {
    if (typeof m !== 'object' || m === null || Array.isArray(m)) throw badRequest(`messages[${i}] must be an object`, 'messages');
    const role = (m as Obj).role;
    if (typeof role !== 'string' || !['system', 'user', 'assistant', 'developer', 'tool'].includes(role))
      throw badRequest(`messages[${i}].role must be one of system, user, assistant, developer, tool`, 'messages');
    return { role: role === 'developer' ? 'system' : role, content: messageContent(m as Obj, i) };
  });
  return { kind: 'chat', messages, ...sampling(o, limits) };
}

export function parseCompletionRequest(body: unknown, limits: Limits): CompletionRequest {
  const o = asObject(body);
  let prompt: string | number[];
  const p = o.prompt;
  if (typeof p === 'string') prompt = p;
  else if (Array.isArray(p) && p.length === 1 && typeof p[0] === 'string') prompt = p[0];
  else if (Array.isArray(p) && p.length > 0 && p.every((x) => typeof x === 'number' && Number.isInteger(x) && x >= 0)) prompt = p as number[];
  else throw badRequest("'prompt' must be a string (or one string in a list, or a list of token ids)", 'prompt');
  if (typeof prompt === 'string' && prompt.length === 0) throw badRequest("'prompt' is empty", 'prompt');
  return { kind: 'completion', prompt, ...sampling(o, limits) };
}
