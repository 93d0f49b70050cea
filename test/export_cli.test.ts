/**
 * `opshift export onnx` and `opshift bench export` through the built CLI (dist/): the file and its names,
 * genai_config.json beside it, a bad --quant refused by name, and the benchmark's two runtimes with equal ids.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const CLI = join(import.meta.dirname, '..', 'dist', 'tools', 'cli.js');
const dir = mkdtempSync(join(tmpdir(), 'opshift-export-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const run = (args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 60_000 });

describe('opshift export onnx', () => {
  it('writes the graph and genai_config.json, and prints what it wrote', () => {
    const out = join(dir, 'llama.onnx');
    const r = run(['export', 'onnx', '--model', 'demo:llama', '--out', out, '--json']);
    expect(r.status, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout) as { inputs: string[]; outputs: string[]; genaiConfig: string };
    expect(j.inputs).toContain('past_key_values.3.value');
    expect(j.outputs).toContain('present.3.value');
    expect(existsSync(out)).toBe(true);
    expect(j.genaiConfig).toBe(join(dir, 'genai_config.json'));
  }, 60_000);

  it('refuses an unknown --quant, naming the choices', () => {
    const r = run(['export', 'onnx', '--model', 'demo:opt', '--out', join(dir, 'x.onnx'), '--quant', 'w9']);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/--quant.*w9.*w8a8, w4/s);
  });
});

describe('opshift bench export', () => {
  it('times eager and the graph in one run and finds the same greedy ids', () => {
    const r = run(['bench', 'export', '-m', 'demo:opt', '-p', '8', '-n', '4', '-r', '1', '--json']);
    expect(r.status, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout) as { rows: { runtime: string; ttftMs: number; decodeTokPerS: number }[]; sameIds: boolean };
    expect(j.rows.map((x) => x.runtime)).toEqual(['opshift eager', 'onnxruntime graph']);
    for (const row of j.rows) {
      expect(row.ttftMs).toBeGreaterThan(0);
      expect(row.decodeTokPerS).toBeGreaterThan(0);
    }
    expect(j.sameIds).toBe(true);
  }, 60_000);
});
