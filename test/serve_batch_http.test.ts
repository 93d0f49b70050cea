/**
 * Continuous batching through the HTTP server on the demo Llama: concurrent streaming requests with different
 * parameters get the text each gets alone, and /metrics-side engine counters see batches larger than one; with a
 * 1 MiB --kv-cache-mb, requests that do not fit beside the running ones get 503 kv_cache_full with a Retry-After
 * header; clients that hang up mid-stream at random leave no KV cache behind and no 5xx.
 */
import { describe, expect, it } from 'vitest';
import { postJson, sseData, startServer } from './serve_helpers.js';

interface Completion {
  choices: { text: string; finish_reason: string }[];
}

const PROMPTS = ['And God said', 'In the beginning God created the heaven', 'Blessed are the poor in spirit: for theirs is', 'And the LORD spake unto Moses, saying', 'Thou shalt love'];
const params = (i: number) => ({ prompt: PROMPTS[i % PROMPTS.length], max_tokens: 10 + 3 * i, ...(i % 2 === 0 ? { temperature: 0 } : { temperature: 0.8, top_p: 0.95, seed: 100 + i }) });

describe('opshift serve with continuous batching', () => {
  it('six concurrent streams with different parameters get the text each gets alone; steps batch several rows', { timeout: 120_000 }, async () => {
    const { server, url } = await startServer({ maxBatch: 8 });
    try {
      const alone: string[] = [];
      for (let i = 0; i < 6; i++) {
        const r = await postJson(url, '/v1/completions', params(i));
        expect(r.status, r.text).toBe(200);
        alone.push((r.json as Completion).choices[0]!.text);
      }
      const together = await Promise.all(
        Array.from({ length: 6 }, async (_, i) => {
          const r = await postJson(url, '/v1/completions', { ...params(i), stream: true });
          expect(r.status, r.text).toBe(200);
          return sseData(r.text)
            .filter((d) => d !== '[DONE]')
            .map((d) => (JSON.parse(d) as Completion).choices[0]?.text ?? '')
            .join('');
        }),
      );
      expect(together).toEqual(alone);
      const m = server.engine.metrics;
      expect(Math.max(...Object.keys(m.batchSizes).map(Number)), 'a decode step ran several rows').toBeGreaterThan(1);
      expect(m.interTokenMs.length).toBeGreaterThan(0);
      expect(m.kvCacheBytesBudget).toBe(1024 * 2 ** 20);
      expect(m.active).toBe(0);
      expect(server.worker.liveKvCaches).toBe(0);
    } finally {
      await server.shutdown();
    }
  });

  it('a full KV cache answers 503 kv_cache_full with Retry-After; the admitted requests finish', { timeout: 120_000 }, async () => {
    // Demo Llama: 2 KiB per position, so 1 MiB holds 512 positions: two requests of ~250 positions fit, not three.
    const { server, url } = await startServer({ kvCacheMb: 1, maxBatch: 8 });
    try {
      const ids = Array.from({ length: 10 }, (_, i) => 300 + i);
      const res = await Promise.all(Array.from({ length: 4 }, () => fetch(`${url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ prompt: ids, max_tokens: 240, temperature: 0 }) })));
      const statuses = res.map((r) => r.status).sort();
      expect(statuses).toEqual([200, 200, 503, 503]);
      for (const r of res) {
        const body = (await r.json()) as { error?: { code: string; message: string } };
        if (r.status !== 503) continue;
        expect(Number(r.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
        expect(body.error).toMatchObject({ code: 'kv_cache_full' });
        expect(body.error!.message).toMatch(/the KV cache is full: .* \(--kv-cache-mb\) .* retry after \d+ s/);
      }
      expect(server.engine.metrics.rejectedBy.kv_cache_full).toBe(2);
      expect(server.worker.liveKvCaches).toBe(0);
    } finally {
      await server.shutdown();
    }
  });

  it('clients hanging up mid-stream at random: no 5xx, no KV cache left running', { timeout: 120_000 }, async () => {
    const { server, url } = await startServer({ maxBatch: 8, maxQueue: 64 });
    try {
      let seed = 7;
      const rand = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
      const statuses = await Promise.all(
        Array.from({ length: 16 }, async (_, i) => {
          const ac = new AbortController();
          const hangUp = rand() < 0.5 ? 20 + rand() * 400 : undefined;
          if (hangUp !== undefined) setTimeout(() => ac.abort(), hangUp);
          try {
            const r = await fetch(`${url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ...params(i), max_tokens: 40, stream: true }), signal: ac.signal });
            await r.text();
            return r.status;
          } catch {
            return 'aborted';
          }
        }),
      );
      expect(statuses.filter((s) => typeof s === 'number' && s >= 500)).toEqual([]);
      expect(statuses).toContain(200);
      // The worker reports its caches with each ending; give the last cancels a moment to land.
      for (let t = 0; t < 100 && (server.engine.busy || server.worker.liveKvCaches > 0); t++) await new Promise((r) => setTimeout(r, 50));
      expect(server.engine.busy).toBe(false);
      expect(server.worker.liveKvCaches).toBe(0);
      expect(server.engine.metrics.cancelled).toBeGreaterThan(0);
    } finally {
      await server.shutdown();
    }
  });
});
