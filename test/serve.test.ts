/**
 * `opshift serve` on loopback, driven by the official `openai` client: chat, completions, streaming, errors;
 * a bounded load test with clients disconnecting mid-stream (no KV cache may leak); 429/413/401; fuzzed bodies
 * never produce a 5xx.
 */
import { join } from 'node:path';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JsonConfig } from '../models/io/checkpoint.js';
import { parseConfig } from '../models/config.js';
import { liveKvCaches } from '../models/generate.js';
import { buildModel } from '../models/load.js';
import { loadTokenizer } from '../models/tokenizer.js';
import { createServer, type Server } from '../tools/serve/server.js';

// A small random Llama with the real Llama 2 vocabulary, so the shipped tokenizer applies.
const config = parseConfig(
  new JsonConfig('test', {
    model_type: 'llama',
    vocab_size: 32000,
    hidden_size: 32,
    intermediate_size: 64,
    num_hidden_layers: 2,
    num_attention_heads: 4,
    num_key_value_heads: 2,
    max_position_embeddings: 512,
    bos_token_id: 1,
    eos_token_id: 2,
  }),
);
const model = buildModel(config).initRandom(3);
const tokenizer = loadTokenizer(join(import.meta.dirname, '..', 'models', 'demo', 'llama'));

async function start(extra: Partial<Parameters<typeof createServer>[0]> = {}): Promise<{ server: Server; url: string }> {
  const server = createServer({ model, tokenizer, modelName: 'tiny', ...extra });
  const url = await server.app.listen({ port: 0, host: '127.0.0.1' });
  return { server, url };
}

/** Parse an SSE body into its data payloads. */
function sseData(body: string): string[] {
  return body
    .split('\n\n')
    .filter((b) => b.startsWith('data: '))
    .map((b) => b.slice(6));
}

describe('opshift serve with the openai client', () => {
  let server: Server;
  let client: OpenAI;
  let url: string;
  beforeAll(async () => {
    ({ server, url } = await start());
    client = new OpenAI({ baseURL: `${url}/v1`, apiKey: 'unused', maxRetries: 0 });
  });
  afterAll(() => server.shutdown());

  it('lists the model', async () => {
    const list = await client.models.list();
    expect(list.data.map((m) => m.id)).toEqual(['tiny']);
  });

  it('chat completion (non-streaming) with usage; greedy is deterministic', async () => {
    const ask = () => client.chat.completions.create({ model: 'tiny', messages: [{ role: 'user', content: 'And God said' }], max_tokens: 6, temperature: 0 });
    const a = await ask();
    expect(a.object).toBe('chat.completion');
    expect(a.choices[0]!.message.role).toBe('assistant');
    expect(typeof a.choices[0]!.message.content).toBe('string');
    expect(a.usage!.completion_tokens).toBeLessThanOrEqual(6);
    expect(a.usage!.prompt_tokens).toBeGreaterThan(2);
    expect(['stop', 'length']).toContain(a.choices[0]!.finish_reason);
    expect((await ask()).choices[0]!.message.content).toBe(a.choices[0]!.message.content);
  });

  it('streams chat chunks: role first, content deltas, a finish reason, usage on request', async () => {
    const stream = await client.chat.completions.create({
      model: 'tiny',
      messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'In the beginning' }],
      max_tokens: 8,
      stream: true,
      stream_options: { include_usage: true },
      seed: 5,
      temperature: 0.8,
      top_p: 0.9,
    });
    const chunks = [];
    for await (const c of stream) chunks.push(c);
    expect(chunks[0]!.choices[0]!.delta.role).toBe('assistant');
    const finishes = chunks.flatMap((c) => c.choices.map((x) => x.finish_reason)).filter(Boolean);
    expect(finishes).toHaveLength(1);
    const usage = chunks.at(-1)!.usage!;
    expect(usage.completion_tokens).toBeGreaterThan(0);
    expect(usage.total_tokens).toBe(usage.prompt_tokens + usage.completion_tokens);
  });

  it('text completion, streaming and not, and the same text both ways', async () => {
    const full = await client.completions.create({ model: 'tiny', prompt: 'The LORD is my shepherd', max_tokens: 10, temperature: 0 });
    expect(full.object).toBe('text_completion');
    const stream = await client.completions.create({ model: 'tiny', prompt: 'The LORD is my shepherd', max_tokens: 10, temperature: 0, stream: true });
    let text = '';
    for await (const c of stream) text += c.choices[0]?.text ?? '';
    expect(text).toBe(full.choices[0]!.text);
  });

  it('stop strings cut the text before the stop, also when streaming', async () => {
    const base = await client.completions.create({ model: 'tiny', prompt: 'And', max_tokens: 16, temperature: 0 });
    const text = base.choices[0]!.text;
    const stop = text.slice(Math.floor(text.length / 2), Math.floor(text.length / 2) + 3);
    expect(stop.length).toBe(3);
    const cut = await client.completions.create({ model: 'tiny', prompt: 'And', max_tokens: 16, temperature: 0, stop: [stop] });
    expect(cut.choices[0]!.text).toBe(text.slice(0, text.indexOf(stop)));
    expect(cut.choices[0]!.finish_reason).toBe('stop');
    const stream = await client.completions.create({ model: 'tiny', prompt: 'And', max_tokens: 16, temperature: 0, stop, stream: true });
    let streamed = '';
    for await (const c of stream) streamed += c.choices[0]?.text ?? '';
    expect(streamed).toBe(cut.choices[0]!.text);
  });

  it('errors come back as OpenAI errors with 4xx statuses', async () => {
    await expect(client.chat.completions.create({ model: 'gpt-9', messages: [{ role: 'user', content: 'x' }] })).rejects.toMatchObject({ status: 404, code: 'model_not_found' });
    await expect(client.chat.completions.create({ model: 'tiny', messages: [] })).rejects.toMatchObject({ status: 400, param: 'messages' });
    await expect(client.chat.completions.create({ model: 'tiny', messages: [{ role: 'user', content: 'x' }], temperature: 7 })).rejects.toMatchObject({ status: 400, param: 'temperature' });
    await expect(client.completions.create({ model: 'tiny', prompt: 'x', max_tokens: 100000 })).rejects.toMatchObject({ status: 400, param: 'max_tokens' });
    await expect(client.completions.create({ model: 'tiny', prompt: [5, 99999] })).rejects.toMatchObject({ status: 400, param: 'prompt' });
  });

  it('answers /health and /metrics', async () => {
    const h = await (await fetch(`${url}/health`)).json();
    expect(h).toMatchObject({ status: 'ok', model: 'tiny' });
    const m = (await (await fetch(`${url}/metrics`)).json()) as Record<string, unknown>;
    expect(m.completion_tokens).toBeGreaterThan(0);
    expect(m.decode_tokens_per_s).toBeGreaterThan(0);
    expect(Object.keys(m.backend_op_ms as object)).toContain('cpu');
    expect(m.live_kv_caches).toBe(0);
  });
});

describe('opshift serve under load and abuse', () => {
  it('survives concurrent streams with mid-stream disconnects: no leaked KV caches, every finished stream well-formed', { timeout: 60_000 }, async () => {
    const { server, url } = await start({ maxQueue: 64 });
    const body = (i: number) => JSON.stringify({ model: 'tiny', prompt: `Verse ${i}`, max_tokens: 24, stream: true, temperature: 0.7, seed: i });
    const runs = Array.from({ length: 12 }, async (_, i) => {
      const ac = new AbortController();
      const res = await fetch(`${url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: body(i), signal: ac.signal });
      expect(res.status).toBe(200);
      if (i % 3 === 0) {
        // Read one chunk, then hang up.
        const reader = res.body!.getReader();
        await reader.read();
        ac.abort();
        return 'aborted';
      }
      const events = sseData(await res.text());
      expect(events.at(-1)).toBe('[DONE]');
      for (const e of events.slice(0, -1)) expect(JSON.parse(e).object).toBe('text_completion');
      expect(JSON.parse(events.at(-2)!).choices[0].finish_reason).toMatch(/^(stop|length)$/);
      return 'done';
    });
    const outcomes = await Promise.all(runs.map((p) => p.catch((e: Error) => (e.name === 'AbortError' ? 'aborted' : Promise.reject(e)))));
    expect(outcomes.filter((o) => o === 'done')).toHaveLength(8);
    // Cancelled generations stop at their next token; wait for the queue to drain.
    for (let t = 0; t < 200 && (server.engine.busy || server.engine.queueLength > 0); t++) await new Promise((r) => setTimeout(r, 25));
    expect(liveKvCaches()).toBe(0);
    expect(server.engine.metrics.cancelled).toBeGreaterThan(0);
    const after = await fetch(`${url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ prompt: 'Amen', max_tokens: 2 }) });
    expect(after.status).toBe(200);
    await server.shutdown();
  });

  it('429 when the queue is full, 413 for oversized bodies, 401 without the API key', { timeout: 30_000 }, async () => {
    const { server, url } = await start({ maxQueue: 1, bodyLimit: 4096, apiKey: 'k' });
    const post = (b: unknown, key = 'k', raw?: string) =>
      fetch(`${url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` }, body: raw ?? JSON.stringify(b) });
    expect((await post({ prompt: 'x', max_tokens: 1 }, 'wrong')).status).toBe(401);
    const statuses = await Promise.all(Array.from({ length: 5 }, () => post({ prompt: 'x', max_tokens: 16 }).then((r) => r.status)));
    expect(statuses).toContain(429);
    expect(statuses).toContain(200);
    const big = await post(undefined, 'k', JSON.stringify({ prompt: 'x'.repeat(10000) }));
    expect(big.status).toBe(413);
    expect(((await big.json()) as { error: { message: string } }).error.message).toBeTruthy();
    expect((await fetch(`${url}/health`)).status).toBe(200);
    await server.shutdown();
  });

  it('fuzzed bodies never produce a 5xx', { timeout: 60_000 }, async () => {
    const { server, url } = await start();
    let seed = 12345;
    const rnd = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32);
    const atoms = [null, true, false, 0, -1, 1.5, 1e308, NaN, '', 'x', 'user', [], {}, [1, 2], { role: 'user' }, { role: 'user', content: 5 }];
    const value = (d: number): unknown => {
      const r = rnd();
      if (d > 2 || r < 0.5) return atoms[Math.floor(rnd() * atoms.length)];
      if (r < 0.75) return Array.from({ length: Math.floor(rnd() * 3) }, () => value(d + 1));
      const keys = ['model', 'messages', 'prompt', 'max_tokens', 'temperature', 'top_p', 'stream', 'stop', 'seed', 'n', 'stream_options', 'role', 'content'];
      return Object.fromEntries(Array.from({ length: Math.floor(rnd() * 5) }, () => [keys[Math.floor(rnd() * keys.length)]!, value(d + 1)]));
    };
    const statuses = new Set<number>();
    for (let i = 0; i < 150; i++) {
      const path = rnd() < 0.5 ? '/v1/chat/completions' : '/v1/completions';
      let raw: string;
      const r = rnd();
      if (r < 0.15) raw = Array.from({ length: Math.floor(rnd() * 40) }, () => String.fromCharCode(Math.floor(rnd() * 256))).join('');
      else if (r < 0.25) raw = JSON.stringify(value(0)).slice(0, Math.floor(rnd() * 30));
      else {
        const v = value(0) as Record<string, unknown> | unknown;
        if (v && typeof v === 'object' && !Array.isArray(v)) (v as Record<string, unknown>).max_tokens = 2; // keep generations short
        raw = JSON.stringify(v) ?? 'null';
      }
      const res = await fetch(`${url}${path}`, { method: 'POST', headers: { 'content-type': rnd() < 0.9 ? 'application/json' : 'text/plain' }, body: raw });
      statuses.add(res.status);
      expect(res.status, `${path} ${raw}`).toBeLessThan(500);
      if (res.status >= 400) expect(((await res.json()) as { error?: unknown }).error, raw).toBeTruthy();
      else await res.text();
    }
    expect([...statuses].some((s) => s >= 400)).toBe(true);
    expect((await fetch(`${url}/health`)).status).toBe(200);
    await server.shutdown();
  });
});

describe('opshift serve with the shipped demo model', () => {
  it('an OpenAI client chats with demo:llama and gets KJV-like text', { timeout: 60_000 }, async () => {
    const { loadModel } = await import('../models/load.js');
    const dir = join(import.meta.dirname, '..', 'models', 'demo', 'llama');
    const server = createServer({ model: loadModel(dir), tokenizer: loadTokenizer(dir), modelName: 'demo:llama' });
    const url = await server.app.listen({ port: 0, host: '127.0.0.1' });
    try {
      const client = new OpenAI({ baseURL: `${url}/v1`, apiKey: 'unused', maxRetries: 0 });
      const r = await client.chat.completions.create({ model: 'demo:llama', messages: [{ role: 'user', content: 'And God said' }], max_tokens: 24, temperature: 0 });
      const text = r.choices[0]!.message.content ?? '';
      expect(text.split(/\s+/).filter((w) => /^[A-Za-z]+[,.;:]?$/.test(w)).length).toBeGreaterThan(8);
      expect(text).toMatch(/\b(the|and|unto|LORD|him)\b/);
    } finally {
      await server.shutdown();
    }
  });
});
