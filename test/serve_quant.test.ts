/**
 * `opshift serve --quant`: the worker quantizes the model in memory at load. On the demo Llama with w8a8 the
 * server answers, reports how many linears it quantized, and its profile shows kernel time on the npu backend,
 * which the dispatch below gives LinearW8A8 only (every other op on cpu; the same server unquantized spends none
 * there). Bad --quant values fail before any model loads, in the API and on the command line.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ServeQuant } from '../tools/serve/load_quant.js';
import { createServer, type Server } from '../tools/serve/server.js';
import { DEMO_LLAMA, postJson, startServer } from './serve_helpers.js';

const DISPATCH = 'LinearW8A8=npu,*=cpu';
const CLI = join(import.meta.dirname, '..', 'dist', 'tools', 'cli.js');

async function npuMs(url: string): Promise<number> {
  const m = (await (await fetch(`${url}/metrics?format=json`)).json()) as { backend_op_ms?: Record<string, number> };
  return m.backend_op_ms?.npu ?? 0;
}

describe('serve --quant w8a8 on the demo Llama', () => {
  let quantized: { server: Server; url: string };
  let float: { server: Server; url: string };
  beforeAll(async () => {
    quantized = await startServer({ quant: 'w8a8', dispatch: DISPATCH });
    float = await startServer({ dispatch: DISPATCH });
  }, 60_000);
  afterAll(async () => {
    await quantized?.server.shutdown();
    await float?.server.shutdown();
  });

  it('answers, and its LinearW8A8 ops ran on the npu library', { timeout: 60_000 }, async () => {
    const info = quantized.server.worker.info!;
    // Every linear of the layers plus lm_head (a quantized copy of the tied embedding).
    expect(info.quant?.format).toBe('w8a8');
    expect(info.quant?.linears).toBeGreaterThan(7);
    expect(float.server.worker.info!.quant).toBeUndefined();
    const body = { model: 'demo', prompt: 'And God said', max_tokens: 8, temperature: 0 };
    const q = await postJson(quantized.url, '/v1/completions', body);
    expect(q.status).toBe(200);
    const answer = q.json as { choices: { text: string }[]; usage: { completion_tokens: number } };
    expect(answer.usage.completion_tokens).toBeGreaterThan(0);
    expect(answer.choices[0]!.text.length).toBeGreaterThan(0);
    expect(await npuMs(quantized.url)).toBeGreaterThan(0);
    const f = await postJson(float.url, '/v1/completions', body);
    expect(f.status).toBe(200);
    expect(await npuMs(float.url)).toBe(0);
  });

  it("Ollama's /api/show names the format quantized at load (the checkpoint's files say BF16)", async () => {
    const show = async (url: string) => ((await postJson(url, '/api/show', { model: 'demo' })).json as { details: { quantization_level: string } }).details.quantization_level;
    expect(await show(quantized.url)).toBe('W8A8');
    expect(await show(float.url)).toBe('BF16');
  });
});

describe('bad --quant values', () => {
  it('createServer rejects an unknown format before loading, naming the flag and the choices', async () => {
    await expect(createServer({ model: DEMO_LLAMA, quant: 'w3' as ServeQuant })).rejects.toThrow(/--quant 'w3' is not a format .*w8a8, w4/);
  });

  it('the CLI rejects an unknown format and --quant with --quant-dir', { timeout: 30_000 }, async () => {
    const run = promisify(execFile);
    await expect(run(process.execPath, [CLI, 'serve', '--quant', 'int3', '--port', '0'])).rejects.toMatchObject({ stderr: expect.stringMatching(/--quant.*int3.*w8a8, w4/s) });
    await expect(run(process.execPath, [CLI, 'serve', '--quant', 'w8a8', '--quant-dir', DEMO_LLAMA, '--port', '0'])).rejects.toMatchObject({ stderr: expect.stringMatching(/--quant w8a8 quantizes --model at load; --quant-dir .* give one of them/) });
  });
});
