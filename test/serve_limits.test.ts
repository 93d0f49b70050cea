/**
 * Regression tests for issue #15 items 1, 3 and 7 on `opshift serve` (demo Llama, 256 positions): /health
 * stays fast while the longest allowed prompt prefills (p99 printed); an 8,000-token prompt is a 400
 * context_length_exceeded; top_p 0 and negative seeds are valid (never a 500, never an error inside a 200
 * stream); --max-tokens caps requests that omit max_tokens and 0 is refused at startup; /metrics counts 429s;
 * a trickled body gets 408; a foreign Host header gets 403 unless allowed.
 */
import { execFile } from 'node:child_process';
import { connect } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, type Server } from '../tools/serve/server.js';
import { DEMO_LLAMA, postJson, quantile, rawGet, sseData, startServer } from './serve_helpers.js';

const CLI = join(import.meta.dirname, '..', 'dist', 'tools', 'cli.js');

describe('opshift serve limits (issue #15 items 1, 3, 7)', () => {
  let server: Server;
  let url: string;
  beforeAll(async () => {
    ({ server, url } = await startServer({ maxTokens: 5, maxQueue: 1, maxBatch: 1, requestTimeoutMs: 1000, allowHosts: ['api.example'] }));
  });
  afterAll(() => server.shutdown());

  it('/health answers in < 50 ms (p99) while maximal prompts prefill', { timeout: 60_000 }, async () => {
    // The longest prompt the demo model allows with one new token: 255 of its 256 positions.
    const maximal = Array.from({ length: 255 }, (_, i) => 100 + ((i * 37) % 20000));
    let running = true;
    const latencies: number[] = [];
    const poller = (async () => {
      while (running) {
        const t0 = performance.now();
        const h = (await (await fetch(`${url}/health`)).json()) as { busy: boolean };
        const ms = performance.now() - t0;
        if (h.busy) latencies.push(ms);
        await new Promise((r) => setTimeout(r, 5));
      }
    })();
    const t0 = performance.now();
    for (let i = 0; i < 6; i++) {
      const r = await postJson(url, '/v1/completions', { prompt: maximal, max_tokens: 1 });
      expect(r.status, r.text).toBe(200);
      expect((r.json as { usage: { prompt_tokens: number } }).usage.prompt_tokens).toBe(255);
    }
    const busyMs = performance.now() - t0;
    running = false;
    await poller;
    const p99 = quantile(latencies, 0.99);
    console.log(`/health during 6 maximal prefills (255 tokens, ${busyMs.toFixed(0)} ms busy): ${latencies.length} probes, p50 ${quantile(latencies, 0.5).toFixed(1)} ms, p99 ${p99.toFixed(1)} ms, max ${Math.max(...latencies).toFixed(1)} ms`);
    expect(latencies.length).toBeGreaterThan(10);
    expect(p99).toBeLessThan(50);
  });

  it('an 8,000-token prompt is a 400 context_length_exceeded, and /health answers while it is tokenized', { timeout: 60_000 }, async () => {
    const words = 'And the LORD spake unto Moses, saying, Speak unto the children of Israel. ';
    const prompt = words.repeat(Math.ceil(30_000 / words.length)).slice(0, 30_000); // ~8,000 Llama tokens, under --max-prompt-tokens 8192
    const pending = postJson(url, '/v1/completions', { prompt });
    const probes: number[] = [];
    for (let i = 0; i < 10; i++) {
      const t0 = performance.now();
      expect((await fetch(`${url}/health`)).status).toBe(200);
      probes.push(performance.now() - t0);
      await new Promise((r) => setTimeout(r, 20));
    }
    const r = await pending;
    expect(r.status, r.text).toBe(400);
    expect(r.json).toMatchObject({ error: { code: 'context_length_exceeded', param: 'prompt' } });
    expect((r.json as { error: { message: string } }).error.message).toMatch(/prompt \((7[5-9]|8[0-4])\d\d tokens\) leaves no room in the model's 256 positions/);
    const explicit = await postJson(url, '/v1/completions', { prompt: 'And God said', max_tokens: 5, stream: true });
    expect(explicit.status).toBe(200);
    const over = await postJson(url, '/v1/completions', { prompt: Array.from({ length: 253 }, () => 5), max_tokens: 5, stream: true });
    expect(over.status, 'a stream that cannot fit is refused before its 200').toBe(400);
    expect(over.json).toMatchObject({ error: { code: 'context_length_exceeded', param: 'max_tokens' } });
    expect(Math.max(...probes)).toBeLessThan(100);
  });

  it('top_p 0 (greedy) and negative or huge seeds are valid, streamed or not', { timeout: 30_000 }, async () => {
    const greedy = await postJson(url, '/v1/completions', { prompt: 'And God said', max_tokens: 4, temperature: 0 });
    const topP0 = await postJson(url, '/v1/completions', { prompt: 'And God said', max_tokens: 4, temperature: 0.9, top_p: 0 });
    expect(topP0.status, topP0.text).toBe(200);
    const text = (r: { json: unknown }) => (r.json as { choices: { text: string }[] }).choices[0]!.text;
    expect(text(topP0)).toBe(text(greedy));
    for (const seed of [-1, -(2 ** 53), 2 ** 62]) {
      for (const stream of [false, true]) {
        const r = await postJson(url, '/v1/chat/completions', { messages: [{ role: 'user', content: 'Amen' }], max_tokens: 3, temperature: 0.8, top_p: 0, seed, stream });
        expect(r.status, `seed ${seed} stream ${stream}: ${r.text}`).toBe(200);
        if (stream) {
          const events = sseData(r.text);
          expect(events.at(-1)).toBe('[DONE]');
          for (const e of events.slice(0, -1)) expect(JSON.parse(e), 'no error event in a 200 stream').not.toHaveProperty('error');
        }
      }
    }
    // Seeds are taken modulo 2^32: -1 and 2^32 - 1 sample the same text.
    const a = await postJson(url, '/v1/completions', { prompt: 'And', max_tokens: 5, temperature: 1, seed: -1 });
    const b = await postJson(url, '/v1/completions', { prompt: 'And', max_tokens: 5, temperature: 1, seed: 2 ** 32 - 1 });
    expect(text(a)).toBe(text(b));
  });

  it('--max-tokens caps a request that omits max_tokens, and a larger max_tokens is a 400', { timeout: 30_000 }, async () => {
    const r = await postJson(url, '/v1/completions', { prompt: 'And God said', temperature: 0 });
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({ usage: { completion_tokens: 5 }, choices: [{ finish_reason: 'length' }] });
    const chat = await postJson(url, '/v1/chat/completions', { messages: [{ role: 'user', content: 'And God said' }], temperature: 0, stream: true, stream_options: { include_usage: true } });
    expect(JSON.parse(sseData(chat.text).at(-2)!).usage.completion_tokens).toBeLessThanOrEqual(5);
    const over = await postJson(url, '/v1/completions', { prompt: 'x', max_tokens: 6 });
    expect(over.status).toBe(400);
    expect(over.json).toMatchObject({ error: { param: 'max_tokens' } });
  });

  it('/metrics counts every 429 in rejected and by cause', { timeout: 30_000 }, async () => {
    const before = (await (await fetch(`${url}/metrics`)).json()) as { rejected: number; rejected_by_cause: Record<string, number> };
    const results = await Promise.all(Array.from({ length: 8 }, (_, i) => postJson(url, '/v1/completions', { prompt: 'And', max_tokens: 5, stream: i % 2 === 0 })));
    const n429 = results.filter((r) => r.status === 429).length;
    expect(n429).toBeGreaterThan(0);
    for (const r of results) expect([200, 429]).toContain(r.status);
    const after = (await (await fetch(`${url}/metrics`)).json()) as { rejected: number; rejected_by_cause: Record<string, number> };
    expect(after.rejected - before.rejected).toBe(n429);
    expect((after.rejected_by_cause.queue_full ?? 0) - (before.rejected_by_cause.queue_full ?? 0)).toBe(n429);
  });

  it('a body trickled slower than --request-timeout-ms is dropped with 408', { timeout: 30_000 }, async () => {
    const u = new URL(url);
    const t0 = performance.now();
    const answer = await new Promise<string>((resolve) => {
      const sock = connect(Number(u.port), u.hostname);
      let got = '';
      let timer: NodeJS.Timeout | undefined;
      sock.on('connect', () => {
        sock.write(`POST /v1/completions HTTP/1.1\r\nHost: ${u.host}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{`);
        timer = setInterval(() => sock.write(' '), 100);
      });
      sock.on('data', (d) => (got += d.toString()));
      sock.on('error', () => {});
      sock.on('close', () => {
        clearInterval(timer);
        resolve(got);
      });
    });
    const ms = performance.now() - t0;
    console.log(`trickled body: '${answer.split('\r\n')[0]}' after ${ms.toFixed(0)} ms (request timeout 1000 ms)`);
    expect(answer).toMatch(/^HTTP\/1\.1 408/);
    expect(ms).toBeGreaterThanOrEqual(900);
    expect(ms).toBeLessThan(5000);
  });

  it('a Host header not on the allow-list gets 403 (DNS rebinding); --allow-host names and loopback pass', async () => {
    const bad = await rawGet(url, '/health', { Host: 'evil.example:8000' });
    expect(bad.status).toBe(403);
    expect(JSON.parse(bad.body)).toMatchObject({ error: { code: 'host_not_allowed' } });
    expect(JSON.parse(bad.body).error.message).toMatch(/--allow-host evil\.example/);
    expect((await rawGet(url, '/metrics', { Host: 'evil.example' })).status).toBe(403);
    expect((await rawGet(url, '/health', { Host: 'api.example:8000' })).status).toBe(200);
    expect((await rawGet(url, '/health', { Host: `localhost:${new URL(url).port}` })).status).toBe(200);
    expect((await rawGet(url, '/health', { Host: '[::1]' })).status).toBe(200);
  });
});

describe('invalid server options are refused at startup', () => {
  it('createServer and `opshift serve` refuse --max-tokens 0 naming the option', { timeout: 30_000 }, async () => {
    await expect(createServer({ model: DEMO_LLAMA, maxTokens: 0 })).rejects.toThrow(/--max-tokens 0 must be a positive integer/);
    await expect(createServer({ model: DEMO_LLAMA, requestTimeoutMs: -1 })).rejects.toThrow(/--request-timeout-ms -1/);
    const run = promisify(execFile);
    const err = await run(process.execPath, [CLI, 'serve', '--max-tokens', '0', '--port', '0']).then(
      () => undefined,
      (e: { code: number; stderr: string }) => e,
    );
    expect(err?.code).toBe(1);
    expect(err?.stderr).toMatch(/--max-tokens 0 is out of range/);
  });

  it('`opshift serve --help` lists every limit with its default', async () => {
    const { stdout } = await promisify(execFile)(process.execPath, [CLI, 'serve', '--help']);
    for (const flag of ['--max-body-bytes', '--max-prompt-tokens', '--max-tokens', '--template-timeout-ms', '--template-max-bytes', '--tokenize-timeout-ms', '--request-timeout-ms', '--idle-timeout-ms', '--allow-host'])
      expect(stdout).toContain(flag);
    expect(stdout).toMatch(/--max-body-bytes <n>[\s\S]*default:\s+1048576/);
  });
});
