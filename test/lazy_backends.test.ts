/**
 * Importing opshift loads no native code; each backend is probed on first need. Policies naming no op are
 * refused with the closest name; async profiles record across awaits; one-time preparation is marked.
 * Child processes run the built package (dist/), so what is loaded at import is observable.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ArgumentError, backendStatus, linear, matmul, profile, randn, setPolicy, withBackend, withPolicy } from '../core/index.js';
import { parsePolicy } from '../core/policy_spec.js';
import { closestName } from '../core/suggest.js';

const root = join(import.meta.dirname, '..');
const coreIndex = join(root, 'dist', 'core', 'index.js');

/** Runs an ES module snippet against dist/ and returns its JSON output. */
function inChild<T>(body: string, extraArgs: readonly string[] = []): T {
  const script = `import { createRequire } from 'node:module';
const require = createRequire(import.meta.url);
const nativeLoaded = () => Object.keys(require.cache).filter((k) => /koffi|onnxruntime|onnx-proto/.test(k)).map((k) => k.match(/node_modules\\/([^/]+)/)?.[1]).filter((v, i, a) => a.indexOf(v) === i);
const o = await import(${JSON.stringify(coreIndex)});
${body}`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script, '--', ...extraArgs], { encoding: 'utf8', timeout: 60_000 });
  if (r.status !== 0) throw new Error(`child exited ${r.status} ${r.signal}: ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as T;
}

describe('lazy backends', () => {
  it('import loads no native library and probes nothing but cpu', () => {
    const out = inChild<{ native: string[]; probed: Record<string, boolean> }>(
      `console.log(JSON.stringify({ native: nativeLoaded(), probed: Object.fromEntries(o.backendNames().map((n) => [n, o.isProbed(n)])) }));`,
    );
    expect(out.native).toEqual([]);
    expect(out.probed).toEqual({ cpu: true, ort: false, wasm: false, npu: false, native: false });
  });

  it('ops that cpu takes probe nothing; a GEMM probes only the backend above cpu; naming a backend probes it', () => {
    const out = inChild<Record<string, unknown>>(`
      const x = o.randn([4, 8]);
      x.exp().sum(-1);
      const afterAdd = { native: nativeLoaded(), wasm: o.isProbed('wasm'), ort: o.isProbed('ort'), npu: o.isProbed('npu'), nativeKernels: o.isProbed('native') };
      x.matmul(o.randn([8, 3]));
      const afterMatmul = { native: nativeLoaded(), wasm: o.isProbed('wasm'), ort: o.isProbed('ort'), npu: o.isProbed('npu'), nativeKernels: o.isProbed('native') };
      // ops the native kernel library implements probe it (and only it) on first use
      x.add(1).softmax(-1);
      const afterSoftmax = { native: nativeLoaded(), nativeKernels: o.isProbed('native'), ort: o.isProbed('ort'), npu: o.isProbed('npu') };
      const p = o.profile(() => o.withBackend('npu', () => x.matmul(o.randn([8, 16]))));
      const afterNpu = { native: nativeLoaded(), npu: o.isProbed('npu'), ort: o.isProbed('ort'), backend: p.records[0].backend };
      console.log(JSON.stringify({ afterAdd, afterMatmul, afterSoftmax, afterNpu }));`);
    expect(out.afterAdd).toEqual({ native: [], wasm: false, ort: false, npu: false, nativeKernels: false });
    expect(out.afterMatmul).toEqual({ native: [], wasm: true, ort: false, npu: false, nativeKernels: false });
    expect(out.afterSoftmax).toEqual({ native: ['koffi'], nativeKernels: true, ort: false, npu: false });
    expect(out.afterNpu).toMatchObject({ native: ['koffi'], npu: true, ort: false });
  });

  it('probeBackends() and listBackends() probe on request', () => {
    const out = inChild<{ before: boolean; statuses: string[]; unknown: string }>(`
      const before = o.isProbed('ort');
      const statuses = Object.keys(o.probeBackends(['ort', 'npu']));
      let unknown = '';
      try { o.probeBackends(['nope']); } catch (e) { unknown = e.message; }
      console.log(JSON.stringify({ before, statuses, unknown }));`);
    expect(out.before).toBe(false);
    expect(out.statuses).toEqual(['ort', 'npu']);
    expect(out.unknown).toMatch(/probeBackends: unknown backend 'nope'/);
  });

  it('with a command line over 24 KiB, ort is unavailable with the reason instead of crashing in onnxruntime-node', () => {
    // onnxruntime-node's initOrt segfaults past ~29 KiB of argv; opshift must never hand it one.
    const long = 'x'.repeat(40_000);
    const out = inChild<{ status: { available: boolean; reason?: string }; backend: string; cause: string }>(
      `const status = o.backendStatus('ort');
       const p = o.profile(() => o.withPolicy({ MatMul: ['ort', 'cpu'] }, () => o.randn([2, 3]).matmul(o.randn([3, 2]))));
       console.log(JSON.stringify({ status, backend: p.records[0].backend, cause: p.records[0].cause }));`,
      [long],
    );
    expect(out.status.available).toBe(false);
    expect(out.status.reason).toMatch(/command line is \d+ bytes.*--prompt-file/);
    expect(out.backend).toBe('cpu');
    expect(out.cause).toMatch(/fallback: ort is unavailable \(the process command line/);
  });
});

describe('policies name real ops', () => {
  it('a policy object naming no op throws with the closest name', () => {
    expect(() => withPolicy({ Matmul: 'cpu' }, () => 0)).toThrow(ArgumentError);
    expect(() => withPolicy({ Matmul: 'cpu' }, () => 0)).toThrow(/withPolicy: unknown op 'Matmul' \(did you mean 'MatMul'\?\)/);
    expect(() => setPolicy({ linear: 'cpu' })).toThrow(/setPolicy: unknown op 'linear' \(did you mean 'Linear'\?\)/);
    expect(() => setPolicy({ Sofmax: 'cpu' })).toThrow(/did you mean 'Softmax'/);
    expect(() => setPolicy({ CompletelyWrong: 'cpu' })).toThrow(/unknown op 'CompletelyWrong'; ops are OpDef names/);
    expect(() => parsePolicy('matmul=cpu')).toThrow(/unknown op 'matmul' \(did you mean 'MatMul'\?\)/);
    expect(() => withBackend('nppu', () => 0)).toThrow(/unknown backend 'nppu' \(did you mean 'npu'\?\)/);
    // '*' and real names are fine
    expect(withPolicy({ '*': 'cpu', MatMul: ['cpu'] }, () => 1)).toBe(1);
  });

  it('closestName: case-insensitive first, then edit distance within a third of the name', () => {
    expect(closestName('layernorm', ['LayerNorm', 'RmsNorm'])).toBe('LayerNorm');
    expect(closestName('Atention', ['Attention', 'Add'])).toBe('Attention');
    expect(closestName('zzzzzz', ['Attention', 'Add'])).toBeUndefined();
  });
});

describe('profiler', () => {
  it('profile(async fn) records every op until the promise settles, and only its own', async () => {
    const x = randn([4, 4]);
    let outside = 0;
    // Work outside the profile, interleaved with it on the event loop, must not be attributed to it.
    const noise = (async () => {
      for (let i = 0; i < 3; i++) {
        await new Promise((r) => setTimeout(r, 1));
        x.mul(2);
        outside++;
      }
    })();
    const p = await profile(async () => {
      x.add(1);
      await new Promise((r) => setTimeout(r, 5));
      x.sub(1);
      await Promise.resolve();
      return x.exp();
    });
    await noise;
    expect(outside).toBe(3);
    expect(p.records.map((r) => r.op)).toEqual(['Add', 'Sub', 'Exp']);
    expect(p.result.shape).toEqual([4, 4]);
  });

  it('a rejected async fn rejects the profile and stops recording', async () => {
    await expect(profile(async () => {
      await Promise.resolve();
      throw new Error('boom');
    })).rejects.toThrow('boom');
    const p = profile(() => randn([2]).add(1));
    expect(p.records).toHaveLength(1);
  });

  it('nested async and sync profiles each see their own scope', async () => {
    const outer = await profile(async () => {
      randn([2]).add(1);
      const inner = profile(() => randn([2]).mul(2));
      await Promise.resolve();
      randn([2]).sub(1);
      return inner;
    });
    expect(outer.result.records.map((r) => r.op)).toEqual(['Mul']);
    expect(outer.records.map((r) => r.op)).toEqual(['Add', 'Mul', 'Sub']);
  });

  it('marks the call that prepared a constant weight, not the warm ones', () => {
    const w = randn([32, 64]).markConstant();
    const x = randn([8, 64]);
    const backends = ['npu', 'wasm'].filter((b) => backendStatus(b)?.available);
    expect(backends.length).toBeGreaterThan(0);
    for (const b of backends) {
      const p = profile(() => withBackend(b, () => [linear(x, w), linear(x, w), matmul(x, w.t())]));
      const linears = p.records.filter((r) => r.op === 'Linear');
      expect(linears.map((r) => r.backend)).toEqual([b, b]);
      expect(linears.map((r) => r.prepared === true)).toEqual([true, false]);
      expect(p.summary()).toContain('+prepare');
    }
  });
});
