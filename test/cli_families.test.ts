/**
 * `opshift generate --ids … --greedy --json` and `opshift logits` through the built CLI (dist/) for Mistral,
 * Qwen2 and Phi-3 fixtures: ids equal the plain-PyTorch reference's greedy continuation, last-position logits
 * within 1e-4 relative (the bar is 1e-3), on the longest prompt (past every window and LongRoPE switch).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '..');
const CLI = join(ROOT, 'dist', 'tools', 'cli.js');

function cli(...args: string[]) {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 120_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe.each(['mistral-sw8', 'qwen2-sw6', 'phi3-su-partial'])('opshift CLI on %s', { timeout: 60_000 }, (name) => {
  const dir = join(ROOT, 'test', 'fixtures', 'models', name);
  const golden = JSON.parse(readFileSync(join(dir, 'golden.json'), 'utf8')) as { prompts: number[][]; last_logits: number[][]; greedy: number[][] };
  const i = 3; // 33 tokens

  it('generate --greedy --json prints the reference ids', () => {
    const r = cli('generate', '--model', dir, '--ids', golden.prompts[i]!.join(','), '--greedy', '-n', '12', '--ignore-eos', '--json');
    expect(r.code, r.stderr).toBe(0);
    expect((JSON.parse(r.stdout) as { ids: number[] }).ids).toEqual(golden.greedy[i]);
  });

  it('logits writes the reference last-position logits', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'opshift-logits-')), 'l.npy');
    const r = cli('logits', '--model', dir, '--ids', golden.prompts[i]!.join(','), '--out', file);
    expect(r.code, r.stderr).toBe(0);
    const buf = readFileSync(file);
    const hlen = buf.readUInt16LE(8);
    const data = new Float32Array(buf.buffer.slice(buf.byteOffset + 10 + hlen, buf.byteOffset + buf.length));
    const ref = golden.last_logits[i]!;
    expect(data.length).toBe(ref.length);
    const maxRef = Math.max(...ref.map(Math.abs));
    expect(Math.max(...ref.map((v, j) => Math.abs(v - data[j]!))) / maxRef).toBeLessThan(1e-4);
  });
});
