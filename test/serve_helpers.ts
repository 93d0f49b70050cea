/**
 * Helpers for the `opshift serve` tests: servers on loopback over the shipped demo Llama (or a temp copy of it
 * with a different chat template / tokenizer.json — the shipped files are never modified), SSE parsing, and a
 * raw HTTP request that can set the Host header (fetch cannot).
 */
import { mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer, type ServeOptions, type Server } from '../tools/serve/server.js';

export const DEMO_LLAMA = join(import.meta.dirname, '..', 'models', 'demo', 'llama');

/**
 * A temp model folder: the demo Llama's weights and config linked, its tokenizer files copied with a chat
 * template added and/or tokenizer.json's pre_tokenizer replaced. Returns the folder and a cleanup.
 */
export function demoCopy(o: { chatTemplate?: string; preTokenizer?: Record<string, unknown> }): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'opshift-serve-'));
  for (const f of ['config.json', 'generation_config.json', 'model.safetensors']) symlinkSync(join(DEMO_LLAMA, f), join(dir, f));
  const config = JSON.parse(readFileSync(join(DEMO_LLAMA, 'tokenizer_config.json'), 'utf8')) as Record<string, unknown>;
  if (o.chatTemplate !== undefined) config.chat_template = o.chatTemplate;
  writeFileSync(join(dir, 'tokenizer_config.json'), JSON.stringify(config));
  const tok = JSON.parse(readFileSync(join(DEMO_LLAMA, 'tokenizer.json'), 'utf8')) as Record<string, unknown>;
  if (o.preTokenizer) tok.pre_tokenizer = o.preTokenizer;
  writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(tok));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export async function startServer(o: Partial<ServeOptions> = {}): Promise<{ server: Server; url: string }> {
  const server = await createServer({ model: DEMO_LLAMA, modelName: 'demo', ...o });
  const url = await server.listen(0);
  return { server, url };
}

/** An SSE body's data payloads. */
export function sseData(body: string): string[] {
  return body
    .split('\n\n')
    .filter((b) => b.startsWith('data: '))
    .map((b) => b.slice(6));
}

/** POST JSON (or a raw string) and return status, parsed JSON (when it is JSON) and the text. */
export async function postJson(url: string, path: string, body: unknown, signal?: AbortSignal): Promise<{ status: number; text: string; json: unknown }> {
  const res = await fetch(`${url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: typeof body === 'string' ? body : JSON.stringify(body), signal });
  const text = await res.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, text, json };
}

/** A GET with any headers (Host included), by node:http. */
export function rawGet(url: string, path: string, headers: Record<string, string>): Promise<{ status: number; body: string }> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const req = request({ host: u.hostname, port: u.port, path, method: 'GET', headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** The q-quantile (0..1) of the values, nearest rank. */
export function quantile(xs: readonly number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))]!;
}
