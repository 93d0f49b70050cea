/**
 * `bench compare` (tools/bench_compare.ts and tools/peers/{child,llama_bench}.ts) and the CLI's default dispatch
 * (tools/default_policy.ts). Peers are stand-ins here (a script printing llama-bench's JSON, a node child that
 * allocates): CI has neither llama.cpp nor torch, and the harness's logic is what is under test.
 */
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { backendStatus, linear, profile, randn, withPolicy } from '../core/index.js';
import { compareMarkdown, formatCompare, isCell, parsePrecisions, ratiosOf, runCompare, type CompareResult, type CompareRow } from '../tools/bench_compare.js';
import { DEFAULT_RULES, defaultBackends, defaultPolicy, defaultPolicyText, PREFILL_ROWS } from '../tools/default_policy.js';
import { failureOf, runChild } from '../tools/peers/child.js';
import { llamaBenchPath, llamaBenchProblem, parseLlamaBench, runLlamaBench } from '../tools/peers/llama_bench.js';
import { syntheticPromptIds } from '../tools/bench_model.js';

/** llama-bench's `-o json` output for -p 128 -n 64 -r 3 (fields as c392e50 prints them, trimmed to those read). */
const LLAMA_JSON = JSON.stringify([
  { build_commit: 'c392e509', n_prompt: 128, n_gen: 0, n_threads: 1, samples_ns: [250e6, 240e6, 260e6], samples_ts: [512, 533, 492] },
  { build_commit: 'c392e509', n_prompt: 0, n_gen: 64, n_threads: 1, samples_ns: [1.3e9, 1.28e9, 1.32e9], samples_ts: [49.2, 50.0, 48.5] },
]);

describe('default dispatch (generate, serve, bench model without --dispatch)', () => {
  it('resolves Linear by phase and the quantized linears as the README states', () => {
    // The README's "Defaults that are fast" names these first choices; change both together.
    expect(defaultBackends('Linear', 128)?.[0]).toBe('npu');
    expect(defaultBackends('Linear', 1)?.[0]).toBe('npu');
    expect(defaultBackends('LinearW8A8', 128)?.[0]).toBe('npu');
    expect(defaultBackends('LinearW8A8', 1)?.[0]).toBe('npu');
    expect(defaultBackends('LinearW4', 1)?.[0]).toBe('npu');
    expect(defaultBackends('Softmax', 1)).toBeUndefined();
    expect(defaultBackends('Linear', PREFILL_ROWS)).toEqual(DEFAULT_RULES[0]!.prefill);
    expect(defaultBackends('Linear', PREFILL_ROWS - 1)).toEqual(DEFAULT_RULES[0]!.decode);
    expect(defaultPolicyText()).toBe('Linear=npu>ort>wasm; LinearW8A8=npu>ort; LinearW4=npu>ort');
  });

  it('every float rule ends in a backend that needs no native dependency', () => {
    for (const r of DEFAULT_RULES.filter((x) => x.op === 'Linear')) {
      expect(r.prefill.at(-1)).toBe('wasm');
      expect(r.decode.at(-1)).toBe('wasm');
    }
  });

  it('an explicit OPSHIFT_BACKENDS order turns the defaults off', () => {
    expect(defaultPolicy({ OPSHIFT_BACKENDS: 'wasm,cpu' })).toEqual({});
    expect(Object.keys(defaultPolicy({}))).toEqual(DEFAULT_RULES.map((r) => r.op));
  });

  it('a real Linear runs on the first available backend of its phase', () => {
    const w = randn([96, 64]).markConstant();
    for (const rows of [16, 1]) {
      const x = randn([rows, 64]);
      const expected = defaultBackends('Linear', rows)!.find((b) => backendStatus(b)?.available);
      const p = profile(() => withPolicy(defaultPolicy({}), () => linear(x, w)));
      const used = p.rows(['op', 'backend']).find((r) => r.op === 'Linear');
      expect(used?.backend, `rows ${rows}`).toBe(expected);
      expect(p.result.shape).toEqual([rows, 96]);
    }
  });
});

describe('llama-bench peer', () => {
  it('reads TTFT from the pp test and decode tok/s from the tg test (medians)', () => {
    const p = parseLlamaBench(LLAMA_JSON, 128, 64);
    expect(p.commit).toBe('c392e509');
    expect(p.ppNs).toEqual([250e6, 240e6, 260e6]);
    expect(p.tgTs).toEqual([49.2, 50.0, 48.5]);
  });

  it('refuses output without the asked tests, and non-JSON, naming what it saw', () => {
    expect(() => parseLlamaBench(LLAMA_JSON, 512, 64)).toThrow(/no pp512 and tg64 tests.*p128\/n0, p0\/n64/);
    expect(() => parseLlamaBench('error: failed to load model', 128, 64)).toThrow(/no JSON array.*failed to load/);
  });

  it('runs a llama-bench binary in a child process: medians, commit, peak RSS', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'opshift-llama-'));
    const bin = join(dir, 'llama-bench');
    writeFileSync(join(dir, 'out.json'), LLAMA_JSON);
    // A stand-in that checks its arguments the way the harness passes them, then prints the JSON.
    writeFileSync(bin, `#!/bin/sh\n[ "$2" = "${join(dir, 'm.gguf')}" ] && [ "$6" = 64 ] && [ "$8" = 2 ] && [ "\${12}" = json ] || { echo "bad args: $*" >&2; exit 3; }\ncat ${join(dir, 'out.json')}\n`);
    chmodSync(bin, 0o755);
    const r = await runLlamaBench(bin, join(dir, 'm.gguf'), { threads: 2, promptTokens: 128, genTokens: 64, reps: 3, timeoutMs: 10_000 });
    expect(r.ttftMs).toBeCloseTo(250, 6);
    expect(r.tokensPerS).toBeCloseTo(49.2, 6);
    expect(r.ttftRelSpread).toBeCloseTo(10 / 250, 6); // IQR of 240/250/260 is 10
    expect(r.commit).toBe('c392e509');
    expect(r.threads).toBe(2);
    await expect(runLlamaBench(bin, join(dir, 'other.gguf'), { threads: 2, promptTokens: 128, genTokens: 64, reps: 3, timeoutMs: 10_000 })).rejects.toThrow(/exited with status 3: bad args/);
    expect(llamaBenchProblem(join(dir, 'nope'))).toMatch(/llama-bench not found at .*nope/);
    expect(llamaBenchProblem(dir)).toMatch(/is not a file/);
  });

  it('takes the binary from the option, else OPSHIFT_LLAMA_BENCH', () => {
    const old = process.env.OPSHIFT_LLAMA_BENCH;
    try {
      process.env.OPSHIFT_LLAMA_BENCH = '/opt/llama/llama-bench';
      expect(llamaBenchPath(undefined)).toBe('/opt/llama/llama-bench');
      expect(llamaBenchPath('/x/llama-bench')).toBe('/x/llama-bench');
      delete process.env.OPSHIFT_LLAMA_BENCH;
      expect(llamaBenchPath(undefined)).toBeUndefined();
    } finally {
      if (old === undefined) delete process.env.OPSHIFT_LLAMA_BENCH;
      else process.env.OPSHIFT_LLAMA_BENCH = old;
    }
  });
});

describe('child processes', () => {
  it("measures a child's peak RSS from outside (VmHWM)", async () => {
    // 300 MiB touched, held for half a second, then released: the high-water mark keeps it.
    const src = 'const b = Buffer.alloc(300 * 2 ** 20, 1); setTimeout(() => { console.log(b[12345]); }, 500);';
    const r = await runChild(process.execPath, ['-e', src], { timeoutMs: 20_000 });
    expect(failureOf('node', r, 20_000)).toBeUndefined();
    expect(r.stdout.trim()).toBe('1');
    if (process.platform === 'linux') {
      expect(r.peakRssMiB).toBeGreaterThan(300);
      expect(r.peakRssMiB).toBeLessThan(1024);
    }
  });

  it('kills a child at its timeout and says so', async () => {
    const r = await runChild(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'], { timeoutMs: 300 });
    expect(r.timedOut).toBe(true);
    expect(r.wallMs).toBeLessThan(10_000);
    expect(failureOf('opshift', r, 300)).toBe('opshift exceeded its 0 s timeout');
    const bad = await runChild(process.execPath, ['-e', 'console.error("boom: no model"); process.exit(2)'], { timeoutMs: 10_000 });
    expect(failureOf('opshift', bad, 10_000)).toBe('opshift exited with status 2: boom: no model');
  });

  it("names a crashed Node child's error, not its version trailer", async () => {
    const r = await runChild(process.execPath, ['-e', 'throw new TypeError("x is not a function")'], { timeoutMs: 10_000 });
    expect(failureOf('opshift', r, 10_000)).toMatch(/^opshift exited with status 1: .*TypeError: x is not a function$/);
  });

  it('passes stdin to the child', async () => {
    const r = await runChild(process.execPath, ['-e', 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).n*2))'], { timeoutMs: 10_000, input: '{"n":21}' });
    expect(r.stdout.trim()).toBe('42');
  });
});

describe('bench compare table', () => {
  const row = (over: Partial<CompareRow>): CompareRow => ({
    model: 'synthetic:opt-125m',
    precision: 'fp32',
    threads: 1,
    opshift: { coldTtftMs: 600, ttftMs: 200, ttftRelSpread: 0.02, tokensPerS: 60, tokensPerSRelSpread: 0.01, peakRssMiB: 800 },
    llama: { file: 'opt-f32.gguf', commit: 'c392e509', threads: 1, ttftMs: 250, ttftRelSpread: 0.01, tokensPerS: 50, tokensPerSRelSpread: 0.01, peakRssMiB: 640 },
    torch: { name: 'PyTorch 1.13', threads: 1, coldTtftMs: 400, ttftMs: 240, tokensPerS: 52, peakRssMiB: 900 },
    ...over,
  });

  it('ratios: decode and RSS against llama.cpp, warm TTFT against the faster peer, cold over warm', () => {
    expect(ratiosOf(row({}))).toEqual({ decode: '1.20x', ttft: '0.83x', rss: '1.25x', coldWarm: '3.00x' });
    // Without PyTorch (quantized rows) the TTFT ratio is against llama.cpp alone.
    expect(ratiosOf(row({ precision: 'w4', torch: { skipped: 'PyTorch runs float32 only' } })).ttft).toBe('0.80x');
    expect(ratiosOf(row({ llama: { skipped: 'no --llama-bench' } }))).toEqual({ decode: '-', ttft: '0.83x', rss: '-', coldWarm: '3.00x' });
  });

  it('prints every row, the machine and load line, and why a peer was skipped', () => {
    const r: CompareResult = {
      date: '2026-12-04 17:50 UTC',
      minutes: 21.6,
      machine: 'Test CPU, 2 logical cores',
      loadStart: 0.5,
      loadEnd: 1.25,
      promptTokens: 128,
      genTokens: 64,
      reps: 3,
      dispatch: '',
      llamaCommit: 'c392e509',
      torchName: 'PyTorch 1.13',
      rows: [row({}), row({ precision: 'w8a8', threads: 2, torch: { skipped: 'PyTorch runs float32 only' } })],
    };
    const md = compareMarkdown(r);
    expect(md.split('\n').filter((l) => l.startsWith('| opt-125m'))).toHaveLength(2);
    expect(md).toContain('| opt-125m | fp32 | 1 | 600 | 200 | 60.0 | 800 | 250 | 50.0 | 640 | 400 | 240 | 52.0 | 900 | 1.20x | 0.83x | 1.25x | 3.00x |');
    expect(md).toContain('Run of 2026-12-04 17:50 UTC, 22 min; Test CPU, 2 logical cores; load average 0.5 at the start, 1.3 at the end');
    expect(md).toContain('skipped PyTorch: PyTorch runs float32 only (opt-125m w8a8 t2)');
    expect(formatCompare(r, Infinity)).toContain('opt-125m  w8a8');
  });

  it('refuses unknown precisions by name', () => {
    expect(parsePrecisions('fp32, w4')).toEqual(['fp32', 'w4']);
    expect(() => parsePrecisions('fp32,q4_0')).toThrow(/--precision: unknown precision 'q4_0' \(fp32, w8a8, w4\)/);
  });

  it('the peers get the same prompt as opshift (fixed ids inside the vocabulary)', () => {
    const a = syntheticPromptIds(50272, 128);
    expect(a).toEqual(syntheticPromptIds(50272, 128));
    expect(a).toHaveLength(128);
    expect(a.every((t) => t >= 3 && t < 50272)).toBe(true);
  });
});

describe('bench compare end to end (built CLI child, no peers)', () => {
  it('runs each opshift configuration in its own process: cold and warm TTFT, decode, peak RSS; skipped peers say why', async () => {
    const model = new URL('./fixtures/models/llama-mha', import.meta.url).pathname;
    const r = await runCompare({ models: [model], precisions: ['fp32', 'w8a8'], threads: [1], promptTokens: 8, genTokens: 4, reps: 2, dispatch: '', torch: false, timeoutMs: 120_000 });
    expect(r.rows.map((x) => x.precision)).toEqual(['fp32', 'w8a8']);
    for (const row of r.rows) {
      expect(isCell(row.opshift), JSON.stringify(row.opshift)).toBe(true);
      if (!isCell(row.opshift)) continue;
      expect(row.opshift.coldTtftMs).toBeGreaterThan(0);
      expect(row.opshift.ttftMs).toBeGreaterThan(0);
      expect(row.opshift.tokensPerS).toBeGreaterThan(0);
      // A Node process holds at least its heap and code: tens of MiB.
      expect(row.opshift.peakRssMiB).toBeGreaterThan(20);
      expect(row.llama).toEqual({ skipped: 'no --llama-bench (or OPSHIFT_LLAMA_BENCH)' });
      expect(row.torch).toEqual({ skipped: 'disabled (--no-torch)' });
    }
    const bad = await runCompare({ models: ['synthetic:no-such-preset'], precisions: ['fp32'], threads: [1], promptTokens: 8, genTokens: 4, reps: 1, dispatch: '', torch: false, timeoutMs: 60_000 });
    // A synthetic preset runs from its checkpoint folders (tools/bench_checkpoints.ts): an unknown one has none.
    expect(bad.rows[0]!.opshift).toEqual({ skipped: expect.stringMatching(/^no checkpoint folders: bench checkpoints: no preset 'no-such-preset'/) });
  }, 120_000);
});
