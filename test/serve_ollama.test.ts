/**
 * The Ollama-compatible endpoints of `opshift serve`, driven by the official `ollama` npm client against the demo
 * Llama: list/show/version, chat and generate streaming and not, and the same answers as the OpenAI routes for
 * the same request (greedy and seeded), stop strings, 4xx as `{"error"}` the client raises, abort mid-stream.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ollama } from 'ollama';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatParameterCount } from '../tools/serve/ollama_model.js';
import { parseOllamaChat, parseOllamaGenerate, sameModel } from '../tools/serve/ollama_requests.js';
import type { Server } from '../tools/serve/server.js';
import { postJson, startServer } from './serve_helpers.js';

const VERSION = (JSON.parse(readFileSync(join(import.meta.dirname, '..', 'package.json'), 'utf8')) as { version: string }).version;

/** An error the client raised for a non-2xx answer: Ollama's ResponseError carries status_code. */
async function statusOf(p: Promise<unknown>): Promise<{ status: number; message: string }> {
  try {
    await p;
  } catch (e) {
    return { status: (e as { status_code?: number }).status_code ?? -1, message: (e as Error).message };
  }
  throw new Error('expected the request to fail');
}

describe('Ollama request parsing', () => {
  const limits = { maxTokens: 100 };
  const user = [{ role: 'user', content: 'x' }];
  const refusal = (f: () => unknown) => {
    try {
      f();
    } catch (e) {
      return { status: (e as { status: number }).status, message: (e as Error).message, code: (e as { code: string | null }).code };
    }
    throw new Error('expected a 400');
  };

  it('defaults as Ollama does: streaming on; num_predict -1/-2 mean the server default; runner options ignored', () => {
    const r = parseOllamaChat({ model: 'm', messages: user, options: { num_predict: -1, num_ctx: 8192, use_mmap: false } }, limits);
    expect(r).toMatchObject({ kind: 'chat', model: 'm', stream: true, maxTokens: undefined, stop: [], messages: user });
    expect(parseOllamaChat({ model: 'm', messages: user, options: { num_predict: -2 } }, limits).maxTokens).toBeUndefined();
    expect(parseOllamaChat({ name: 'm', messages: user, stream: false, keep_alive: '5m', options: { num_predict: 7, stop: 'END', seed: -3, top_p: 0.5, temperature: 0 } }, limits)).toMatchObject({
      model: 'm',
      stream: false,
      maxTokens: 7,
      stop: ['END'],
      seed: -3,
      topP: 0.5,
      temperature: 0,
    });
  });

  it('refuses what it cannot honour, naming the field', () => {
    expect(refusal(() => parseOllamaChat({ model: 'm', messages: [{ role: 'user', content: 'x', images: ['aGk='] }] }, limits))).toMatchObject({ status: 400, code: 'unsupported_parameter', message: expect.stringMatching(/messages\[0\]\.images/) });
    expect(refusal(() => parseOllamaChat({ model: 'm', messages: user, think: true }, limits))).toMatchObject({ code: 'unsupported_parameter', message: expect.stringMatching(/'think'/) });
    expect(refusal(() => parseOllamaChat({ model: 'm', messages: user, options: { num_predict: 0 } }, limits)).message).toMatch(/options\.num_predict' must be positive, -1 or -2/);
    expect(refusal(() => parseOllamaChat({ model: 'm', messages: user, options: { num_predict: 101 } }, limits)).message).toBe("'options.num_predict' must be between -2 and 100, got 101");
    expect(refusal(() => parseOllamaChat({ model: 'm', messages: user, options: { stop: Array(9).fill('x') } }, limits)).message).toMatch(/up to 8 non-empty strings/);
    expect(refusal(() => parseOllamaChat({ model: 'm', messages: user, options: [] }, limits)).message).toBe("'options' must be an object");
    expect(refusal(() => parseOllamaChat({ model: 'm', messages: user, keep_alive: { t: 1 } }, limits)).message).toMatch(/'keep_alive' must be a number or a duration string/);
    expect(refusal(() => parseOllamaChat({ model: 'm', messages: [{ role: 'robot', content: 'x' }] }, limits)).message).toMatch(/messages\[0\]\.role must be one of/);
    expect(refusal(() => parseOllamaChat({ model: 'm', messages: [] }, limits)).message).toMatch(/'messages' is empty/);
    expect(refusal(() => parseOllamaChat({ model: 'x'.repeat(300), messages: user }, limits)).message).toMatch(/longer than 256/);
    expect(refusal(() => parseOllamaGenerate({ model: 'm', prompt: 'x', context: [1, 2, 3] }, limits)).message).toMatch(/'context' is not supported by \/api\/generate: send the conversation to \/api\/chat/);
    expect(refusal(() => parseOllamaGenerate({ model: 'm', prompt: 7 }, limits)).message).toBe("'prompt' must be a string");
  });

  it('generate: raw is a completion, otherwise a system and a user message; an empty prompt only loads', () => {
    expect(parseOllamaGenerate({ model: 'm', prompt: 'p', raw: true }, limits).completion).toMatchObject({ kind: 'completion', prompt: 'p' });
    expect(parseOllamaGenerate({ model: 'm', prompt: 'p', system: 's' }, limits).completion).toMatchObject({ kind: 'chat', messages: [{ role: 'system', content: 's' }, { role: 'user', content: 'p' }] });
    expect(parseOllamaGenerate({ model: 'm' }, limits).loadOnly).toBe(true);
  });

  it('model names: an omitted tag is latest; paths and owner/name ids have no tag', () => {
    expect(sameModel('demo', 'demo:latest')).toBe(true);
    expect(sameModel('demo:latest', 'demo')).toBe(true);
    expect(sameModel('demo:llama', 'demo:llama')).toBe(true);
    expect(sameModel('demo', 'demo:llama')).toBe(false);
    expect(sameModel('owner/name', 'owner/name:latest')).toBe(true);
    expect(sameModel('/models/a:b/llama', '/models/a:b/llama')).toBe(true);
  });

  it('parameter sizes in Ollama style', () => {
    expect([7_423_680, 1_100_048_384, 125_239_296, 999, 12_345, 70_553_706_496].map(formatParameterCount)).toEqual(['7.4M', '1.1B', '125M', '999', '12K', '71B']);
    expect(formatParameterCount(undefined)).toBe('');
  });
});

describe('opshift serve with the ollama client', () => {
  let server: Server;
  let url: string;
  let ollama: Ollama;
  let openai: OpenAI;
  beforeAll(async () => {
    ({ server, url } = await startServer());
    ollama = new Ollama({ host: url });
    openai = new OpenAI({ baseURL: `${url}/v1`, apiKey: 'unused', maxRetries: 0 });
  });
  afterAll(() => server.shutdown());

  it('lists, shows and versions the served model', async () => {
    const { models } = await ollama.list();
    expect(models).toHaveLength(1);
    const m = models[0]!;
    expect(m.name).toBe('demo');
    expect(m.digest).toMatch(/^[0-9a-f]{64}$/);
    expect(m.size).toBeGreaterThan(1_000_000); // the demo weights are ~15 MB
    expect(m.details).toMatchObject({ family: 'llama', format: 'safetensors', parameter_size: '7.4M', quantization_level: 'BF16' });
    const show = await ollama.show({ model: 'demo:latest' }); // the implicit tag names the same model
    expect(show.details.family).toBe('llama');
    const info = show.model_info as unknown as Record<string, unknown>;
    expect(info['general.architecture']).toBe('llama');
    expect(info['llama.context_length']).toBe(256);
    expect(info['general.parameter_count']).toBe(7_423_680);
    expect(show.capabilities).toEqual(['completion']);
    expect((await ollama.version()).version).toBe(VERSION);
    // Ollama tools probe the root (HEAD / is the Go client's heartbeat).
    const root = await fetch(`${url}/`, { method: 'HEAD' });
    expect(root.status).toBe(200);
    expect(await (await fetch(`${url}/`)).text()).toMatch(/^opshift is running/);
  });

  it('chat (not streamed) answers as OpenAI chat does for the same greedy request, with Ollama stats in ns', async () => {
    const messages = [{ role: 'user', content: 'And God said' }];
    const r = await ollama.chat({ model: 'demo', messages, stream: false, options: { temperature: 0, num_predict: 6 } });
    const o = await openai.chat.completions.create({ model: 'demo', messages: [{ role: 'user', content: 'And God said' }], max_tokens: 6, temperature: 0 });
    expect(r.message).toEqual({ role: 'assistant', content: o.choices[0]!.message.content });
    expect(r.done).toBe(true);
    expect(r.done_reason).toBe(o.choices[0]!.finish_reason);
    expect(r.eval_count).toBe(o.usage!.completion_tokens);
    expect(r.prompt_eval_count).toBe(o.usage!.prompt_tokens);
    for (const k of ['total_duration', 'prompt_eval_duration', 'eval_duration'] as const) {
      expect(Number.isInteger(r[k])).toBe(true);
      expect(r[k]).toBeGreaterThan(0);
    }
    expect(r.total_duration).toBeGreaterThanOrEqual(r.eval_duration);
    expect(r.load_duration).toBe(0);
  });

  it('chat streams pieces whose concatenation is the whole answer; only the last says done, with stats', async () => {
    const req = { model: 'demo', messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'In the beginning' }], options: { temperature: 0, num_predict: 8 } };
    const whole = await ollama.chat({ ...req, stream: false });
    const parts = [];
    for await (const p of await ollama.chat({ ...req, stream: true })) parts.push(p);
    expect(parts.length).toBeGreaterThan(2);
    expect(parts.slice(0, -1).every((p) => !p.done && p.message.role === 'assistant')).toBe(true);
    const last = parts.at(-1)!;
    expect(last.done).toBe(true);
    expect(last.message.content).toBe('');
    expect(last.eval_count).toBe(whole.eval_count);
    expect(parts.map((p) => p.message.content).join('')).toBe(whole.message.content);
  });

  it('seeded sampling gives the OpenAI route’s text for the same seed, temperature and top_p', async () => {
    const o = await openai.chat.completions.create({ model: 'demo', messages: [{ role: 'user', content: 'The LORD' }], max_tokens: 10, temperature: 0.9, top_p: 0.95, seed: 1234 });
    const r = await ollama.chat({ model: 'demo', messages: [{ role: 'user', content: 'The LORD' }], stream: false, options: { temperature: 0.9, top_p: 0.95, seed: 1234, num_predict: 10 } });
    expect(r.message.content).toBe(o.choices[0]!.message.content);
  });

  it('generate: raw is a text completion, otherwise system + prompt go through the chat path', async () => {
    const raw = await ollama.generate({ model: 'demo', prompt: 'The LORD is my shepherd', raw: true, stream: false, options: { temperature: 0, num_predict: 8 } });
    const completion = await openai.completions.create({ model: 'demo', prompt: 'The LORD is my shepherd', max_tokens: 8, temperature: 0 });
    expect(raw.response).toBe(completion.choices[0]!.text);
    let streamed = '';
    for await (const p of await ollama.generate({ model: 'demo', prompt: 'The LORD is my shepherd', raw: true, stream: true, options: { temperature: 0, num_predict: 8 } })) streamed += p.response;
    expect(streamed).toBe(raw.response);
    const templated = await ollama.generate({ model: 'demo', system: 'Be brief.', prompt: 'And', stream: false, options: { temperature: 0, num_predict: 6 } });
    const chat = await openai.chat.completions.create({ model: 'demo', messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'And' }], max_tokens: 6, temperature: 0 });
    expect(templated.response).toBe(chat.choices[0]!.message.content);
    // An empty prompt only "loads" the model (how Ollama clients preload one).
    const load = await ollama.generate({ model: 'demo', prompt: '', stream: false });
    expect(load).toMatchObject({ done: true, done_reason: 'load', response: '' });
  });

  it('options.stop cuts the answer before the stop string', async () => {
    const base = await ollama.generate({ model: 'demo', prompt: 'And', raw: true, stream: false, options: { temperature: 0, num_predict: 16 } });
    const text = base.response ?? '';
    expect(text.length).toBeGreaterThan(6);
    const stop = text.slice(Math.floor(text.length / 2), Math.floor(text.length / 2) + 3);
    const cut = await ollama.generate({ model: 'demo', prompt: 'And', raw: true, stream: false, options: { temperature: 0, num_predict: 16, stop: [stop] } });
    expect(cut.response).toBe(text.slice(0, text.indexOf(stop)));
    expect(cut.done_reason).toBe('stop');
  });

  it('client errors are 4xx with {"error"} bodies that the client raises, naming the field', async () => {
    const chat = (extra: Record<string, unknown>) => ollama.chat({ model: 'demo', messages: [{ role: 'user', content: 'x' }], stream: false, ...extra } as Parameters<Ollama['chat']>[0] & { stream: false });
    expect(await statusOf(ollama.chat({ model: 'llama3', messages: [{ role: 'user', content: 'x' }], stream: false }))).toEqual({ status: 404, message: "model 'llama3' not found (this server serves 'demo')" });
    const unsupportedBefore = (await (await fetch(`${url}/metrics`)).json()) as { rejected_by_cause: Record<string, number> };
    const format = await statusOf(chat({ format: 'json' }));
    expect(format.status).toBe(400);
    expect(format.message).toMatch(/'format'.*not supported/);
    expect(await statusOf(chat({ format: { type: 'object' } }))).toMatchObject({ status: 400, message: expect.stringMatching(/JSON schema/) });
    expect(await statusOf(chat({ options: { top_k: 40 } }))).toMatchObject({ status: 400, message: expect.stringMatching(/options\.top_k/) });
    expect(await statusOf(chat({ options: { temperature: 3 } }))).toMatchObject({ status: 400, message: "'options.temperature' must be between 0 and 2, got 3" });
    expect(await statusOf(chat({ options: { num_predict: 1e9 } }))).toMatchObject({ status: 400, message: expect.stringMatching(/options\.num_predict/) });
    expect(await statusOf(chat({ tools: [{ type: 'function', function: { name: 'f' } }] }))).toMatchObject({ status: 400, message: expect.stringMatching(/tools/) });
    // Features this server lacks are counted apart from malformed requests.
    const unsupportedAfter = (await (await fetch(`${url}/metrics`)).json()) as { rejected_by_cause: Record<string, number> };
    expect((unsupportedAfter.rejected_by_cause.unsupported_parameter ?? 0) - (unsupportedBefore.rejected_by_cause.unsupported_parameter ?? 0)).toBe(4);
    // Runner options (context size, threads…) do not change the answer and are accepted.
    expect((await chat({ options: { num_ctx: 4096, num_thread: 2, num_predict: 2 } })).done).toBe(true);
    // Raw HTTP: the body shape, a missing model, a bad stream flag, an unknown /api route.
    const missing = await postJson(url, '/api/chat', { messages: [{ role: 'user', content: 'x' }] });
    expect(missing).toMatchObject({ status: 400, json: { error: "'model' is required (a model name string)" } });
    expect((await postJson(url, '/api/generate', { model: 'demo', prompt: 'x', stream: 'yes' })).status).toBe(400);
    expect((await postJson(url, '/api/generate', { model: 'demo', prompt: 'x', raw: true, system: 's' })).json).toEqual({ error: expect.stringMatching(/'system' cannot be used with 'raw'/) });
    const nope = await postJson(url, '/api/pull', { model: 'demo' });
    expect(nope.status).toBe(404);
    expect(nope.json).toEqual({ error: 'no route POST /api/pull' });
  });

  it('a prompt longer than the context is a 400 before the stream commits; aborting a stream cancels the job', async () => {
    const long = await statusOf(ollama.generate({ model: 'demo', prompt: 'And the '.repeat(400), raw: true, stream: true }));
    expect(long.status).toBe(400);
    const cancelledBefore = server.engine.metrics.cancelled;
    const stream = await ollama.generate({ model: 'demo', prompt: 'And', raw: true, stream: true, options: { temperature: 0, num_predict: 200 } });
    let n = 0;
    for await (const p of stream) {
      expect(p.done).toBe(false); // 200 tokens asked: the stream is cut long before its end
      if (++n === 3) {
        stream.abort(); // closes the connection; pieces already buffered are not read
        break;
      }
    }
    const deadline = Date.now() + 10_000;
    while (server.engine.metrics.cancelled === cancelledBefore && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(server.engine.metrics.cancelled).toBe(cancelledBefore + 1);
    while (server.worker.liveKvCaches > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(server.worker.liveKvCaches).toBe(0);
  });
});
