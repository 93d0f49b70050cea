/** `opshift quantize` end to end through the built CLI (dist/), and its argument checks. */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '..');
const CLI = join(ROOT, 'dist', 'tools', 'cli.js');
const LLAMA = join(ROOT, 'test', 'fixtures', 'models', 'llama-mha');
const tmp = mkdtempSync(join(tmpdir(), 'opshift-qcli-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function cli(...args: string[]) {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 120_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('opshift quantize', { timeout: 60_000 }, () => {
  it('pergrp g32: writes a folder that loads (quantization_config, tensors), runs through logits and generate on the w4 op', () => {
    const out = join(tmp, 'pergrp');
    const r = cli('quantize', '--model', LLAMA, '--recipe', 'pergrp', '--group-size', '32', '--out', out, '--json');
    expect(r.code, r.stderr).toBe(0);
    const rep = JSON.parse(r.stdout) as { quantized: { path: string; format: string; groupSize: number }[]; kept: string[] };
    expect(rep.quantized).toHaveLength(14);
    expect(rep.kept).toEqual(['lm_head']);
    const cfg = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8')) as { quantization_config: Record<string, unknown>; model_type: string };
    expect(cfg.model_type).toBe('llama');
    expect(cfg.quantization_config).toMatchObject({ quant_method: 'opshift', recipe: 'pergrp', bits: 4, group_size: 32, modules_to_not_convert: ['lm_head'] });
    const g = cli('generate', '--model', out, '--ids', '5,6,7', '--max-new-tokens', '3', '--ignore-eos', '--json', '--profile');
    expect(g.code, g.stderr).toBe(0);
    const res = JSON.parse(g.stdout) as { ids: number[]; profile: { op: string }[] };
    expect(res.ids).toHaveLength(3);
    expect(res.profile.map((p) => p.op)).toContain('LinearW4');
  });

  it('w8a8 --per-channel --exclude mlp keeps the MLP in float', () => {
    const out = join(tmp, 'w8a8');
    const r = cli('quantize', '--model', LLAMA, '--recipe', 'w8a8', '--per-channel', '--exclude', 'mlp', 'lm_head', '--out', out);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/8 linears quantized \(w8a8\)/);
    const l = cli('logits', '--model', out, '--ids', '1,2,3', '--out', join(tmp, 'l.npy'));
    expect(l.code, l.stderr).toBe(0);
  });

  it('refuses bad arguments with a clear message', () => {
    const bad: [string[], RegExp][] = [
      [['--recipe', 'int3'], /--recipe 'int3': choose one of w8a8, smoothquant, awq, pergrp/],
      [['--recipe', 'awq', '--alpha', '0.5'], /--alpha applies to --recipe smoothquant only/],
      [['--recipe', 'smoothquant', '--alpha', '1.5'], /--alpha 1\.5 is out of range \(allowed: ≥ 0 and ≤ 1\)/], // the CLI's bounded option parser
      [['--recipe', 'pergrp', '--group-size', '48'], /--group-size 48 is not one of 32, 64, 128/],
      [['--recipe', 'awq', '--per-channel'], /--per-channel applies to the w8a8 and smoothquant recipes only/],
      [['--recipe', 'w8a8', '--group-size', '64'], /--group-size applies to --recipe awq or pergrp only/],
      [['--recipe', 'smoothquant', '--calib', join(tmp, 'missing.txt')], /--calib .*missing.txt: no such file/],
      [['--recipe', 'w8a8', '--include', 'nope_proj'], /pattern 'nope_proj' matches no Linear/],
    ];
    for (const [args, msg] of bad) {
      const r = cli('quantize', '--model', LLAMA, '--out', join(tmp, 'x'), ...args);
      expect(r.code, args.join(' ')).toBe(1);
      expect(r.stderr, args.join(' ')).toMatch(msg);
    }
    writeFileSync(join(tmp, 'calib.txt'), 'some calibration text');
    const noTok = cli('quantize', '--model', LLAMA, '--recipe', 'smoothquant', '--calib', join(tmp, 'calib.txt'), '--out', join(tmp, 'y'));
    expect(noTok.stderr).toMatch(/needs the model's tokenizer/);
    const synth = cli('quantize', '--model', 'synthetic:opt-125m', '--recipe', 'w8a8', '--out', join(tmp, 'z'));
    expect(synth.stderr).toMatch(/synthetic model has no folder to save from/);
    const noOut = cli('quantize', '--model', LLAMA, '--recipe', 'w8a8');
    expect(noOut.code).toBe(1);
    expect(noOut.stderr).toMatch(/--out/);
    const benchBad = cli('bench', 'model', '--model', 'synthetic:opt-125m', '--quant', 'w2');
    expect(benchBad.code).toBe(1);
    expect(benchBad.stderr).toMatch(/w8a8, w4/);
  });
});
