import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  ArgumentError,
  BackendUnavailableError,
  byRows,
  defineOp,
  dispatch,
  listBackends,
  NoKernelError,
  profile,
  scaledDotProductAttention,
  registerBackend,
  registerKernel,
  setDebug,
  setPolicy,
  tensor,
  unregisterBackend,
  withBackend,
  withPolicy,
  zeros,
  Add,
  MatMul,
  Softmax,
  Tensor,
  type Kernel,
} from '../core/index.js';
import type { BinaryInputs, NoAttrs } from '../ops/elementwise.js';
import type { MatMulInputs } from '../ops/linalg.js';

// These tests check dispatch mechanics with cpu as the default for Add/Mul/Softmax. The native kernel backend
// (priority 5, above cpu for those ops; tested in test/native.test.ts) is taken out for this file.
unregisterBackend('native');

/**
 * A second backend defined in the test: its Add computes a + b + 1000 so results prove where an op ran, and
 * it only supports float32, so other dtypes must fall back to cpu.
 */
const fakeAdd: Kernel<BinaryInputs, NoAttrs> = {
  supports: ({ a, b }) => (a.dtype === 'float32' && b.dtype === 'float32' ? true : `rejects ${a.dtype}`),
  run({ a, b }, _attrs, [out]) {
    const x = a.expand(out!.shape).contiguous().toArray() as Float32Array;
    const y = b.expand(out!.shape).contiguous().toArray() as Float32Array;
    const o = out!.storage.data as Float32Array;
    for (let i = 0; i < o.length; i++) o[i] = x[i]! + y[i]! + 1000;
  },
};
const fakeMatMul: Kernel<MatMulInputs, Record<string, never>> = {
  run(_inputs, _attrs, [out]) {
    (out!.storage.data as Float32Array).fill(-1);
  },
};

beforeAll(() => {
  registerBackend({ name: 'fake', priority: -1, description: 'test backend', probe: () => ({ available: true, version: 't1' }) });
  registerKernel(Add, 'fake', fakeAdd);
  registerKernel(MatMul, 'fake', fakeMatMul);
  registerBackend({ name: 'gone', priority: -2, description: 'missing library', probe: () => ({ available: false, reason: 'libgone.so not found' }) });
  registerBackend({
    name: 'broken',
    priority: -3,
    description: 'probe throws',
    probe: () => {
      throw new Error('boom');
    },
  });
});

afterEach(() => {
  setPolicy({});
  setDebug(0);
});

const a = tensor([1, 2, 3], { dtype: 'float32' });
const b = tensor([10, 20, 30], { dtype: 'float32' });
/** Where float32 GEMMs go by default: the wasm backend (priority 10) when it was built, else cpu. */
const gemmDefault = listBackends().find((x) => x.name === 'wasm')?.status.available ? 'wasm' : 'cpu';
/** Every available backend in default priority order, as a NoKernelError lists them. */
const availableOrder = () => listBackends().filter((x) => x.status.available).map((x) => x.name);

describe('backend selection', () => {
  it('defaults to priority order: cpu first, a lower-priority test backend not used', () => {
    const p = profile(() => a.add(b));
    expect(p.result.tolist()).toEqual([11, 22, 33]);
    expect(p.records[0]).toMatchObject({ op: 'Add', backend: 'cpu', cause: 'priority' });
  });

  it('withBackend swaps one region to another backend and unwinds after', () => {
    const p = profile(() => withBackend('fake', () => a.add(b)));
    expect(p.result.tolist()).toEqual([1011, 1022, 1033]);
    expect(p.records[0]).toMatchObject({ backend: 'fake', cause: 'override' });
    expect(a.add(b).tolist()).toEqual([11, 22, 33]);
  });

  it('scopes nest (innermost wins) and unwind on exceptions', () => {
    const inner = withBackend('fake', () => withBackend('cpu', () => a.add(b)));
    expect(inner.tolist()).toEqual([11, 22, 33]);
    expect(() =>
      withBackend('fake', () => {
        throw new Error('user code failed');
      }),
    ).toThrow('user code failed');
    // The failed scope must not leak: we are back on cpu.
    expect(profile(() => a.add(b)).records[0]!.backend).toBe('cpu');
  });

  it('withPolicy swaps per op: Add to fake, MatMul stays on its default backend', () => {
    const m = tensor([[1, 2], [3, 4]], { dtype: 'float32' });
    const p = profile(() => withPolicy({ Add: 'fake' }, () => m.matmul(m).add(m)));
    expect(p.records.map((r) => [r.op, r.backend, r.cause])).toEqual([
      ['MatMul', gemmDefault, 'priority'],
      ['Add', 'fake', 'policy (scoped)'],
    ]);
    expect(p.result.tolist()).toEqual([
      [1008, 1012],
      [1018, 1026],
    ]);
  });

  it('global setPolicy applies until replaced, and scoped policy outranks it', () => {
    setPolicy({ Add: ['fake', 'cpu'] });
    expect(a.add(b).tolist()).toEqual([1011, 1022, 1033]);
    expect(withPolicy({ Add: 'cpu' }, () => a.add(b)).tolist()).toEqual([11, 22, 33]);
    setPolicy({});
    expect(a.add(b).tolist()).toEqual([11, 22, 33]);
  });

  it('per-op rules look at shapes: prefill (M >= 8) vs decode (M = 1)', () => {
    setPolicy({ MatMul: byRows(8, 'fake', 'cpu') });
    const w = tensor(Array.from({ length: 4 }, () => [1, 1, 1, 1]), { dtype: 'float32' });
    const decode = profile(() => tensor([[1, 2, 3, 4]], { dtype: 'float32' }).matmul(w));
    const prefill = profile(() => tensor(Array.from({ length: 8 }, () => [1, 2, 3, 4]), { dtype: 'float32' }).matmul(w));
    expect(decode.records[0]).toMatchObject({ backend: 'cpu', cause: 'policy' });
    expect(decode.result.tolist()).toEqual([[10, 10, 10, 10]]);
    expect(prefill.records[0]).toMatchObject({ backend: 'fake', cause: 'policy' });
    expect(prefill.result.sum().item()).toBe(-32);
  });

  it('falls back when supports() refuses, and records why', () => {
    const i = tensor([1, 2, 3], { dtype: 'int32' });
    const p = profile(() => withBackend('fake', () => i.add(i)));
    expect(p.result.tolist()).toEqual([2, 4, 6]);
    expect(p.records[0]!.backend).toBe('cpu');
    expect(p.records[0]!.cause).toBe('fallback: fake rejects int32 -> cpu');
  });

  it('falls back over unavailable backends and backends without the kernel', () => {
    const p = profile(() => withBackend(['gone', 'fake'], () => a.softmax(0)));
    expect(p.records[0]!.backend).toBe('cpu');
    expect(p.records[0]!.cause).toBe('fallback: gone is unavailable (libgone.so not found); fake has no Softmax kernel -> cpu');
  });

  it('withBackend(..., {fallback: false}) fails instead of falling back, naming every refusal', () => {
    const i = tensor([1, 2], { dtype: 'int32' });
    expect(() => withBackend('fake', () => i.add(i), { fallback: false })).toThrow(NoKernelError);
    expect(() => withBackend('fake', () => i.add(i), { fallback: false })).toThrow(/Add: no backend can run int32\[2\], int32\[2\]; tried:\n {2}fake: rejects int32/);
  });

  it('asking for an unavailable backend without fallback is a BackendUnavailableError', () => {
    expect(() => withBackend('gone', () => a.add(b), { fallback: false })).toThrow(BackendUnavailableError);
    expect(() => withBackend('gone', () => a.add(b), { fallback: false })).toThrow("backend 'gone' is unavailable: libgone.so not found");
    // With fallback (the default) the same scope runs on the next candidate and says why.
    const p = profile(() => withBackend('gone', () => a.add(b)));
    expect(p.records[0]!.cause).toBe('fallback: gone is unavailable (libgone.so not found) -> cpu');
  });

  it('rejects unknown backend names instead of silently ignoring a typo', () => {
    expect(() => withBackend('nup', () => 1)).toThrow(ArgumentError);
    expect(() => setPolicy({ MatMul: ['npu_typo'] })).toThrow(/setPolicy: MatMul: unknown backend 'npu_typo'/);
  });

  it('lists unavailable backends with their reason instead of crashing', () => {
    const list = listBackends();
    expect(list.find((x) => x.name === 'gone')!.status).toEqual({ available: false, reason: 'libgone.so not found' });
    expect(list.find((x) => x.name === 'broken')!.status).toEqual({ available: false, reason: 'probe failed: boom' });
    expect(list.find((x) => x.name === 'cpu')!.status.available).toBe(true);
  });

  it('refuses kernels for unknown backends and duplicate kernels', () => {
    expect(() => registerKernel(Add, 'nowhere', fakeAdd)).toThrow(/backend 'nowhere' is not registered/);
    expect(() => registerKernel(Add, 'fake', fakeAdd)).toThrow(/already has a kernel for backend 'fake'/);
  });
});

describe('composite ops and decomposition', () => {
  it('a policy can ask for the decomposition; it matches the fused kernel', () => {
    const x = tensor(
      [
        [1, 2, 3],
        [-1, 0, 5],
      ],
      { dtype: 'float32' },
    );
    const fused = profile(() => x.softmax(1));
    const decomposed = profile(() => withPolicy({ Softmax: 'decompose' }, () => x.softmax(1)));
    expect(fused.records.map((r) => r.backend)).toEqual(['cpu']);
    expect(decomposed.records.map((r) => [r.op, r.depth])).toEqual([
      ['AMax', 1],
      ['Sub', 1],
      ['Exp', 1],
      ['Sum', 1],
      ['Div', 1],
      ['Softmax', 0],
    ]);
    expect(decomposed.records.at(-1)).toMatchObject({ backend: 'decompose', cause: 'policy (scoped)' });
    const f = fused.result.toArray() as Float32Array;
    const d = decomposed.result.toArray() as Float32Array;
    f.forEach((v, i) => expect(Math.abs(v - d[i]!)).toBeLessThan(1e-7));
  });

  it('runs the decomposition when no backend has a kernel', () => {
    const Double = defineOp<{ x: Tensor }, Record<string, never>>({
      name: 'TestDouble',
      meta: ({ x }) => [{ shape: x.shape, dtype: x.dtype }],
      decompose: ({ x }) => [x.add(x)],
    });
    const p = profile(() => dispatch(Double, { x: a }, {}));
    expect(p.result.tolist()).toEqual([2, 4, 6]);
    expect(p.records.at(-1)).toMatchObject({ op: 'TestDouble', backend: 'decompose' });
    expect(p.records.at(-1)!.cause).toMatch(/^decomposed: (\w+ has no TestDouble kernel; )*cpu has no TestDouble kernel/);
  });

  it('throws NoKernelError listing every backend when there is neither kernel nor decomposition', () => {
    const Lonely = defineOp<{ x: Tensor }, Record<string, never>>({
      name: 'TestLonely',
      meta: ({ x }) => [{ shape: x.shape, dtype: x.dtype }],
    });
    let err: unknown;
    try {
      dispatch(Lonely, { x: a }, {});
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(NoKernelError);
    expect((err as Error).message).toBe(
      `TestLonely: no backend can run float32[3]; tried:\n${availableOrder().map((n) => `  ${n}: has no TestLonely kernel`).join('\n')}`,
    );
    expect((err as Error).message).toContain('  cpu: has no TestLonely kernel\n  fake: has no TestLonely kernel');
  });
});

describe('profiler and debug trace', () => {
  it('counts attention flops over the key length (decode: one query against S keys)', () => {
    // q (1, 2 heads, L 1, E 8), k/v (1, 2, S 5, 8): Q·Kᵀ and P·V are 2·H·L·S·(E + Ev) = 2·2·1·5·16 = 320 flops.
    const q = zeros([1, 2, 1, 8]);
    const kv = zeros([1, 2, 5, 8]);
    const p = profile(() => scaledDotProductAttention(q, kv, kv));
    expect(p.records.find((r) => r.op === 'Attention')).toMatchObject({ flops: 320 });
  });

  it('records op, backend, cause, shapes, dtypes, flops and bytes; summary and Chrome trace', () => {
    const x = tensor([[1, 2, 3]], { dtype: 'float32' });
    const w = tensor([[1, 0, 0], [0, 1, 0]], { dtype: 'float32' });
    const p = profile(() => x.matmul(w.t()).add(1));
    const mm = p.records[0]!;
    expect(mm).toMatchObject({ op: 'MatMul', backend: gemmDefault, cause: 'priority', flops: 12 });
    expect(mm.inputShapes).toEqual([
      [1, 3],
      [3, 2],
    ]);
    expect(mm.outShapes).toEqual([[1, 2]]);
    expect(mm.inputDTypes).toEqual(['float32', 'float32']);
    expect(mm.bytes).toBe((3 + 6 + 2) * 4);
    expect(mm.ms).toBeGreaterThanOrEqual(0);
    const table = p.summary();
    expect(table).toMatch(/^op\s+backend\s+calls/);
    expect(table).toMatch(new RegExp(`MatMul\\s+${gemmDefault}\\s+1`));
    const trace = p.toChromeTrace();
    const ops = trace.traceEvents.filter((e) => (e as { ph: string }).ph === 'X');
    expect(ops).toHaveLength(2);
    expect(ops[0]).toMatchObject({ name: 'MatMul', cat: gemmDefault, args: { cause: 'priority', inputs: 'float32[1,3], float32[3,2]' } });
    // Two ops plus one thread_name lane per backend that ran (MatMul and Add run on different ones with wasm).
    expect(JSON.parse(JSON.stringify(trace)).traceEvents.length).toBe(gemmDefault === 'cpu' ? 3 : 4);
  });

  it('groups records like key_averages', () => {
    const p = profile(() => {
      for (let i = 0; i < 3; i++) a.add(b);
      a.mul(b);
    });
    const rows = p.rows(['op']);
    expect(rows.find((r) => r.op === 'Add')!.calls).toBe(3);
    expect(rows.find((r) => r.op === 'Mul')!.calls).toBe(1);
  });

  it('nested profiles each see their own ops', () => {
    const outer = profile(() => {
      a.add(b);
      return profile(() => a.mul(b));
    });
    expect(outer.records.map((r) => r.op)).toEqual(['Add', 'Mul']);
    expect(outer.result.records.map((r) => r.op)).toEqual(['Mul']);
  });

  it('OPSHIFT_DEBUG=1 prints decisions, =2 one timed line per op', () => {
    const lines: string[] = [];
    const spy = vi.spyOn(process.stderr, 'write').mockImplementation((s: string | Uint8Array) => {
      lines.push(String(s));
      return true;
    });
    try {
      setDebug(1);
      withBackend('fake', () => a.add(b));
      setDebug(2);
      a.mul(b);
    } finally {
      spy.mockRestore();
      setDebug(0);
    }
    expect(lines[0]).toBe('[opshift] Add -> fake (override)\n');
    expect(lines[1]).toMatch(/^\[opshift\] Mul\s+cpu\s+float32\[3\], float32\[3\] -> float32\[3\]\s+\d+\.\d{4} ms\s+\d+\.\d{2} GFLOP\/s\s+\(priority\)\n$/);
  });
});

describe('policy cache', () => {
  it('rebuilds candidate lists when the registry changes', () => {
    registerBackend({ name: 'late', priority: 100, description: 'registered late', probe: () => ({ available: true }) });
    registerKernel(Softmax, 'late', {
      run(_i, _a, [out]) {
        (out!.storage.data as Float32Array).fill(7);
      },
    });
    expect(a.softmax(0).tolist()).toEqual([7, 7, 7]);
    unregisterBackend('late');
    expect((a.softmax(0).toArray() as Float32Array)[2]).toBeCloseTo(0.6652, 4);
  });
});
