/**
 * The model worker's pieces, in-process: chunked prefill gives the logits of an unchunked prefill (Llama and
 * OPT demo models) and a cancel lands within one chunk; OpenAI sampling parameters map onto the sampler
 * (top_p 0 greedy, any int64 seed); chat templates render under their budget; the limits table rejects
 * invalid values; the Host allow-list.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { idsTensor } from '../models/generate.js';
import { loadModel } from '../models/load.js';
import { HfTokenizer, loadTokenizer, TemplateBudgetError, TemplateRaiseError, TemplateRenderError } from '../models/tokenizer.js';
import { hostAllowed, hostName, hostPolicy } from '../tools/serve/host_check.js';
import { LIMITS, resolveLimits } from '../tools/serve/limits.js';
import { runJob, samplingFor, type WorkerContext } from '../tools/serve/worker_job.js';
import type { FromWorker, JobMessage } from '../tools/serve/protocol.js';
import { Sampler } from '../models/sampling.js';

const demo = (name: string) => join(import.meta.dirname, '..', 'models', 'demo', name);

describe('chunked prefill', () => {
  for (const name of ['llama', 'opt']) {
    it(`${name}: the last logits after a prefill in chunks of 1, 7 and 64 equal one unchunked forward`, () => {
      const model = loadModel(demo(name));
      const tok = loadTokenizer(demo(name));
      const prompt = tok.encode('And God said, Let there be light: and there was light. And God saw the light, that it was good.');
      expect(prompt.length).toBeGreaterThan(20);
      const ref = model.forward(idsTensor(prompt), { lastOnly: true }).contiguous().toTypedArray() as Float32Array;
      for (const chunk of [1, 7, 64]) {
        const cache = model.newCache(1, prompt.length);
        let last: Float32Array | undefined;
        for (let s = 0; s < prompt.length; s += chunk) last = model.forward(idsTensor(prompt.slice(s, s + chunk)), { cache, lastOnly: true }).contiguous().toTypedArray() as Float32Array;
        let maxDiff = 0;
        for (let i = 0; i < ref.length; i++) maxDiff = Math.max(maxDiff, Math.abs(ref[i]! - last![i]!));
        expect(maxDiff, `chunk ${chunk}`).toBeLessThan(1e-4);
        cache.dispose();
      }
    });
  }
});

describe('a job in the worker: prompt checks before anything is accepted', () => {
  const ctx: WorkerContext = { model: loadModel(demo('llama')), tokenizer: loadTokenizer(demo('llama')), policy: undefined, prefillChunk: 64, templateTimeoutMs: 1000, templateMaxBytes: 1 << 20 };
  const job = (o: Partial<JobMessage>): JobMessage => ({ type: 'job', id: 1, prompt: { kind: 'text', text: 'And God said' }, maxTokens: undefined, maxTokensCap: 3, maxPromptTokens: 100, temperature: 0, topP: undefined, seed: undefined, stop: [], ...o });
  const run = (o: Partial<JobMessage>, cancelAfter = Infinity) => {
    const out: FromWorker[] = [];
    let polls = 0;
    runJob(ctx, job(o), (m) => out.push(m), () => ++polls > cancelAfter);
    return out;
  };
  const rejection = (out: FromWorker[]) => out.find((m) => m.type === 'rejected');

  it('the default max_tokens is min(--max-tokens, context left); an explicit one over the context is refused', () => {
    const ok = run({});
    expect(ok.find((m) => m.type === 'accepted')).toMatchObject({ maxTokens: 3 });
    expect(ok.at(-1)).toMatchObject({ type: 'done', result: { completionTokens: 3, finishReason: 'length' }, liveKvCaches: 0 });
    const near = run({ prompt: { kind: 'ids', ids: Array.from({ length: 254 }, () => 5) }, maxPromptTokens: 1000 });
    expect(near.find((m) => m.type === 'accepted')).toMatchObject({ maxTokens: 2 }); // 256 positions - 254
    expect(rejection(run({ prompt: { kind: 'ids', ids: Array.from({ length: 250 }, () => 5) }, maxTokens: 7, maxPromptTokens: 1000 }))).toMatchObject({ error: { status: 400, code: 'context_length_exceeded', param: 'max_tokens' } });
    expect(rejection(run({ prompt: { kind: 'ids', ids: Array.from({ length: 256 }, () => 5) }, maxPromptTokens: 1000 }))).toMatchObject({ error: { code: 'context_length_exceeded', param: 'prompt' } });
  });

  it('--max-prompt-tokens: refused by length before tokenizing, or by token count after', () => {
    const long = run({ prompt: { kind: 'text', text: 'x'.repeat(100 * ctx.tokenizer!.maxTokenChars + 1) } });
    expect(long.some((m) => m.type === 'phase' && m.phase === 'tokenize'), 'not tokenized').toBe(false);
    expect(rejection(long)).toMatchObject({ error: { code: 'prompt_too_long', param: 'prompt' } });
    const counted = run({ prompt: { kind: 'text', text: 'And God said, Let there be light. '.repeat(12) } });
    expect(counted.some((m) => m.type === 'phase' && m.phase === 'tokenize')).toBe(true);
    expect(rejection(counted)?.type === 'rejected' && rejection(counted)!.error.message).toMatch(/the prompt is 1\d\d tokens, over the server's limit of 100 \(--max-prompt-tokens\)/);
    expect(rejection(run({ prompt: { kind: 'ids', ids: [1, 32000] } }))).toMatchObject({ error: { code: 'invalid_token_id', param: 'prompt' } });
    expect(rejection(run({ prompt: { kind: 'ids', ids: [] } }))).toMatchObject({ error: { code: 'empty_prompt', param: 'prompt' } });
  });

  it('the prefill chunk size does not change the output: chunks of 1, 4 and a whole prompt give the same greedy text', () => {
    const prompt = { kind: 'text' as const, text: 'In the beginning God created the heaven and the earth.' };
    const done = (prefillChunk: number) => {
      const out: FromWorker[] = [];
      runJob({ ...ctx, prefillChunk }, job({ prompt, maxTokens: 6 }), (m) => out.push(m), () => false);
      return out.at(-1)!;
    };
    const whole = done(1000);
    expect(whole).toMatchObject({ type: 'done', result: { completionTokens: 6, finishReason: 'length' }, liveKvCaches: 0 });
    const text = whole.type === 'done' ? whole.result.text : '';
    expect(text.length).toBeGreaterThan(0);
    for (const chunk of [1, 4]) expect(done(chunk), `chunk ${chunk}`).toMatchObject({ type: 'done', result: { text, completionTokens: 6, prefilled: whole.type === 'done' ? whole.result.prefilled : -1 }, liveKvCaches: 0 });
  });

  it('a cancel lands within one prefill chunk: the job ends cancelled with the prompt partly prefilled', () => {
    const out = run({ prompt: { kind: 'ids', ids: Array.from({ length: 200 }, (_, i) => 100 + i) }, maxPromptTokens: 1000, maxTokens: 4 }, 1);
    expect(out.at(-1)).toMatchObject({ type: 'done', result: { finishReason: 'cancelled', prefilled: 64, promptTokens: 200, completionTokens: 0 }, liveKvCaches: 0 });
  });
});

describe('OpenAI sampling parameters', () => {
  it('top_p 0 and temperature 0 are greedy; every int64 seed maps to its low 32 bits; the sampler accepts all of them', () => {
    expect(samplingFor({ temperature: 0.7, topP: 0, seed: undefined })).toEqual({ greedy: true, seed: undefined });
    expect(samplingFor({ temperature: 0, topP: 0.5, seed: 3 })).toEqual({ greedy: true, seed: 3 });
    expect(samplingFor({ temperature: 0.7, topP: 0.9, seed: -1 })).toEqual({ temperature: 0.7, topP: 0.9, seed: 2 ** 32 - 1 });
    expect(samplingFor({ temperature: 1, topP: undefined, seed: 2 ** 32 + 5 }).seed).toBe(5);
    expect(samplingFor({ temperature: 1, topP: undefined, seed: -(2 ** 63) }).seed).toBe(0);
    for (const s of [-(2 ** 63), -1, 0, 2 ** 53, 2 ** 63]) expect(() => new Sampler(samplingFor({ temperature: 0.5, topP: 1e-9, seed: s }))).not.toThrow();
  });
});

describe('chat template budgets', () => {
  const base = loadTokenizer(demo('llama'));
  const json = JSON.parse(readFileSync(join(demo('llama'), 'tokenizer.json'), 'utf8')) as Record<string, unknown>;
  const withTemplate = (t: string) => new HfTokenizer(base.dir, json, { ...base.config }, t);
  const msgs = [{ role: 'user', content: 'hi' }];
  const budget = { timeMs: 300, maxBytes: 10_000 };

  it('range(5000000) is refused at once, without building the list', () => {
    const tok = withTemplate('{% for i in range(5000000) %}x{% endfor %}');
    const t0 = performance.now();
    expect(() => tok.applyChatTemplate(msgs, { budget })).toThrow(TemplateBudgetError);
    expect(performance.now() - t0).toBeLessThan(200);
  });

  it('nested loops stop at the time budget; a doubling string stops at the size budget', () => {
    const slow = withTemplate('{% for i in range(1000) %}{% for j in range(1000) %}{% for k in range(1000) %}{% endfor %}{% endfor %}{% endfor %}');
    const t0 = performance.now();
    expect(() => slow.applyChatTemplate(msgs, { budget })).toThrow(/longer than the 300 ms template time budget/);
    expect(performance.now() - t0).toBeLessThan(2000);
    const big = withTemplate("{% set ns = namespace(s='ab') %}{% for i in range(40) %}{% set ns.s = ns.s + ns.s %}{% endfor %}{{ ns.s }}");
    expect(() => big.applyChatTemplate(msgs, { budget })).toThrow(/exceeds the 10000-byte template output budget/);
  });

  it('raise_exception and other template failures have their own classes; a good template renders as without a budget', () => {
    expect(() => withTemplate("{{ raise_exception('Conversation roles must alternate') }}").applyChatTemplate(msgs, { budget })).toThrow(TemplateRaiseError);
    expect(() => withTemplate("{{ raise_exception('Conversation roles must alternate') }}").applyChatTemplate(msgs, { budget })).toThrow(/Conversation roles must alternate/);
    expect(() => withTemplate('{{ nothing.here() }}').applyChatTemplate(msgs, { budget })).toThrow(TemplateRenderError);
    const good = withTemplate("{{ bos_token }}{% for m in messages %}[{{ m.role }}] {{ m.content }}{% endfor %}{% if add_generation_prompt %}[assistant]{% endif %}{{ range(3) | length }}{{ true }}");
    const opts = { addGenerationPrompt: true };
    expect(good.applyChatTemplate(msgs, { ...opts, budget })).toBe(good.applyChatTemplate(msgs, opts));
    expect(good.applyChatTemplate(msgs, { ...opts, budget })).toBe('<s>[user] hi[assistant]3true');
  });
});

describe('serve limits and the Host allow-list', () => {
  it('defaults fill in; zero, negative and fractional limits are refused naming the flag', () => {
    const l = resolveLimits({});
    for (const [k, spec] of Object.entries(LIMITS)) expect(l[k as keyof typeof l]).toBe(spec.default);
    expect(() => resolveLimits({ maxTokens: 0 })).toThrow(/--max-tokens 0 must be a positive integer/);
    expect(() => resolveLimits({ requestTimeoutMs: -5 })).toThrow(/--request-timeout-ms -5/);
    expect(() => resolveLimits({ templateMaxBytes: 1.5 })).toThrow(/--template-max-bytes 1.5/);
  });

  it('loopback names and the bound host pass with any port; others need --allow-host; * allows all', () => {
    const p = hostPolicy('127.0.0.1');
    for (const h of ['localhost:8000', '127.0.0.1', '[::1]:8000', 'LOCALHOST']) expect(hostAllowed(p, h), h).toBe(true);
    for (const h of ['evil.example', 'evil.example:8000', 'localhost.evil.example', '10.0.0.1']) expect(hostAllowed(p, h), h).toBe(false);
    expect(hostAllowed(p, undefined)).toBe(true);
    expect(hostAllowed(hostPolicy('myhost.lan'), 'myhost.lan:8000')).toBe(true);
    expect(hostAllowed(hostPolicy('127.0.0.1', ['api.example']), 'api.example:8000')).toBe(true);
    expect(hostAllowed(hostPolicy('127.0.0.1', ['*']), 'anything')).toBe(true);
    expect(hostName('[::1]:80')).toBe('::1');
    expect(hostName('fe80::1')).toBe('fe80::1');
  });
});
