/**
 * The continuous-batching scheduler in-process (tools/serve/scheduler.ts): requests of different lengths and
 * sampling parameters joining a running batch at different steps produce exactly what each produces alone
 * (greedy and seeded sampling, stop strings, demo Llama and OPT); a cancel mid-batch leaves the others unchanged;
 * a full KV cache refuses with 503 kv_cache_full and a Retry-After, a request larger than the whole budget with a
 * 400; a reused prompt prefix gives the output of a fresh prefill; random cancels leak no cache.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { idsTensor } from '../models/generate.js';
import { loadModel } from '../models/load.js';
import { loadTokenizer } from '../models/tokenizer.js';
import { KvPool } from '../tools/serve/kv_pool.js';
import type { FromWorker, JobDone, JobMessage } from '../tools/serve/protocol.js';
import { Scheduler } from '../tools/serve/scheduler.js';
import type { WorkerContext } from '../tools/serve/scheduler_intake.js';
import { runJob } from '../tools/serve/worker_job.js';

const demo = (name: string) => join(import.meta.dirname, '..', 'models', 'demo', name);
const contexts = new Map<string, WorkerContext>();
function ctxOf(name: string, kvCacheMb?: number): WorkerContext {
  if (!contexts.has(name)) contexts.set(name, { model: loadModel(demo(name)), tokenizer: loadTokenizer(demo(name)), policy: undefined, prefillChunk: 16, templateTimeoutMs: 1000, templateMaxBytes: 1 << 20 });
  return { ...contexts.get(name)!, kvCacheMb };
}

let nextId = 1;
const job = (o: Partial<JobMessage>): JobMessage => ({ type: 'job', id: nextId++, prompt: { kind: 'text', text: 'And God said' }, maxTokens: 12, maxTokensCap: 64, maxPromptTokens: 200, temperature: 0, topP: undefined, seed: undefined, stop: [], ...o });

/** What a job's client sees: the streamed text joined, and its result. */
interface Seen {
  streamed: string;
  done?: JobDone;
  rejected?: Extract<FromWorker, { type: 'rejected' }>['error'];
}

function collector(): { post: (m: FromWorker) => void; seen: Map<number, Seen>; steps: Extract<FromWorker, { type: 'step' }>[] } {
  const seen = new Map<number, Seen>();
  const steps: Extract<FromWorker, { type: 'step' }>[] = [];
  const get = (id: number) => seen.get(id) ?? (seen.set(id, { streamed: '' }), seen.get(id)!);
  return {
    seen,
    steps,
    post: (m) => {
      if (m.type === 'text') get(m.id).streamed += m.text;
      else if (m.type === 'done') get(m.id).done = m.result;
      else if (m.type === 'rejected') get(m.id).rejected = m.error;
      else if (m.type === 'step') steps.push(m);
    },
  };
}

/** The job alone, on a scheduler of its own. */
function alone(ctx: WorkerContext, j: JobMessage): Seen {
  const c = collector();
  runJob(ctx, j, c.post, () => false);
  return c.seen.get(j.id)!;
}

/** What must match between a batched run and a lone run (timings and backend times differ). */
const output = (s: Seen) => ({ streamed: s.streamed, text: s.done?.text, finish: s.done?.finishReason, n: s.done?.completionTokens, prompt: s.done?.promptTokens });

describe('continuous batching: a request does not depend on its batch', () => {
  for (const name of ['llama', 'opt']) {
    it(`${name}: six requests (greedy, seeded sampling, stop strings, different lengths) joining at different steps equal their lone runs`, { timeout: 60_000 }, () => {
      const ctx = ctxOf(name);
      const jobs = [
        job({ prompt: { kind: 'text', text: 'And God said, Let there be light: and there was light.' }, maxTokens: 14 }),
        job({ prompt: { kind: 'text', text: 'In the beginning' }, temperature: 0.9, seed: 7, maxTokens: 10 }),
        job({ prompt: { kind: 'text', text: 'And the LORD spake unto Moses, saying, Speak unto the children of Israel, and say unto them' }, temperature: 0.7, topP: 0.9, seed: 123, maxTokens: 9 }),
        job({ prompt: { kind: 'ids', ids: [5, 6, 7] }, maxTokens: 6 }),
        job({ prompt: { kind: 'text', text: 'Blessed are' }, temperature: 1.3, seed: 99, maxTokens: 16, stop: [' the', 'e'] }),
        job({ prompt: { kind: 'text', text: 'And it came to pass' }, temperature: 0.8, seed: 5, maxTokens: 12 }),
      ];
      const ref = jobs.map((j) => output(alone(ctx, j)));
      const c = collector();
      const s = new Scheduler(ctx, c.post);
      // Two start together, the rest join while the batch runs (mid-prefill and mid-decode).
      const joinAt = [0, 0, 2, 3, 5, 9];
      for (let step = 0; step < 200 && (!s.idle || joinAt.some((t) => t >= step)); step++) {
        jobs.forEach((j, i) => joinAt[i] === step && s.submit(j));
        s.step();
      }
      expect(s.idle).toBe(true);
      expect(jobs.map((j) => output(c.seen.get(j.id)!))).toEqual(ref);
      expect(ref.some((r) => r.finish === 'stop'), 'a stop string or EOS ended one').toBe(true);
      expect(Math.max(...c.steps.map((st) => st.batch)), 'rows decoded together').toBeGreaterThanOrEqual(4);
      expect(s.pool.live).toBe(0);
    });
  }

  it('a cancel mid-batch ends that request at the next step; the others are unchanged', { timeout: 60_000 }, () => {
    const ctx = ctxOf('llama');
    const jobs = [0, 1, 2].map((i) => job({ prompt: { kind: 'text', text: ['And God said', 'In the beginning God created', 'Blessed are the poor'][i]! }, temperature: 0.8, seed: 11 + i, maxTokens: 20 }));
    const ref = jobs.map((j) => output(alone(ctx, j)));
    const c = collector();
    const s = new Scheduler(ctx, c.post);
    jobs.forEach((j) => s.submit(j));
    for (let step = 0; step < 8; step++) s.step();
    const before = c.seen.get(jobs[1]!.id)!.streamed;
    s.cancel(jobs[1]!.id);
    while (!s.idle) s.step();
    const cancelled = c.seen.get(jobs[1]!.id)!;
    expect(cancelled.done).toMatchObject({ finishReason: 'cancelled' });
    expect(cancelled.streamed).toBe(before); // nothing after the cancel
    expect(cancelled.done!.completionTokens).toBeLessThan(20);
    expect(output(c.seen.get(jobs[0]!.id)!)).toEqual(ref[0]);
    expect(output(c.seen.get(jobs[2]!.id)!)).toEqual(ref[2]);
    expect(s.pool.live).toBe(0);
  });
});

describe('KV cache budget', () => {
  it('a request that does not fit beside the running ones gets 503 kv_cache_full with Retry-After; one larger than the budget a 400', { timeout: 60_000 }, () => {
    // Demo Llama: 4 layers x (k, v) x 2 kv heads x 32 x 4 bytes = 2 KiB per position; 0.25 MiB = 128 positions.
    const ctx = ctxOf('llama', 0.25);
    const c = collector();
    const s = new Scheduler(ctx, c.post);
    const ids = (n: number) => ({ kind: 'ids' as const, ids: Array.from({ length: n }, (_, i) => 100 + i) });
    const a = job({ prompt: ids(10), maxTokens: 50 }); // 60 positions
    const b = job({ prompt: ids(10), maxTokens: 50 }); // 60: fits beside a
    const full = job({ prompt: ids(20), maxTokens: 30 }); // 50: does not fit beside a and b
    const huge = job({ prompt: ids(100), maxTokens: 40 }); // 140 > 128: never fits
    for (const j of [a, b, full, huge]) s.submit(j);
    s.step();
    expect(c.seen.get(full.id)!.rejected).toMatchObject({ status: 503, code: 'kv_cache_full' });
    expect(c.seen.get(full.id)!.rejected!.retryAfterS).toBeGreaterThanOrEqual(1);
    expect(c.seen.get(full.id)!.rejected!.message).toMatch(/the KV cache is full: prompt \(20 tokens\) \+ max_tokens \(30\) need 0\.1 MiB of KV cache, 0\.0 of 0\.3 MiB \(--kv-cache-mb\) are free while 2 requests run; retry after \d+ s/);
    expect(c.seen.get(huge.id)!.rejected).toMatchObject({ status: 400, code: 'kv_cache_too_small', param: 'max_tokens' });
    expect(c.seen.get(huge.id)!.rejected!.message).toMatch(/more than the server's whole budget of 0\.3 MiB \(--kv-cache-mb\)/);
    while (!s.idle) s.step();
    expect(c.seen.get(a.id)!.done).toMatchObject({ finishReason: expect.stringMatching(/length|stop/) });
    // Running requests are gone: the same request now fits (kept prefixes are evicted for it).
    const again = job({ prompt: ids(20), maxTokens: 30 });
    s.submit(again);
    while (!s.idle) s.step();
    expect(c.seen.get(again.id)!.done).toBeDefined();
    expect(s.pool.used).toBe(s.pool.keptBytes);
    expect(s.pool.used).toBeLessThanOrEqual(s.pool.budget);
  });

  it('random cancels and finishes over many requests leak no cache; the pool accounts every byte', { timeout: 60_000 }, () => {
    const ctx = ctxOf('opt', 0.5);
    const c = collector();
    const s = new Scheduler(ctx, c.post);
    let seed = 12345;
    const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const submitted: JobMessage[] = [];
    for (let step = 0; step < 120; step++) {
      if (rand() < 0.3) {
        const j = job({ prompt: { kind: 'ids', ids: Array.from({ length: 1 + Math.floor(rand() * 40) }, () => 10 + Math.floor(rand() * 50)) }, maxTokens: 1 + Math.floor(rand() * 20), temperature: rand() < 0.5 ? 0 : 0.9, seed: step });
        submitted.push(j);
        s.submit(j);
      }
      if (rand() < 0.15 && submitted.length > 0) s.cancel(submitted[Math.floor(rand() * submitted.length)]!.id);
      s.step();
    }
    while (!s.idle) s.step();
    const ends = submitted.map((j) => c.seen.get(j.id)!);
    expect(ends.every((e) => e.done !== undefined || e.rejected !== undefined)).toBe(true);
    expect(ends.filter((e) => e.done?.finishReason === 'cancelled').length).toBeGreaterThan(0);
    expect(s.pool.live).toBe(0);
    expect(s.pool.used).toBe(s.pool.keptBytes);
    s.pool.clearKept();
    expect(s.pool.used).toBe(0);
  });
});

describe('prefix reuse', () => {
  it("a conversation's second turn reuses the first turn's keys and gives the output of a fresh prefill", { timeout: 60_000 }, () => {
    const tok = ctxOf('llama').tokenizer!;
    // No tokenizer in the worker: the reply comes back as its ids, so the second turn can carry them exactly.
    const ctx = { ...ctxOf('llama'), tokenizer: undefined };
    const c = collector();
    const s = new Scheduler(ctx, c.post);
    const turn1 = tok.encode('And God said, Let there be light: and there was light. And God saw the light, that it was good.');
    const first = job({ prompt: { kind: 'ids', ids: turn1 }, maxTokens: 10 });
    s.submit(first);
    while (!s.idle) s.step();
    expect(s.pool.kept).toBe(1);
    const reply = c.seen.get(first.id)!.done!.text.split(' ').map(Number);
    const turn2 = [...turn1, ...reply, ...tok.encode(' And the evening and the morning', { addSpecialTokens: false })];
    for (const params of [{ temperature: 0 }, { temperature: 0.9, seed: 3 }]) {
      const second = job({ prompt: { kind: 'ids', ids: turn2 }, maxTokens: 12, ...params });
      s.submit(second);
      while (!s.idle) s.step();
      const reused = c.seen.get(second.id)!;
      // Everything the first turn fed through the model is reused: its prompt and all replies but the last.
      expect(reused.done!.reusedPrompt).toBeGreaterThanOrEqual(turn1.length + reply.length - 1);
      const fresh = alone(ctx, { ...second, id: nextId++ });
      expect(fresh.done!.reusedPrompt).toBe(0);
      expect(output(reused)).toEqual(output(fresh));
    }
    expect(s.pool.hits).toBe(2);
  });

  it('the pool matches the longest kept prefix, never the whole prompt, and evicts least recently used first', { timeout: 60_000 }, () => {
    const model = ctxOf('llama').model;
    const pool = new KvPool(model, 64 * 2048); // 64 positions
    const run = (ids: number[], capacity: number) => {
      const lease = pool.acquire(ids, capacity);
      if ('refused' in lease) throw new Error(lease.refused);
      model.forward(idsTensor(ids.slice(lease.reused)), { cache: lease.cache });
      pool.release(lease.cache, ids);
      return lease.reused;
    };
    expect(run([1, 2, 3, 4, 5, 6], 8)).toBe(0);
    expect(run([1, 2, 3, 9, 9], 8)).toBe(3); // shares 1, 2, 3
    expect(run([1, 2, 3, 4, 5, 6], 8)).toBe(5); // the whole prompt matches: its last token still runs
    expect(pool.kept).toBe(2);
    // A 60-position request needs the room of both kept prefixes: they are evicted, least recently used first.
    const big = pool.acquire([7, 7, 7], 60);
    expect('refused' in big).toBe(false);
    expect(pool.kept).toBe(0);
    if (!('refused' in big)) pool.release(big.cache, undefined);
    expect(pool.used).toBe(0);
    expect(pool.acquire([1], 65)).toMatchObject({ refused: 'too_long' });
  });
});
