import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { formatDispatchBench, runDispatchBench } from '../tools/bench_dispatch.js';
import { runDemo } from '../tools/demo.js';

describe('opshift demo', () => {
  it('runs prefill and decode under the per-op policy and profiles every op with its cause', () => {
    const { profile, policy } = runDemo({ tokens: 8, dim: 16 });
    expect(policy).toMatch(/Linear\/MatMul: M >= 8 -> \[.*cpu\]/);
    expect(profile.result.prefill.shape).toEqual([8, 16]);
    expect(profile.result.decode.shape).toEqual([1, 16]);
    const linears = profile.records.filter((r) => r.op === 'Linear');
    expect(linears).toHaveLength(10);
    expect(linears.every((r) => r.cause === 'policy (scoped)')).toBe(true);
    const softmax = profile.records.filter((r) => r.op === 'Softmax');
    expect(softmax.map((r) => r.backend)).toEqual(['decompose', 'decompose']);
    // The decomposition's primitives are recorded one level down.
    expect(profile.records.some((r) => r.op === 'Exp' && r.depth === 1)).toBe(true);
    expect(Number.isFinite(profile.result.prefill.mean().item())).toBe(true);
  });
});

describe('opshift bench dispatch', () => {
  it('times eager, bare kernel and allocation for both sizes and formats a table', () => {
    const r = runDispatchBench({ timeMs: 20, peer: false });
    expect(r.rows.map((x) => x.elements)).toEqual([1, 4096]);
    for (const row of r.rows) {
      expect(row.eagerNs).toBeGreaterThan(0);
      expect(row.kernelNs).toBeGreaterThan(0);
      expect(row.overheadNs).toBeCloseTo(row.eagerNs - row.kernelNs, 6);
      expect(row.torchNs).toBeUndefined();
    }
    const text = formatDispatchBench(r, Infinity);
    expect(text).toMatch(/^add, float32\s+eager a\.add\(b\)/);
    expect(Math.max(...formatDispatchBench(r, 80).split('\n').map((l) => l.length))).toBeLessThanOrEqual(80);
    expect(text).toContain('peer: PyTorch peer skipped: disabled (--no-peer)');
  });
});

describe('opshift bench op', () => {
  it('times catalog cases per backend with flops/bytes from the dispatcher and the cause', async () => {
    const { runBenchOp, formatBenchOp, selectBenchCases } = await import('../tools/bench_op.js');
    expect(selectBenchCases().map((c) => c.name)).toContain('Linear/gemv_1x4096x4096');
    const r = runBenchOp({ cases: '^(Add/same_4x5|MatMul/2d_odd)$', timeMs: 20, peer: false, backends: ['cpu'] });
    expect(r.rows.map((x) => [x.case, x.backend, x.ranOn])).toEqual([
      ['Add/same_4x5', 'cpu', 'cpu'],
      ['MatMul/2d_odd', 'cpu', 'cpu'],
    ]);
    const mm = r.rows[1]!;
    expect(mm.medianMs).toBeGreaterThan(0);
    // 7×13 @ 13×11: 2·7·11·13 flops.
    expect(mm.gflops * mm.medianMs * 1e6).toBeCloseTo(2 * 7 * 11 * 13, 3);
    expect(formatBenchOp(r, Infinity)).toMatch(/^case\s+backend\s+median ms\s+IQR %\s+p90 ms/);
    expect(mm.samples).toBeGreaterThan(0);
    expect(mm.iqrMs).toBeGreaterThanOrEqual(0);
    expect(mm.relSpread).toBeCloseTo(mm.iqrMs / mm.medianMs, 1);
    expect(Math.max(...formatBenchOp(r, 80).split('\n').map((l) => l.length))).toBeLessThanOrEqual(80);
    // A noisy row gets the warning line, with what to do about it.
    const noisy = { ...r, rows: r.rows.map((x) => ({ ...x, relSpread: 0.5 })) };
    expect(formatBenchOp(noisy, Infinity)).toMatch(/\nwarning: 2 of 2 medians have an IQR above 10% of the median: Add\/same_4x5 on cpu \(50%\).*measure longer \(--time 80\)/);
    expect(() => runBenchOp({ cases: '^nothing$', peer: false })).toThrow('bench op: no case matches /^nothing$/');
  });
});

describe('table layout (tools/table.ts)', () => {
  it('fits the width: text wraps, numbers stay whole, droppable columns go first with a footnote, --wide is unchanged', async () => {
    const { fitTable, wrapText, elide } = await import('../tools/table.js');
    const rows = [
      ['Linear', '12.345', 'a long reason that has to wrap onto continuation lines because it is long', 'x'.repeat(40)],
      ['Softmax', '0.5', 'short', 'y'],
    ];
    const header = ['op', 'ms', 'reason', { title: 'extra', drop: 1 }];
    const wide = fitTable(header, rows, { width: Infinity });
    expect(wide.split('\n')).toHaveLength(4); // header, rule, two rows: nothing wrapped
    expect(Math.max(...wide.split('\n').map((l) => l.length))).toBeGreaterThan(100);
    const narrow = fitTable(header, rows, { width: 40 }).split('\n');
    expect(Math.max(...narrow.map((l) => l.length))).toBeLessThanOrEqual(40);
    expect(narrow.slice(-2).join(' ')).toBe('(column hidden to fit 40 characters: extra; --wide shows all)');
    expect(narrow.join('\n')).toContain('12.345'); // a numeric cell is never split
    expect(narrow.filter((l) => l.startsWith('Linear'))).toHaveLength(1);
    expect(narrow.some((l) => /^\s+\S/.test(l) && !l.startsWith('-'))).toBe(true); // continuation lines
    // Every word of the reason survives the wrapping, in order.
    expect(narrow.slice(2).map((l) => l.slice(12).trim()).join(' ')).toContain('a long reason that has to wrap onto continuation lines');
    expect(wrapText('library=/a/b/c/d.so abi=1', 12)).toEqual(['library=/a/', 'b/c/d.so', 'abi=1']);
    expect(wrapText('one\ntwo', 80)).toEqual(['one', 'two']);
    const { outputWidth } = await import('../tools/table.js');
    expect(outputWidth({ isTTY: true, columns: 132 })).toBe(132); // a wide terminal gets its width
    expect(outputWidth({ isTTY: true, columns: 60 })).toBe(80);
    expect(outputWidth({ isTTY: false, columns: 200 })).toBe(80); // piped: 80
    expect(elide('description text', 8)).toBe('descrip…');
    const el = fitTable(['k', { title: 'd', elide: true }], [['a', 'z'.repeat(200)]], { width: 30 }).split('\n');
    expect(el[2]).toMatch(/^a\s+z+…$/);
    expect(el[2]!.length).toBeLessThanOrEqual(30);
  });
});

describe('option values (tools/cli_args.ts)', () => {
  it('integers are decimal and bounded, floats are decimal and in range; errors name the option, value and range', async () => {
    const { parseIntOption, parseFloatOption, parseIntList } = await import('../tools/cli_args.js');
    expect(parseIntOption('--n', '12', 0, 100)).toBe(12);
    expect(() => parseIntOption('--n', '1e12', 0, 100)).toThrow("--n '1e12' is not a decimal integer (allowed: 0..100)");
    expect(() => parseIntOption('--n', '', 0, 100)).toThrow("--n '' is not a decimal integer (allowed: 0..100)");
    expect(() => parseIntOption('--n', '0x10', 0, 100)).toThrow("--n '0x10' is not a decimal integer");
    expect(() => parseIntOption('--n', '1.5', 0, 100)).toThrow("--n '1.5' is not a decimal integer");
    expect(() => parseIntOption('--n', '-1', 0, 100)).toThrow('--n -1 is out of range (allowed: 0..100)');
    expect(() => parseIntOption('--n', '101', 0, 100)).toThrow('--n 101 is out of range (allowed: 0..100)');
    expect(parseFloatOption('--t', '0.7', { min: 0, max: 2, minExclusive: true })).toBe(0.7);
    expect(parseFloatOption('--t', '1e-3', { min: 0, max: 2, minExclusive: true })).toBe(0.001);
    expect(() => parseFloatOption('--t', '0', { min: 0, max: 2, minExclusive: true })).toThrow('--t 0 is out of range (allowed: > 0 and ≤ 2)');
    for (const bad of ['', 'NaN', 'Infinity', '0x1', '1,5']) expect(() => parseFloatOption('--t', bad, { min: 0, max: 2 }), bad).toThrow(/is not a decimal number/);
    expect(parseIntList('--l', '4, 8,16', 1, 64)).toEqual([4, 8, 16]);
    expect(() => parseIntList('--l', '4,,8', 1, 64)).toThrow("--l '' is not a decimal integer");
  });

  it('-t sets ORT, NPU and native threads through their config modules (each capped at its own limit)', async () => {
    const { setThreads } = await import('../tools/threads.js');
    const { ortConfig, configureOrt } = await import('../backends/ort/config.js');
    const { npuConfig, configureNpu } = await import('../backends/npu/config.js');
    const { nativeConfig, configureNative, NATIVE_MAX_THREADS } = await import('../backends/native/config.js');
    const before = { ort: ortConfig().threads, npu: npuConfig().threads, native: nativeConfig().threads };
    try {
      expect(setThreads(3)).toEqual({ ort: 3, npu: 3, native: 3 });
      expect([ortConfig().threads, npuConfig().threads, nativeConfig().threads]).toEqual([3, 3, 3]);
      expect(setThreads(40)).toEqual({ ort: 40, npu: 16, native: Math.min(40, NATIVE_MAX_THREADS) });
    } finally {
      configureOrt({ threads: before.ort });
      configureNpu({ threads: before.npu });
      configureNative({ threads: before.native });
    }
  });
});

describe('benchmark spread (tools/stats.ts)', () => {
  it('median and IQR with interpolated quantiles; a warning names the noisy rows', async () => {
    const { quantile, spreadOf, spreadWarning } = await import('../tools/stats.js');
    expect(quantile([1, 2, 3, 4], 0.5)).toBe(2.5);
    expect(spreadOf([10, 1, 4, 3, 2])).toEqual({ median: 3, iqr: 2, relSpread: 2 / 3, samples: 5 });
    expect(spreadOf([5])).toMatchObject({ median: 5, iqr: 0, relSpread: 0 });
    expect(spreadWarning([{ label: 'a', relSpread: 0.05 }], '--time 2000')).toBe('');
    const w = spreadWarning([{ label: 'a', relSpread: 0.05 }, { label: 'b on cpu', relSpread: 0.25 }], '--time 2000');
    expect(w).toBe('warning: 1 of 2 medians have an IQR above 10% of the median: b on cpu (25%); these numbers are noisy: measure longer (--time 2000) or on a quieter machine');
  });
});

describe('the built CLI: tables, numbers, conflicts', { timeout: 120_000 }, () => {
  const ROOT = join(import.meta.dirname, '..');
  const CLI = join(ROOT, 'dist', 'tools', 'cli.js');
  const LLAMA = join(ROOT, 'test', 'fixtures', 'models', 'llama-mha');
  /** Runs the CLI with stdout and stderr piped (not a TTY: tables fit 80 columns). */
  const run = (args: string[]): Promise<{ code: number | null; signal: string | null; stdout: string; stderr: string }> =>
    new Promise((resolve) => {
      const p = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      p.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
    });
  const widest = (text: string) => Math.max(...text.split('\n').map((l) => l.length));

  it('backends and ops fit 80 columns when piped; --wide prints full rows; --json is unchanged', async () => {
    const [b, bw, bj, o, ow] = await Promise.all([run(['backends']), run(['backends', '--wide']), run(['backends', '--json']), run(['ops']), run(['ops', '--wide'])]);
    for (const r of [b, bw, bj, o, ow]) expect(r.code, r.stderr).toBe(0);
    expect(widest(b.stdout)).toBeLessThanOrEqual(80);
    expect(widest(o.stdout)).toBeLessThanOrEqual(80);
    expect(b.stdout).toMatch(/^backend\s+status/);
    expect(b.stdout).toMatch(/^cpu\s+available/m);
    expect(widest(bw.stdout)).toBeGreaterThan(80); // the description column is back
    expect(bw.stdout).toContain('description');
    const list = JSON.parse(bj.stdout) as { name: string }[];
    expect(list.map((x) => x.name)).toContain('cpu');
    expect(o.stdout).toMatch(/^MatMul\s+/m);
  });

  it('bad numbers exit non-zero with one line naming the option, the value and the range', async () => {
    const cases: [string[], RegExp][] = [
      [['generate', '-m', LLAMA, '--ids', '1', '--max-new-tokens', '1e12'], /--max-new-tokens '1e12' is not a decimal integer \(allowed: 1\.\.1048576\)/],
      [['generate', '-m', LLAMA, '--ids', '1', '-n', ''], /--max-new-tokens '' is not a decimal integer/],
      [['generate', '-m', LLAMA, '--ids', '1', '-n', '0x10'], /--max-new-tokens '0x10' is not a decimal integer/],
      [['generate', '-m', LLAMA, '--ids', '1', '-n', '-1'], /--max-new-tokens -1 is out of range \(allowed: 1\.\.1048576\)/],
      [['generate', '-m', LLAMA, '--ids', '1', '-n', '1.5'], /--max-new-tokens '1.5' is not a decimal integer/],
      [['generate', '-m', LLAMA, '--ids', '1', '--temperature', '0'], /--temperature 0 is out of range \(allowed: > 0 and ≤ 100\)/],
      [['generate', '-m', LLAMA, '--ids', '1', '--top-p', '0x1'], /--top-p '0x1' is not a decimal number/],
      [['generate', '-m', LLAMA, '--ids', '1', '--seed', '-3'], /--seed -3 is out of range \(allowed: 0\.\.4294967295\)/],
      [['generate', '-m', LLAMA, '--ids', '1', '-t', '0'], /--threads 0 is out of range \(allowed: 1\.\.256\)/],
      [['profile', '-m', LLAMA, '--ids', '1', '--warmup', '1e3'], /--warmup '1e3' is not a decimal integer/],
      [['bench', 'op', 'Add', '--time', '0x10'], /--time '0x10' is not a decimal integer/],
      [['bench', 'model', '-m', LLAMA, '-r', '0'], /--reps 0 is out of range \(allowed: 1\.\.1000\)/],
      [['bench', 'model', '-m', LLAMA, '-p', '4,1e3'], /--prompt-lengths '1e3' is not a decimal integer/],
      [['eval', 'perplexity', '-m', LLAMA, '--window', '1'], /--window 1 is out of range \(allowed: 2\.\.1048576\)/],
      [['quantize', '-m', LLAMA, '--recipe', 'w8a8', '--out', '/tmp/x', '--alpha', '2'], /--alpha 2 is out of range/],
    ];
    const runs = await Promise.all(cases.map(([args]) => run(args)));
    for (const [i, [args, re]] of cases.entries()) {
      const r = runs[i]!;
      expect(r.code, args.join(' ')).not.toBe(0);
      expect(r.stdout, args.join(' ')).toBe('');
      expect(r.stderr.trim().split('\n'), args.join(' ')).toHaveLength(1);
      expect(r.stderr, args.join(' ')).toMatch(re);
    }
  });

  it('conflicting options are an error; a bad --dispatch is reported before anything is printed', async () => {
    const cases: [string[], RegExp][] = [
      [['generate', '-m', LLAMA, '--ids', '1', '--prompt', 'hi'], /'-p, --prompt <text>' cannot be used with option '--ids <list>'/],
      [['generate', '-m', LLAMA, '--ids', '1', '-f', 'x.txt'], /'-f, --prompt-file <file>' cannot be used with option '--ids <list>'/],
      [['generate', '-m', LLAMA, '--ids', '1', '--greedy', '--temperature', '0.7'], /'--greedy' cannot be used with option '--temperature <t>'/],
      [['generate', '-m', LLAMA, '--ids', '1', '--greedy', '--seed', '3'], /'--greedy' cannot be used with option '--seed <s>'/],
      [['bench', 'model', '-m', LLAMA, '--dispatch', 'Linear=cpu', '--compare-dispatch', 'a', 'b'], /--compare-dispatch <policies...>' cannot be used with option '--dispatch <policy>'/],
      [['bench', 'model', '-m', LLAMA, '-l', '4', '-p', '8'], /'-l <list>' cannot be used with option '-p, --prompt-lengths <list>'/],
      [['bench', 'op', 'Add', '--json', '--format', 'csv'], /'--json' cannot be used with option '--format <f>'/],
      [['generate', '-m', 'demo:llama', '-p', 'In the beginning', '--dispatch', 'Linear=gpu9'], /^opshift: dispatch 'Linear=gpu9': unknown backend 'gpu9'/],
      [['generate', '-m', LLAMA], /give --prompt TEXT, --prompt-file FILE or --ids 1,2,3/],
    ];
    const runs = await Promise.all(cases.map(([args]) => run(args)));
    for (const [i, [args, re]] of cases.entries()) {
      const r = runs[i]!;
      expect(r.code, args.join(' ')).not.toBe(0);
      expect(r.stdout, args.join(' ')).toBe(''); // nothing before the error: not the prompt, not a table
      expect(r.stderr.trim().split('\n'), args.join(' ')).toHaveLength(1);
      expect(r.stderr, args.join(' ')).toMatch(re);
    }
  });
});
