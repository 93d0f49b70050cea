/** `opshift generate`, `logits` and `bench model` end to end through the built CLI (dist/, made by npm ci / build). */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '..');
const CLI = join(ROOT, 'dist', 'tools', 'cli.js');
const LLAMA = join(ROOT, 'test', 'fixtures', 'models', 'llama-mha');
const golden = JSON.parse(readFileSync(join(LLAMA, 'golden.json'), 'utf8')) as { prompts: number[][]; last_logits: number[][]; greedy: number[][] };

function cli(...args: string[]) {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 120_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('opshift generate / logits / bench model', { timeout: 60_000 }, () => {
  it('generate --json prints the greedy ids of the reference and the timing fields', () => {
    const p = golden.prompts[0]!;
    const r = cli('generate', '--model', LLAMA, '--ids', p.join(','), '--max-new-tokens', '12', '--ignore-eos', '--json', '--profile');
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { ids: number[]; ttft_ms: number; tokens_per_s: number; profile: { op: string; backend: string }[] };
    expect(out.ids).toEqual(golden.greedy[0]);
    expect(out.ttft_ms).toBeGreaterThan(0);
    expect(out.tokens_per_s).toBeGreaterThan(0);
    expect(out.profile.map((x) => x.op)).toContain('Linear');
  });

  it('generate --dispatch runs the policy (Linear on cpu) and streams ids as text without a tokenizer', () => {
    const r = cli('generate', '--model', LLAMA, '--ids', '5,6', '--max-new-tokens', '3', '--dispatch', 'Linear=cpu,MatMul=cpu', '--profile');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim().split(/\s+/)).toHaveLength(3);
    expect(r.stderr).toMatch(/Linear\s+cpu\s+\d+/);
    expect(r.stderr).toMatch(/TTFT [\d.]+ ms/);
  });

  it('logits writes a float32 .npy of the last position that matches the reference', () => {
    const dir = mkdtempSync(join(tmpdir(), 'opshift-logits-'));
    const file = join(dir, 'l.npy');
    const r = cli('logits', '--model', LLAMA, '--ids', golden.prompts[0]!.join(','), '--out', file);
    expect(r.code, r.stderr).toBe(0);
    const buf = readFileSync(file);
    expect(buf.subarray(0, 6).toString('latin1')).toBe('\x93NUMPY');
    const hlen = buf.readUInt16LE(8);
    expect(buf.subarray(10, 10 + hlen).toString()).toContain("'descr': '<f4', 'fortran_order': False, 'shape': (96,)");
    expect((10 + hlen) % 64).toBe(0);
    const data = new Float32Array(buf.buffer.slice(buf.byteOffset + 10 + hlen, buf.byteOffset + buf.length));
    const ref = golden.last_logits[0]!;
    const maxRef = Math.max(...ref.map(Math.abs));
    expect(Math.max(...ref.map((v, i) => Math.abs(v - data[i]!))) / maxRef).toBeLessThan(1e-4);
  });

  it('bench model --format json reports TTFT, tok/s and the op breakdown per prompt length and policy', () => {
    const r = cli('bench', 'model', '--model', LLAMA, '-l', '4,9', '-g', '3', '-w', '0', '-r', '1', '--compare-dispatch', '', 'Linear=cpu', '--format', 'json');
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { rows: { dispatch: string; promptTokens: number; ttftMs: number; tokensPerS: number; breakdown: { op: string; backend: string }[] }[]; peer: { skipped?: string } };
    expect(out.rows.map((x) => [x.dispatch, x.promptTokens])).toEqual([
      ['default', 4],
      ['default', 9],
      ['Linear=cpu', 4],
      ['Linear=cpu', 9],
    ]);
    for (const x of out.rows) {
      expect(x.ttftMs).toBeGreaterThan(0);
      expect(x.tokensPerS).toBeGreaterThan(0);
    }
    expect(out.rows[2]!.breakdown.filter((b) => b.op === 'Linear').map((b) => b.backend)).toEqual(['cpu']);
    expect(out.peer.skipped).toMatch(/synthetic/);
    // Spread beside every median: the IQR over the repetitions and its ratio to the median.
    const spread = JSON.parse(cli('bench', 'model', '-m', LLAMA, '-p', '4', '-n', '2', '-w', '0', '-r', '3', '-t', '1', '--format', 'json').stdout) as { rows: { reps: number; ttftMs: number; ttftIqrMs: number; ttftRelSpread: number; tokensPerSIqr: number; tokensPerSRelSpread: number }[] };
    for (const x of spread.rows) {
      expect(x.reps).toBe(3);
      expect(x.ttftIqrMs).toBeGreaterThanOrEqual(0);
      expect(x.ttftRelSpread).toBeCloseTo(x.ttftIqrMs / x.ttftMs, 6);
      expect(x.tokensPerSIqr).toBeGreaterThanOrEqual(0);
      expect(Number.isFinite(x.tokensPerSRelSpread)).toBe(true);
    }
    const csv = cli('bench', 'model', '--model', LLAMA, '-l', '4', '-g', '2', '-w', '0', '-r', '1', '--format', 'csv');
    expect(csv.stdout.split('\n')[0]).toBe('model,dispatch,prompt_tokens,gen_tokens,ttft_ms,tokens_per_s,ms_per_token,peak_rss_mib,ttft_iqr_ms,tokens_per_s_iqr,reps');
  });

  it('bad arguments exit non-zero with a one-line reason', { timeout: 60_000 }, () => {
    const cases: [string[], RegExp][] = [
      [['generate', '--model', LLAMA, '--ids', '1,x'], /--ids '1,x': expected comma-separated non-negative integers/],
      [['generate', '--model', LLAMA, '--ids', '1,500'], /prompt id 500 is outside the vocabulary \[0, 96\)/],
      [['generate', '--model', LLAMA, '--ids', '1', '--dispatch', 'Linear=gpu9'], /unknown backend 'gpu9'/],
      [['generate', '--model', LLAMA, '--ids', '1', '--dispatch', 'Lienar=cpu'], /unknown op 'Lienar'/],
      [['generate', '--model', LLAMA, '--prompt', 'hi'], /needs a tokenizer\.json/],
      [['generate', '--model', '/nonexistent/dir', '--ids', '1'], /not a folder, a hub id/],
      [['generate', '--model', 'synthetic:gpt-9', '--ids', '1'], /no such preset/],
      [['bench', 'model', '--model', LLAMA, '-l', '0'], /--prompt-lengths 0 is out of range \(allowed: 1\.\.1048576\)/],
    ];
    for (const [args, re] of cases) {
      const r = cli(...args);
      expect(r.code, args.join(' ')).not.toBe(0);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(re);
    }
  });

  it('llama.cpp short flags: -m -n -t on generate and logits, -m -f -t on eval perplexity', () => {
    const p = golden.prompts[0]!;
    const g = cli('generate', '-m', LLAMA, '--ids', p.join(','), '-n', '12', '-t', '2', '--ignore-eos', '--json');
    expect(g.code, g.stderr).toBe(0);
    expect((JSON.parse(g.stdout) as { ids: number[] }).ids).toEqual(golden.greedy[0]); // -t changes threads, not results
    const file = join(mkdtempSync(join(tmpdir(), 'opshift-logits-')), 'l.npy');
    const l = cli('logits', '-m', LLAMA, '--ids', p.join(','), '--out', file, '-t', '1');
    expect(l.code, l.stderr).toBe(0);
    const text = join(mkdtempSync(join(tmpdir(), 'opshift-ppl-')), 'text.txt');
    writeFileSync(text, 'In the beginning God created the heaven and the earth. And the earth was without form, and void.');
    const e = cli('eval', 'perplexity', '-m', 'demo:llama', '-f', text, '--window', '16', '-t', '1', '--json');
    expect(e.code, e.stderr).toBe(0);
    expect(JSON.parse(e.stdout)).toMatchObject({ text, window: 16, stride: 8 });
  });

  it('--prompt-file: a 100 KB prompt gives a clear context-length error, never a signal; - reads standard input', () => {
    const dir = mkdtempSync(join(tmpdir(), 'opshift-prompt-'));
    const file = join(dir, 'long.txt');
    const verse = 'And God said, Let there be light: and there was light. ';
    writeFileSync(file, verse.repeat(Math.ceil(102_400 / verse.length)).slice(0, 102_400));
    const r = spawnSync(process.execPath, [CLI, 'generate', '-m', 'demo:llama', '-f', file, '-n', '4'], { encoding: 'utf8', timeout: 120_000 });
    expect(r.signal).toBeNull();
    if (r.status === 0) expect(r.stdout.length).toBeGreaterThan(102_400); // the prompt echoed, then the text
    else {
      expect(r.stdout).toBe(''); // the error is not glued to an echoed prompt
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(/prompt's \d+ tokens .*256 positions/);
    }
    const s = spawnSync(process.execPath, [CLI, 'generate', '-m', 'demo:llama', '-f', '-', '-n', '3', '--json'], { encoding: 'utf8', timeout: 120_000, input: 'In the beginning' });
    expect(s.status, s.stderr).toBe(0);
    const out = JSON.parse(s.stdout) as { prompt_tokens: number; generated_tokens: number };
    expect(out).toMatchObject({ prompt_tokens: 4, generated_tokens: 3 });
    const missing = cli('generate', '-m', 'demo:llama', '-f', join(dir, 'nope.txt'));
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toMatch(/--prompt-file .*nope\.txt: no such file/);
  });
});
