/**
 * The backend-swapper's tools: `bench op` (OP names, --shapes, --dtype, --baseline, --check, formats, roofline),
 * `bench machine`, `bench model --plot`, `profile` (prefill/decode split, trace), the SVG chart module, and
 * one-line errors on bad arguments. CLI runs go through dist/ (npm run build); inputs are tiny.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { getOp, listBackends, tensor } from '../core/index.js';
import { benchOpCsv, benchOpMarkdown, compareOutputs, formatBenchOp, parseShapes, planCases, rooflineSvg, runBenchOp } from '../tools/bench_op.js';
import type { MachineProfile } from '../tools/bench_machine.js';
import { defaultNpuLibraryPath } from '../backends/npu/ffi.js';
import { axisMapper, escapeXml, renderChart } from '../tools/chart/svg.js';
import { BACKEND_COLORS, OTHER_COLORS } from '../tools/chart/palette.js';

const ROOT = join(import.meta.dirname, '..');
const CLI = join(ROOT, 'dist', 'tools', 'cli.js');
const LLAMA = join(ROOT, 'test', 'fixtures', 'models', 'llama-mha');
const OPT = join(ROOT, 'test', 'fixtures', 'models', 'opt-preln');
const TMP = mkdtempSync(join(tmpdir(), 'opshift-tools-'));
/** A made-up machine so charts need no probe; the CLI reads it through the session cache. */
const MACHINE: MachineProfile = {
  cpu: cpus()[0]?.model.trim() ?? 'unknown', // the cache is keyed by CPU, core count and Node version
  cores: cpus().length,
  memGiB: 1,
  node: process.version,
  threads: 1,
  bandwidthGBps: 20,
  bandwidthFrom: 'copy (test)',
  peakGflops: 100,
  peakFrom: 'wasm linear (test)',
  bandwidth: [{ kind: 'copy', how: 'test', mib: 1, gbps: 20 }],
  peaks: [{ backend: 'wasm', ranOn: 'wasm', shape: 'test', threads: 1, gflops: 100 }],
  measuredAt: new Date().toISOString(),
  cached: false,
};

function cli(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 120_000, env: { ...process.env, ...env } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function cliAsync(args: string[]): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    p.on('close', (code) => resolve({ code, stderr }));
  });
}

/**
 * A small XML well-formedness check: one root, every tag closed in order, attributes quoted and unique, no raw
 * `<` or stray `&` in text or attribute values. Returns the element names in document order.
 */
function parseXml(xml: string): string[] {
  const body = xml.replace(/^<\?xml[^?]*\?>\s*/, '');
  const stack: string[] = [];
  const names: string[] = [];
  let roots = 0;
  const entity = /&(?!(lt|gt|amp|quot|apos|#\d+|#x[0-9a-fA-F]+);)/;
  const re = /<(\/?)([A-Za-z][\w:-]*)((?:\s+[\w:-]+="[^"<]*")*)\s*(\/?)>|([^<]+)|(<)/g;
  let m: RegExpExecArray | null;
  let pos = 0;
  while ((m = re.exec(body))) {
    if (m.index !== pos) throw new Error(`unparsed text at ${pos}`);
    pos = re.lastIndex;
    if (m[6]) throw new Error(`malformed tag at ${m.index}: ${body.slice(m.index, m.index + 40)}`);
    if (m[5] !== undefined) {
      if (entity.test(m[5])) throw new Error(`bad entity in text '${m[5]}'`);
      if (stack.length === 0 && m[5].trim()) throw new Error('text outside the root');
      continue;
    }
    const [, close, name, attrs, selfClose] = m;
    if (close) {
      if (stack.pop() !== name) throw new Error(`</${name}> closes the wrong element`);
      continue;
    }
    const keys = [...attrs!.matchAll(/([\w:-]+)="([^"]*)"/g)];
    if (new Set(keys.map((k) => k[1])).size !== keys.length) throw new Error(`duplicate attribute on <${name}>`);
    for (const k of keys) if (entity.test(k[2]!)) throw new Error(`bad entity in ${name}@${k[1]}`);
    if (stack.length === 0) roots++;
    names.push(name!);
    if (!selfClose) stack.push(name!);
  }
  if (pos !== body.length) throw new Error('trailing garbage');
  if (stack.length) throw new Error(`unclosed <${stack.at(-1)}>`);
  if (roots !== 1) throw new Error(`${roots} root elements`);
  return names;
}

const seriesOf = (svg: string) => [...svg.matchAll(/<g class="series" data-series="([^"]*)"/g)].map((m) => m[1]!);

describe('chart module', () => {
  it('writes well-formed SVG with escaped text, log and linear axes, one group per series and a legend', () => {
    const svg = renderChart({
      title: 'a <b> & "c"',
      panels: [
        { title: 'log', x: { label: 'x', scale: 'log' }, y: { label: 'y', scale: 'log' }, series: [{ name: 'Linear=rows>=8?ort:cpu', points: [{ x: 0.5, y: 3, label: '<&>' }, { x: 40, y: 90 }] }, { name: 'b', mode: 'line', dashed: true, points: [{ x: 1, y: 1 }, { x: 2, y: 0 }] }] },
        { x: { label: 'n', ticks: [128, 256] }, y: { label: 'tok/s' }, series: [{ name: 'b', points: [{ x: 128, y: 10 }, { x: 256, y: NaN }] }] },
      ],
    });
    const names = parseXml(svg);
    expect(names[0]).toBe('svg');
    expect(names.filter((n) => n === 'polyline').length).toBeGreaterThanOrEqual(1);
    expect(svg).toContain('a &lt;b&gt; &amp; &quot;c&quot;');
    expect(svg).toContain('data-series="Linear=rows&gt;=8?ort:cpu"');
    expect(seriesOf(svg)).toEqual(['Linear=rows>=8?ort:cpu', 'b', 'b'].map(escapeXml));
    expect(svg).not.toMatch(/NaN|Infinity/);
    // Log axes snap to decades; linear axes to 1-2-5 steps from zero.
    expect(axisMapper({ label: '', scale: 'log' }, [0.5, 40]).ticks).toEqual([0.1, 1, 10, 100]);
    expect(axisMapper({ label: '' }, [3, 97]).ticks).toEqual([0, 20, 40, 60, 80, 100]);
  });

  it('puts the legend outside every plot area, gives backends their fixed colours and points their op-family markers', () => {
    const machine = { ...MACHINE };
    const row = (c: string, op: string, backend: string, intensity: number, gflops: number) => ({
      case: c, op, backend, ranOn: backend, cause: 'override', inputs: '', dtype: 'float32', medianMs: 1, iqrMs: 0, relSpread: 0, samples: 10, p90Ms: 1,
      opsPerS: 1000, flops: gflops * 1e6, bytes: (gflops * 1e6) / intensity, intensity, gflops, gbps: gflops / intensity, kernelMs: undefined, torchMs: 0.5, speedup: undefined, check: undefined,
    });
    const r = {
      rows: [row('Linear/8x64x64', 'Linear', 'ort', 8, 20), row('Linear/8x64x64', 'Linear', 'cpu', 8, 5), row('Mul/64', 'Mul', 'cpu', 0.08, 0.5), row('Softmax/64', 'Softmax', 'wasm', 0.5, 1)],
      peer: 'test', baseline: undefined, threads: 1, timeMs: 10,
    };
    const svg = rooflineSvg(r, machine);
    parseXml(svg);
    const plots = [...svg.matchAll(/<rect class="plot" x="([\d.]+)" y="[\d.]+" width="([\d.]+)"/g)].map((m) => Number(m[1]) + Number(m[2]));
    const legendX = Number(/<g class="legend"><rect x="([\d.]+)"/.exec(svg)![1]);
    expect(plots.length).toBe(1);
    expect(legendX).toBeGreaterThan(Math.max(...plots));
    // Fixed colours: cpu blue, ort vermillion, wasm green, PyTorch black, wherever they appear.
    const colourOf = (name: string) => new RegExp(`data-series="${name}"[^>]*>(?:<[a-z]+ [^>]*?(?:fill|stroke)="(#[0-9A-F]{6})")`).exec(svg)?.[1];
    expect([colourOf('cpu'), colourOf('ort'), colourOf('wasm'), colourOf('PyTorch')]).toEqual([BACKEND_COLORS.cpu, BACKEND_COLORS.ort, BACKEND_COLORS.wasm, BACKEND_COLORS.PyTorch]);
    // Markers per op family (circle: GEMM, rect: elementwise binary, polygon: softmax/norms), case numbers as tags.
    const cpu = /data-series="cpu"[^>]*>(.*?)<\/g>/.exec(svg)![1]!;
    expect(cpu).toMatch(/<circle [^>]*><title>Linear\/8x64x64 on cpu/);
    expect(cpu).toMatch(/<rect [^>]*><title>Mul\/64 on cpu/);
    expect(/data-series="wasm"[^>]*>(.*?)<\/g>/.exec(svg)![1]).toMatch(/^<polygon [^>]*><title>Softmax\/64 on wasm/);
    expect([...svg.matchAll(/<g class="tags">(.*?)<\/g>/g)].flatMap((m) => [...m[1]!.matchAll(/>(\d+)<\/text>/g)].map((t) => t[1])).sort()).toEqual(['1', '2', '3']);
    expect(svg).toContain('>op family</text>');
    expect(svg).toContain('>Linear/8x64x64</text>');
    // The same backend keeps its colour in a chart where it is not the first series.
    const two = renderChart({ title: 't', panels: [{ x: { label: 'x' }, y: { label: 'y' }, series: [{ name: 'default', points: [{ x: 1, y: 1 }] }, { name: 'cpu', points: [{ x: 2, y: 2 }] }] }] });
    expect(/data-series="cpu"[^>]*><circle [^>]*fill="(#[0-9A-F]{6})"/.exec(two)![1]).toBe(BACKEND_COLORS.cpu);
    expect(/data-series="default"[^>]*><circle [^>]*fill="(#[0-9A-F]{6})"/.exec(two)![1]).toBe(OTHER_COLORS[0]);
  });
});

describe('bench op (in process)', () => {
  const others = listBackends().filter((b) => b.status.available && b.name !== 'cpu').map((b) => b.name);

  it('builds cases from OP names and --shapes (M×K×N for GEMMs, tensor shapes otherwise), with --dtype', () => {
    expect(parseShapes('1x2048x2048, 128x2048x2048')).toEqual([[1, 2048, 2048], [128, 2048, 2048]]);
    const gemm = planCases({ shapes: '2x3x4' });
    expect(gemm.map((c) => c.name)).toEqual(['MatMul/2x3x4', 'Linear/2x3x4']);
    expect(gemm[1]!.args.map((a) => ('input' in a ? a.input.shape : null))).toEqual([[2, 3], [4, 3], null]);
    const ew = planCases({ ops: ['Add', 'Softmax', 'RmsNorm'], shapes: '8x16', dtype: 'bfloat16' });
    expect(ew.map((c) => c.name)).toEqual(['Add/8x16:bfloat16', 'Softmax/8x16:bfloat16', 'RmsNorm/8x16:bfloat16']);
    expect(planCases({ ops: ['Rope'] }).every((c) => c.op === 'Rope')).toBe(true);
    expect(planCases({ cases: '^Add/same_4x5$', dtype: 'float16' }).map((c) => c.name)).toEqual(['Add/same_4x5:float16']);
    expect(() => planCases({ ops: ['Nope'] })).toThrow("bench op: unknown op 'Nope' (see opshift ops)");
    expect(() => planCases({ shapes: '4xx4' })).toThrow("--shapes '4xx4': '4xx4' is not a shape like 128x2048x2048");
    expect(() => planCases({ ops: ['MatMul'], shapes: '4x4' })).toThrow('MatMul takes M×K×N');
    expect(() => planCases({ ops: ['Cat'], shapes: '4x4' })).toThrow('no shape builder for Cat');
    expect(() => runBenchOp({ backends: ['gpu9'], cases: '^Add/same_4x5$', peer: false })).toThrow("unknown backend 'gpu9'");
  });

  it('times every backend with the baseline ratio and checks outputs against cpu; csv, md and the roofline', () => {
    const r = runBenchOp({ ops: ['MatMul', 'Add'], shapes: '4x8x8', backends: others.slice(0, 1), baseline: 'cpu', check: true, timeMs: 15, peer: false });
    const backends = [...others.slice(0, 1), 'cpu'];
    expect(r.rows.map((x) => [x.case, x.backend])).toEqual(
      (['MatMul', 'Add'] as const).flatMap((op) => backends.filter((b) => getOp(op)!.kernels.has(b)).map((b) => [`${op}/4x8x8`, b])),
    );
    const mm = r.rows.find((x) => x.case === 'MatMul/4x8x8' && x.backend === 'cpu')!;
    expect(mm.flops).toBe(2 * 4 * 8 * 8);
    expect(mm.intensity).toBeCloseTo(mm.flops / mm.bytes, 12);
    expect(mm.speedup).toBe(1);
    expect(mm.opsPerS).toBeCloseTo(1000 / mm.medianMs, 6);
    expect(mm.check).toMatchObject({ maxAbs: 0, nmse: 0, ok: true });
    for (const x of r.rows) {
      expect(x.check!.ok, x.case + x.backend).toBe(true);
      expect(x.speedup).toBeGreaterThan(0);
      expect(x.cause).toBe('override');
    }
    expect(formatBenchOp(r, Infinity)).toMatch(/^case\s+backend\s+median ms.*vs cpu.*max abs err.*NMSE\s+check/);
    const csv = benchOpCsv(r).split('\n');
    expect(csv[0]!.split(',').slice(0, 4)).toEqual(['case', 'op', 'backend', 'ran_on']);
    expect(csv).toHaveLength(r.rows.length + 1);
    expect(benchOpMarkdown(r).split('\n')[1]).toMatch(/^\|(---\|)+$/);
    const svg = rooflineSvg(r, MACHINE);
    parseXml(svg);
    expect(seriesOf(svg)).toEqual([...new Set(r.rows.map((x) => x.backend))].concat(['roof (this machine, 1 thread)']));
  });

  it('compareOutputs reports max abs / rel error and NMSE, and allclose with the tolerance', () => {
    const ref = [tensor([1, 2, 0, -4], { dtype: 'float32' })];
    const got = [tensor([1, 2.002, 0.0005, -4], { dtype: 'float32' })];
    const c = compareOutputs(got, ref, { rtol: 1e-3, atol: 1e-3 });
    expect(c.maxAbs).toBeCloseTo(0.002, 6);
    expect(c.maxRel).toBeCloseTo(0.001, 6);
    expect(c.nmse).toBeCloseTo((0.002 ** 2 + 0.0005 ** 2) / 21, 9);
    expect(c.ok).toBe(true);
    expect(compareOutputs(got, ref, { rtol: 1e-4, atol: 1e-4 }).ok).toBe(false);
  });
});

describe('CLI: bench op / machine / model --plot / profile', { timeout: 120_000 }, () => {
  const cache = join(TMP, 'machine.json');
  writeFileSync(cache, JSON.stringify(MACHINE));

  it('bench op --json --plot: rows per case × backend, the roofline from the cached machine, quiet stderr when piped', () => {
    const svgFile = join(TMP, 'roof.svg');
    const r = cli(['bench', 'op', 'Linear', 'Mul', '--shapes', '3x16x8', '--backends', 'cpu', '--baseline', 'cpu', '--check', '--time', '20', '--no-peer', '--json', '--plot', svgFile], { OPSHIFT_MACHINE_CACHE: cache });
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { rows: { case: string; backend: string; speedup: number; check: { ok: boolean } }[]; machine: { cpu: string; cached: boolean } };
    expect(out.rows.map((x) => x.case)).toEqual(['Linear/3x16x8', 'Mul/3x16x8']);
    expect(out.rows.every((x) => x.speedup === 1 && x.check.ok)).toBe(true);
    expect(out.machine).toMatchObject({ bandwidthFrom: 'copy (test)', cached: true });
    const svg = readFileSync(svgFile, 'utf8');
    parseXml(svg);
    expect(seriesOf(svg)).toEqual(['cpu', 'roof (this machine, 1 thread)']);
    expect(r.stderr).toBe(`roofline written to ${svgFile}\n`); // no progress bar: stderr is a pipe
  });

  it('bench machine --json measures bandwidth and peak and caches them', () => {
    const file = join(TMP, 'fresh.json');
    const r = cli(['bench', 'machine', '--json', '--time', '20', '--mib', '8', '--fresh'], { OPSHIFT_MACHINE_CACHE: file });
    expect(r.code, r.stderr).toBe(0);
    const m = JSON.parse(r.stdout) as MachineProfile;
    // the native read probe comes from the NPU emulation library whenever it is built (npm run build does)
    expect(m.bandwidth.map((b) => b.kind)).toEqual(existsSync(defaultNpuLibraryPath()) ? ['copy', 'triad', 'read'] : ['copy', 'triad']);
    expect(m.bandwidthGBps).toBe(Math.max(...m.bandwidth.map((b) => b.gbps)));
    expect(m.bandwidthGBps).toBeGreaterThan(0);
    expect(m.peaks.map((p) => p.backend)).toContain('cpu');
    expect(m.peakGflops).toBe(Math.max(...m.peaks.filter((p) => p.threads === 1).map((p) => p.gflops)));
    expect(JSON.parse(readFileSync(file, 'utf8'))).toMatchObject({ peakGflops: m.peakGflops });
    const again = cli(['bench', 'machine', '--json'], { OPSHIFT_MACHINE_CACHE: file });
    expect((JSON.parse(again.stdout) as MachineProfile).cached).toBe(true);
  });

  it('bench model --plot: TTFT and tok/s panels with one series per dispatch policy', () => {
    const svgFile = join(TMP, 'model.svg');
    const r = cli(['bench', 'model', '--model', LLAMA, '-l', '4,8', '-g', '2', '-w', '0', '-r', '1', '--compare-dispatch', '', 'Linear=cpu', '--format', 'csv', '--plot', svgFile]);
    expect(r.code, r.stderr).toBe(0);
    const svg = readFileSync(svgFile, 'utf8');
    expect(seriesOf(svg), svg).toEqual(['default', 'Linear=cpu', 'default', 'Linear=cpu']);
    expect(parseXml(svg).filter((n) => n === 'polyline'), `${r.stdout}\n${svg}`).toHaveLength(4);
    expect(svg).toContain('time to first token');
    expect(svg).toContain('decode speed');
  });

  it('profile --json --trace: prefill (M = prompt) and decode (M = 1) split, GEMM time by phase, Chrome trace', () => {
    const traceFile = join(TMP, 'trace.json');
    const r = cli(['profile', '--model', LLAMA, '--ids', '1,2,3,4,5', '--max-new-tokens', '4', '--dispatch', 'Linear=rows>=2?cpu:ort,*=cpu', '--trace', traceFile, '--json']);
    expect(r.code, r.stderr).toBe(0);
    type Phase = { forwards: number; m: number; ops: number; rows: { op: string; backend: string; shapes: string; causes: string[] }[] };
    const out = JSON.parse(r.stdout) as { promptTokens: number; generatedTokens: number; prefill: Phase; decode: Phase; gemm: { op: string; backend: string; prefillCalls: number; decodeCalls: number }[] };
    expect(out.promptTokens).toBe(5);
    expect(out.prefill).toMatchObject({ forwards: 1, m: 5 });
    expect(out.decode).toMatchObject({ forwards: out.generatedTokens - 1, m: 1 });
    const lin = (p: Phase) => p.rows.filter((x) => x.op === 'Linear');
    // The rows rule sends prefill's Linears (M = 5) to cpu, decode's (M = 1) to ort, and so the lm_head, which
    // sees the last position only, in both phases.
    const rows5 = (x: { shapes: string }) => x.shapes.startsWith('float32[1,5,');
    expect(lin(out.prefill).map((x) => [x.backend, rows5(x) || x.shapes.startsWith('float32[1,1,32], float32[96,32]')])).toEqual(lin(out.prefill).map((x) => [rows5(x) ? 'cpu' : 'ort', true]));
    expect(lin(out.decode).every((x) => x.backend === 'ort' && x.shapes.startsWith('float32[1,1,'))).toBe(true);
    expect(lin(out.prefill)[0]!.causes).toEqual(['policy (scoped)']);
    const g = out.gemm.filter((x) => x.op === 'Linear');
    expect(g.map((x) => [x.backend, x.prefillCalls, x.decodeCalls > 0]).sort()).toEqual([['cpu', 14, false], ['ort', 1, true]]);
    const trace = JSON.parse(readFileSync(traceFile, 'utf8')) as { traceEvents: { name: string; ph: string; tid?: number; args?: { phase?: string } }[] };
    const spans = trace.traceEvents.filter((e) => e.ph === 'X' && e.tid === 0);
    expect(spans.map((e) => e.args!.phase)).toEqual(['prefill', ...Array(out.generatedTokens - 1).fill('decode')]);
    expect(trace.traceEvents.filter((e) => e.ph === 'X' && e.name === 'Linear').length).toBe(g.reduce((a, x) => a + x.prefillCalls + x.decodeCalls, 0));
  });

  it('profile --warmup runs untimed steps first and says so; the tables fit 80 columns when piped', () => {
    const r = cli(['profile', '-m', LLAMA, '--ids', '1,2,3,4', '-n', '3', '--warmup', '2', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { warmup: number; prefill: { forwards: number; m: number }; decode: { forwards: number } };
    expect(out.warmup).toBe(2);
    // The warm-up's forwards are not in the profile: one prefill over the prompt and the decode steps.
    expect(out.prefill).toMatchObject({ forwards: 1, m: 4 });
    expect(out.decode.forwards).toBe(2);
    const text = cli(['profile', '-m', LLAMA, '--ids', '1,2,3,4', '-n', '3', '--warmup', '1']);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout.replace(/\n/g, ' ')).toContain('after 1 untimed warm-up step');
    expect(Math.max(...text.stdout.split('\n').map((l) => l.length))).toBeLessThanOrEqual(80);
    const cold = cli(['profile', '-m', LLAMA, '--ids', '1,2', '-n', '2', '--wide']);
    expect(cold.stdout).toMatch(/no warm-up \(prefill includes one-time weight preparation; --warmup N\)/);
    expect(cold.stdout).toMatch(/^op\s+backend\s+calls\s+total ms\s+avg µs\s+% time\s+GFLOP\/s\s+cause\s+inputs$/m);
  });

  it('bench op: spread fields in JSON and CSV, the table fits 80 columns piped', () => {
    const r = cli(['bench', 'op', 'Add', '--shapes', '4x8', '--backends', 'cpu', '--time', '30', '--no-peer', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const rows = (JSON.parse(r.stdout) as { rows: { medianMs: number; iqrMs: number; relSpread: number; samples: number }[] }).rows;
    expect(rows).toHaveLength(1);
    expect(rows[0]!.samples).toBeGreaterThan(3);
    expect(rows[0]!.iqrMs).toBeGreaterThanOrEqual(0);
    expect(rows[0]!.relSpread).toBeCloseTo(rows[0]!.iqrMs / rows[0]!.medianMs, 6);
    const table = cli(['bench', 'op', 'Add', 'Linear', '--shapes', '4x8x8', '--backends', 'cpu', '--baseline', 'cpu', '--check', '--time', '20', '--no-peer']);
    expect(table.code, table.stderr).toBe(0);
    expect(Math.max(...table.stdout.split('\n').map((l) => l.length))).toBeLessThanOrEqual(80);
    expect(table.stdout).toMatch(/^case\s+backend\s+median\s+IQR/);
    const csv = cli(['bench', 'op', 'Add', '--shapes', '4x8', '--backends', 'cpu', '--time', '20', '--no-peer', '--format', 'csv']);
    expect(csv.stdout.split('\n')[0]).toMatch(/^case,op,backend,ran_on,dtype,inputs,median_ms,iqr_ms,rel_spread,samples,p90_ms,/);
  });

  it('profile prints the prefill / decode tables and a forward-only run (--max-new-tokens 0)', () => {
    const r = cli(['profile', '--model', OPT, '--ids', '5,6,7', '--max-new-tokens', '0', '--group-by', 'op,backend']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/prefill: 1 forward, M = 3/);
    expect(r.stdout).toContain('no decode steps');
    expect(r.stdout).toMatch(/GEMM time by phase\nop\s+backend\s+prefill/);
  });

  it('bad arguments exit non-zero with a one-line reason', async () => {
    const cases: [string[], RegExp][] = [
      [['bench', 'op', 'Nope'], /unknown op 'Nope'/],
      [['bench', 'op', '--shapes', '12xx3'], /'12xx3' is not a shape like/],
      [['bench', 'op', 'MatMul', '--backends', 'gpu9'], /unknown backend 'gpu9'/],
      [['bench', 'op', 'Add', '--baseline', 'gpu9'], /unknown backend 'gpu9' in --baseline/],
      [['bench', 'op', '--dtype', 'float64'], /argument 'float64' is invalid/],
      [['bench', 'op', 'Add', '--png', 'x.png'], /--png needs --plot/],
      [['profile', '--model', LLAMA, '--ids', '1', '--dispatch', 'Linear=gpu9'], /unknown backend 'gpu9'/],
      [['profile', '--model', LLAMA], /give --prompt TEXT, --prompt-file FILE or --ids/],
    ];
    const runs = await Promise.all(cases.map(([args]) => cliAsync(args)));
    for (const [i, [args, re]] of cases.entries()) {
      const r = runs[i]!;
      expect(r.code, args.join(' ')).not.toBe(0);
      expect(r.stderr.trim().split('\n'), args.join(' ')).toHaveLength(1);
      expect(r.stderr).toMatch(re);
    }
  });
});
