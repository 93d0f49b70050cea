/**
 * Untrusted computations in `opshift serve` (issue #15 items 1 and 7): a chat template and a tokenizer.json
 * from the model folder run on client input. A temp copy of the demo Llama gets a chat template with a
 * `range(5000000)` loop, a nested loop, a doubling string and a `raise_exception`, and a Split pre-tokenizer
 * with a catastrophic-backtracking regex. Each is a 400 naming its budget, quickly; the ReDoS hang is killed
 * by the watchdog, a fresh worker takes over, and the server answers throughout.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Server } from '../tools/serve/server.js';
import { demoCopy, postJson, startServer } from './serve_helpers.js';

const TEMPLATE = [
  '{% for m in messages %}',
  "{% if m.content == 'LOOP' %}{% for i in range(5000000) %}x{% endfor %}",
  "{% elif m.content == 'SPIN' %}{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
  "{% elif m.content == 'GROW' %}{% set ns = namespace(s='ab') %}{% for i in range(40) %}{% set ns.s = ns.s + ns.s %}{% endfor %}{{ ns.s }}",
  '{% endif %}',
  "{% if (m.role == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}",
  '[{{ m.role }}] {{ m.content }}\n',
  '{% endfor %}{% if add_generation_prompt %}[assistant]{% endif %}',
].join('');

// (a+)+$ backtracks exponentially on a run of a's that is not at the end of the text.
const REDOS = { type: 'Split', pattern: { Regex: '(a+)+$' }, behavior: 'Isolated', invert: false };
const TEMPLATE_MS = 300;
const TOKENIZE_MS = 500;

describe('untrusted chat templates and tokenizer regexes', () => {
  let server: Server;
  let url: string;
  let cleanup: () => void;
  beforeAll(async () => {
    const copy = demoCopy({ chatTemplate: TEMPLATE, preTokenizer: REDOS });
    cleanup = copy.cleanup;
    ({ server, url } = await startServer({ model: copy.dir, templateTimeoutMs: TEMPLATE_MS, tokenizeTimeoutMs: TOKENIZE_MS, templateMaxBytes: 100_000 }));
  }, 60_000);
  afterAll(async () => {
    await server.shutdown();
    cleanup();
  });

  const chat = (content: string, extra: Record<string, unknown> = {}) => postJson(url, '/v1/chat/completions', { messages: [{ role: 'user', content }], max_tokens: 3, ...extra });
  const timed = async <T>(p: Promise<T>): Promise<[T, number]> => {
    const t0 = performance.now();
    const v = await p;
    return [v, performance.now() - t0];
  };

  it('a normal chat renders and generates', async () => {
    const r = await chat('And God said');
    expect(r.status, r.text).toBe(200);
  });

  it('{% for i in range(5000000) %} is a 400 at once; the server keeps answering', { timeout: 30_000 }, async () => {
    const [r, ms] = await timed(chat('LOOP'));
    console.log(`range(5000000) template: ${r.status} in ${ms.toFixed(0)} ms`);
    expect(r.status).toBe(400);
    expect(r.json).toMatchObject({ error: { code: 'template_budget_exceeded', param: 'messages' } });
    expect((r.json as { error: { message: string } }).error.message).toMatch(/range\(\) of 5000000 items/);
    expect(ms).toBeLessThan(1000);
    expect((await fetch(`${url}/health`)).status).toBe(200);
    expect((await chat('Amen')).status).toBe(200);
  });

  it('a template that loops past --template-timeout-ms is a 400 naming the budget', { timeout: 30_000 }, async () => {
    const [r, ms] = await timed(chat('SPIN'));
    console.log(`nested-loop template: ${r.status} in ${ms.toFixed(0)} ms (budget ${TEMPLATE_MS} ms)`);
    expect(r.status).toBe(400);
    expect(r.json).toMatchObject({ error: { code: expect.stringMatching(/^template_(budget_exceeded|timeout)$/) } });
    expect((r.json as { error: { message: string } }).error.message).toMatch(/300 ms/);
    expect(ms).toBeLessThan(TEMPLATE_MS + 2000);
  });

  it('a template that builds a huge string is a 400 naming the size budget', { timeout: 30_000 }, async () => {
    const r = await chat('GROW');
    expect(r.status).toBe(400);
    expect((r.json as { error: { message: string } }).error.message).toMatch(/100000-byte template output budget/);
  });

  it("the template's raise_exception is a 400 with its message, streamed or not", { timeout: 30_000 }, async () => {
    for (const stream of [false, true]) {
      const r = await postJson(url, '/v1/chat/completions', { messages: [{ role: 'assistant', content: 'Hi' }], stream });
      expect(r.status, `stream ${stream}`).toBe(400);
      expect(r.json).toMatchObject({ error: { code: 'template_error', param: 'messages' } });
      expect((r.json as { error: { message: string } }).error.message).toMatch(/Conversation roles must alternate/);
    }
  });

  it('a ReDoS pre-tokenizer regex is stopped at --tokenize-timeout-ms: 400, fresh worker, queued requests still served', { timeout: 60_000 }, async () => {
    const restarts = server.worker.restarts;
    const evil = 'a'.repeat(48) + '!';
    const t0 = performance.now();
    const pending = postJson(url, '/v1/completions', { prompt: evil, max_tokens: 2 });
    const queued = postJson(url, '/v1/completions', { prompt: 'And God said', max_tokens: 2 });
    const probes: number[] = [];
    while (performance.now() - t0 < TOKENIZE_MS) {
      const p0 = performance.now();
      expect((await fetch(`${url}/health`)).status).toBe(200);
      probes.push(performance.now() - p0);
      await new Promise((r) => setTimeout(r, 25));
    }
    const r = await pending;
    const ms = performance.now() - t0;
    console.log(`ReDoS tokenizer: ${r.status} in ${ms.toFixed(0)} ms (budget ${TOKENIZE_MS} ms); /health max ${Math.max(...probes).toFixed(1)} ms over ${probes.length} probes meanwhile`);
    expect(r.status).toBe(400);
    expect(r.json).toMatchObject({ error: { code: 'tokenize_timeout' } });
    expect((r.json as { error: { message: string } }).error.message).toMatch(/500 ms budget \(--tokenize-timeout-ms\)/);
    expect(ms).toBeLessThan(TOKENIZE_MS + 1500);
    expect(Math.max(...probes)).toBeLessThan(50);
    const after = await queued;
    expect(after.status, after.text).toBe(200);
    expect(server.worker.restarts).toBe(restarts + 1);
    const chatEvil = await chat(evil);
    expect(chatEvil.status).toBe(400);
    expect(chatEvil.json).toMatchObject({ error: { code: 'tokenize_timeout' } });
    const m = (await (await fetch(`${url}/metrics`)).json()) as { worker_restarts: number; rejected_by_cause: Record<string, number> };
    expect(m.worker_restarts).toBe(restarts + 2);
    expect(m.rejected_by_cause.tokenize_timeout).toBe(2);
    expect((await chat('Amen')).status).toBe(200);
  });
});
