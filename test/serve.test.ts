/**
 * `opshift serve` on loopback with the shipped demo Llama (in the server's model worker), driven by the
 * official `openai` client: chat, completions, streaming, stop strings, errors; a bounded load test with
 * clients disconnecting mid-stream (no KV cache may leak); 429/413/401. Abuse, limits and the fuzz suite are
 * in serve_limits, serve_untrusted and serve_fuzz.
 */
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Server } from '../tools/serve/server.js';
import { sseData, startServer as start } from './serve_helpers.js';

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
    expect(list.data.map((m) => m.id)).toEqual(['demo']);
  });

  it('chat completion (non-streaming) with usage; greedy is deterministic', async () => {
    const ask = () => client.chat.completions.create({ model: 'demo', messages: [{ role: 'user', content: 'And God said' }], max_tokens: 6, temperature: 0 });
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
      model: 'demo',
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
    const full = await client.completions.create({ model: 'demo', prompt: 'The LORD is my shepherd', max_tokens: 10, temperature: 0 });
    expect(full.object).toBe('text_completion');
    const stream = await client.completions.create({ model: 'demo', prompt: 'The LORD is my shepherd', max_tokens: 10, temperature: 0, stream: true });
    let text = '';
    for await (const c of stream) text += c.choices[0]?.text ?? '';
    expect(text).toBe(full.choices[0]!.text);
  });

  it('stop strings cut the text before the stop, also when streaming', async () => {
    const base = await client.completions.create({ model: 'demo', prompt: 'And', max_tokens: 16, temperature: 0 });
    const text = base.choices[0]!.text;
    const stop = text.slice(Math.floor(text.length / 2), Math.floor(text.length / 2) + 3);
    expect(stop.length).toBe(3);
    const cut = await client.completions.create({ model: 'demo', prompt: 'And', max_tokens: 16, temperature: 0, stop: [stop] });
    expect(cut.choices[0]!.text).toBe(text.slice(0, text.indexOf(stop)));
    expect(cut.choices[0]!.finish_reason).toBe('stop');
    const stream = await client.completions.create({ model: 'demo', prompt: 'And', max_tokens: 16, temperature: 0, stop, stream: true });
    let streamed = '';
    for await (const c of stream) streamed += c.choices[0]?.text ?? '';
    expect(streamed).toBe(cut.choices[0]!.text);
  });

  it('errors come back as OpenAI errors with 4xx statuses', async () => {
    await expect(client.chat.completions.create({ model: 'gpt-9', messages: [{ role: 'user', content: 'x' }] })).rejects.toMatchObject({ status: 404, code: 'model_not_found' });
    await expect(client.chat.completions.create({ model: 'demo', messages: [] })).rejects.toMatchObject({ status: 400, param: 'messages' });
    await expect(client.chat.completions.create({ model: 'demo', messages: [{ role: 'user', content: 'x' }], temperature: 7 })).rejects.toMatchObject({ status: 400, param: 'temperature' });
    await expect(client.completions.create({ model: 'demo', prompt: 'x', max_tokens: 100000 })).rejects.toMatchObject({ status: 400, param: 'max_tokens' });
    await expect(client.completions.create({ model: 'demo', prompt: [5, 99999] })).rejects.toMatchObject({ status: 400, param: 'prompt' });
  });

  it('answers /health and /metrics', async () => {
    const h = await (await fetch(`${url}/health`)).json();
    expect(h).toMatchObject({ status: 'ok', model: 'demo' });
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
    const body = (i: number) => JSON.stringify({ model: 'demo', prompt: `Verse ${i}`, max_tokens: 24, stream: true, temperature: 0.7, seed: i });
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
    expect(server.worker.liveKvCaches).toBe(0);
    expect(server.engine.metrics.cancelled).toBeGreaterThan(0);
    const after = await fetch(`${url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ prompt: 'Amen', max_tokens: 2 }) });
    expect(after.status).toBe(200);
    await server.shutdown();
  });

  it('429 when the queue is full, 413 for oversized bodies, 401 without the API key', { timeout: 30_000 }, async () => {
    const { server, url } = await start({ maxQueue: 1, maxBatch: 1, maxBodyBytes: 4096, apiKey: 'k' });
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
});

describe('opshift serve with the shipped demo model', () => {
  it('an OpenAI client chats with demo:llama and gets KJV-like text', { timeout: 60_000 }, async () => {
    const { server, url } = await start({ model: 'demo:llama', modelName: 'demo:llama' });
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
