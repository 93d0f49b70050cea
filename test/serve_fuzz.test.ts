/**
 * Bounded fuzz of `opshift serve` request bodies (issue #15 design asks): ~300 cases from a fixed, printed seed
 * (SERVE_FUZZ_SEED overrides it) against a temp copy of the demo Llama with a Llama-2 style chat template that
 * raises on bad role order. Bodies are random JSON shapes, valid requests with mutated fields (huge, negative,
 * fractional, NaN-like, unicode, long, wrong types), truncated JSON, random bytes, deep nesting and wrong
 * content types, streamed and not. Every case must end, within its own timeout, in a clear 4xx error body or a
 * well-formed result (usage consistent, max_tokens respected, streams ending in [DONE] with no error event);
 * never a 5xx, never a hang. The whole file stays under a time budget; the summary line is printed.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Server } from '../tools/serve/server.js';
import { demoCopy, sseData, startServer } from './serve_helpers.js';
import { rng } from './fuzz/rng.js';

const SEED = Number(process.env.SERVE_FUZZ_SEED ?? 20260415);
const CASES = 300;
const CASE_TIMEOUT_MS = 10_000;
const BUDGET_MS = 40_000;
const CAP = 4; // --max-tokens: also what a request without max_tokens gets

const LLAMA2_TEMPLATE =
  "{{ bos_token }}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}" +
  "{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] | trim + ' [/INST]' }}{% elif message['role'] == 'assistant' %}{{ ' ' + message['content'] | trim + ' ' + eos_token }}{% endif %}{% endfor %}";


describe('fuzzed request bodies', () => {
  let server: Server;
  let url: string;
  let cleanup: () => void;
  beforeAll(async () => {
    const copy = demoCopy({ chatTemplate: LLAMA2_TEMPLATE });
    cleanup = copy.cleanup;
    ({ server, url } = await startServer({ model: copy.dir, maxTokens: CAP, maxBodyBytes: 64 * 1024, maxQueue: 64 }));
  }, 60_000);
  afterAll(async () => {
    await server.shutdown();
    cleanup();
  });

  it(`${CASES} cases from seed ${SEED}: a clear 4xx or a correct result, no 5xx, no hang`, { timeout: BUDGET_MS + 20_000 }, async () => {
    console.log(`serve fuzz seed ${SEED} (set SERVE_FUZZ_SEED to replay another)`);
    const rnd = rng(SEED);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
    const int = (n: number) => Math.floor(rnd() * n);
    const strAtoms = ['', 'x', 'user', 'assistant', 'system', 'tool', 'developer', 'demo', 'And God said', '\u0000\u0001', '😀🙏', 'ﬁ e\u0301', '<s>', '</s>', '[INST]', '{{ 7*7 }}', '{% for i in range(9) %}', '\ud800', 'a'.repeat(3000)];
    const numAtoms = [0, -0, 1, -1, 2, 3, 0.5, 1.5, -1e-9, 1e-300, 1e308, -1e308, 2 ** 31, 2 ** 32, 2 ** 53, 2 ** 63, -(2 ** 63), 2 ** 64, 31999, 32000, 255, 256, 1e6];
    const atom = (): unknown => (rnd() < 0.4 ? pick(strAtoms) : rnd() < 0.7 ? pick(numAtoms) : pick([null, true, false, [], {}, 'NaN', 'Infinity']));
    const keys = ['model', 'messages', 'prompt', 'max_tokens', 'max_completion_tokens', 'temperature', 'top_p', 'stream', 'stop', 'seed', 'n', 'stream_options', 'role', 'content', '__proto__', 'constructor', 'logprobs', 'tools'];
    const value = (d: number): unknown => {
      const r = rnd();
      if (d > 3 || r < 0.5) return atom();
      if (r < 0.75) return Array.from({ length: int(4) }, () => value(d + 1));
      return Object.fromEntries(Array.from({ length: int(5) }, () => [pick(keys), value(d + 1)]));
    };
    const message = (i: number): unknown => {
      const r = rnd();
      if (r < 0.7) return { role: i % 2 === 0 ? 'user' : 'assistant', content: pick(strAtoms.slice(0, 12)) };
      if (r < 0.8) return { role: pick(['user', 'system', 'assistant', 'tool', 'bot', 5]), content: [{ type: 'text', text: 'In the beginning' }, { type: pick(['text', 'image_url']), text: pick(strAtoms) }] };
      return value(2);
    };
    const validBase = (chat: boolean): Record<string, unknown> =>
      chat
        ? { model: 'demo', messages: Array.from({ length: 1 + int(3) }, (_, i) => message(i)), max_tokens: 1 + int(CAP) }
        : { model: 'demo', prompt: rnd() < 0.7 ? pick(strAtoms.slice(0, 12)) : Array.from({ length: 1 + int(6) }, () => pick([1, 2, 450, 31999, 32000, -1, 1.5, 2 ** 53])), max_tokens: 1 + int(CAP) };
    const mutate = (o: Record<string, unknown>) => {
      for (let k = int(3); k > 0; k--) {
        const key = pick(keys);
        if (rnd() < 0.2) delete o[key];
        else o[key] = rnd() < 0.7 ? atom() : value(1);
      }
      if (rnd() < 0.3) o.stream = true;
      if (rnd() < 0.2) o.stream_options = { include_usage: rnd() < 0.5 };
      if (rnd() < 0.2) o.stop = pick([['the'], 'LORD', ['', 'x'], [1], ['a', 'b', 'c', 'd', 'e'], 'x'.repeat(200)]);
      if (rnd() < 0.2) delete o.max_tokens; // the server's cap applies
    };

    const tally = { cases: 0, ok: 0, cleanErrors: 0, fivexx: 0, hangs: 0, statuses: {} as Record<number, number> };
    const t0 = performance.now();
    for (let i = 0; i < CASES && performance.now() - t0 < BUDGET_MS; i++) {
      const chat = rnd() < 0.5;
      const path = chat ? '/v1/chat/completions' : '/v1/completions';
      let raw: string;
      let contentType = 'application/json';
      const r = rnd();
      let requested: Record<string, unknown> | undefined;
      if (r < 0.08) raw = Array.from({ length: int(60) }, () => String.fromCharCode(int(256))).join('');
      else if (r < 0.16) raw = JSON.stringify(validBase(chat)).slice(0, int(40));
      else if (r < 0.2) raw = '['.repeat(2000 + int(20_000)) + ']'.repeat(int(3));
      else if (r < 0.3) raw = JSON.stringify(value(0)) ?? 'null';
      else {
        requested = validBase(chat);
        mutate(requested);
        raw = JSON.stringify(requested);
      }
      if (rnd() < 0.05) contentType = pick(['text/plain', 'application/x-www-form-urlencoded', '']);
      tally.cases++;
      const label = `case ${i} (seed ${SEED}) ${path} ${contentType}: ${raw.slice(0, 300)}`;
      let res: Response;
      let text: string;
      try {
        res = await fetch(`${url}${path}`, { method: 'POST', headers: contentType ? { 'content-type': contentType } : {}, body: raw, signal: AbortSignal.timeout(CASE_TIMEOUT_MS) });
        text = await res.text();
      } catch (e) {
        tally.hangs++;
        throw new Error(`${label}: no answer within ${CASE_TIMEOUT_MS} ms (${(e as Error).message})`);
      }
      tally.statuses[res.status] = (tally.statuses[res.status] ?? 0) + 1;
      if (res.status >= 500) tally.fivexx++;
      expect(res.status, `${label} -> ${text.slice(0, 300)}`).toBeLessThan(500);
      if (res.status >= 400) {
        const err = (JSON.parse(text) as { error?: { message?: unknown; type?: unknown } }).error;
        expect(typeof err?.message === 'string' && err.message.length > 0 && typeof err.type === 'string', `${label} -> ${text.slice(0, 300)}`).toBe(true);
        tally.cleanErrors++;
        continue;
      }
      expect(res.status, label).toBe(200);
      const maxTokens = typeof requested?.max_completion_tokens === 'number' ? requested.max_completion_tokens : typeof requested?.max_tokens === 'number' ? requested.max_tokens : CAP;
      if (res.headers.get('content-type')?.startsWith('text/event-stream')) {
        const events = sseData(text);
        expect(events.at(-1), label).toBe('[DONE]');
        const chunks = events.slice(0, -1).map((e) => JSON.parse(e) as Record<string, unknown>);
        for (const c of chunks) expect(c, `${label}: error event inside a 200 stream`).not.toHaveProperty('error');
        expect(chunks.flatMap((c) => (c.choices as { finish_reason: string | null }[]).map((x) => x.finish_reason)).filter(Boolean), label).toHaveLength(1);
      } else {
        const body = JSON.parse(text) as { choices: { text?: string; message?: { content: string } }[]; usage: { prompt_tokens: number; completion_tokens: number; total_tokens: number } };
        const out = body.choices[0]!;
        expect(typeof (out.text ?? out.message?.content), label).toBe('string');
        expect(body.usage.total_tokens, label).toBe(body.usage.prompt_tokens + body.usage.completion_tokens);
        expect(body.usage.completion_tokens, label).toBeLessThanOrEqual(Math.min(maxTokens, CAP));
        expect(body.usage.prompt_tokens, label).toBeGreaterThan(0);
      }
      tally.ok++;
    }
    const ms = performance.now() - t0;
    const health = await fetch(`${url}/health`);
    const metrics = (await (await fetch(`${url}/metrics`)).json()) as { live_kv_caches: number; failed: number };
    console.log(
      `serve fuzz seed ${SEED}: ${tally.cases} cases in ${(ms / 1000).toFixed(1)} s: ${tally.ok} results, ${tally.cleanErrors} clean errors, ${tally.fivexx} 5xx, ${tally.hangs} hangs; statuses ${JSON.stringify(tally.statuses)}`,
    );
    expect(tally.cases).toBeGreaterThanOrEqual(Math.min(CASES, 100));
    expect(tally.ok).toBeGreaterThan(0);
    expect(tally.cleanErrors).toBeGreaterThan(0);
    expect(health.status).toBe(200);
    expect(metrics.live_kv_caches).toBe(0);
    expect(metrics.failed).toBe(0);
  });
});
