/**
 * The native kernel library: every ISA variant this CPU allows (forced one by one) against the portable variant
 * and the TypeScript reference, on the catalog and on shapes with vector tails; threads (1 vs 2 bit-identical);
 * the KV-cache-in-place decode path; the fallback when the library is missing; bad input.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { backendStatus, getOp, manualSeed, profile, rand, scaledDotProductAttention, softmax, Tensor, withBackend } from '../core/index.js';
import { add, div, gelu, mul, relu, silu, sub } from '../ops/elementwise.js';
import { layerNorm, rmsNorm, rope, ropeTables } from '../ops/nn.js';
import { logSoftmax } from '../ops/reduce2.js';
import { siluMul } from '../ops/fused.js';
import { nativeLib, supportedIsas } from '../backends/native/backend.js';
import { configureNative, nativeConfig } from '../backends/native/config.js';
import { loadNativeLibrary, NativeError, NkBinary, NkUnary } from '../backends/native/ffi.js';
import { buildArgs, defaultTolerance, OP_CASES, runCase } from '../tools/op_cases.js';

const available = backendStatus('native')?.available === true;
const initial = nativeConfig();
afterAll(() => {
  if (available) configureNative(initial);
});

const values = (t: Tensor): Float32Array => t.contiguous().toTypedArray() as Float32Array;

/** Largest |a − b| − (atol + rtol·|b|) over the elements (≤ 0: within tolerance; -Infinity when all are equal); NaN must match NaN. */
function excess(a: Float32Array, b: Float32Array, rtol: number, atol: number): number {
  expect(a.length).toBe(b.length);
  let worst = -Infinity;
  for (let i = 0; i < a.length; i++) {
    if (Number.isNaN(b[i]!)) {
      expect(Number.isNaN(a[i]!), `element ${i}: NaN expected, got ${a[i]}`).toBe(true);
      continue;
    }
    if (a[i] === b[i]) continue; // equal infinities have no finite difference
    worst = Math.max(worst, Math.abs(a[i]! - b[i]!) - (atol + rtol * Math.abs(b[i]!)));
  }
  return worst;
}

/** Runs fn on native (asserting it was native's kernel that ran `op`) and on cpu. */
function both(op: string, fn: () => Tensor): { nat: Float32Array; ref: Float32Array } {
  const p = profile(() => withBackend('native', fn));
  expect(p.records.find((r) => r.op === op && r.depth === 0)?.backend, `${op} ran on native`).toBe('native');
  return { nat: values(p.result), ref: values(withBackend('cpu', fn)) };
}

/** Calls with shapes that exercise vector bodies and scalar tails of every width (4, 8, 16 lanes). */
function stressCalls(): [string, () => Tensor, boolean][] {
  manualSeed(7);
  const x = rand([6, 4099]).mul(8).sub(4);
  const w = rand([4099]);
  const bias = rand([4099]);
  const row = rand([4099]);
  const q = rand([2, 8, 37, 72]);
  const k = rand([2, 2, 53, 72]);
  const v = rand([2, 2, 53, 40]);
  const fmask = rand([37, 53]).mul(-3);
  const bmask = rand([2, 1, 37, 53]).lt(0.7);
  const xr = rand([2, 3, 19, 24]);
  const { cos, sin } = ropeTables(19, 24);
  // [name, call, exact]: exact ops compute the reference's float32 expression and must match bit for bit
  return [
    ['Add', () => add(x, row), true],
    ['Sub', () => sub(x, 0.25), true],
    ['Mul', () => mul(row.reshape([1, 4099]), x), true],
    ['Div', () => div(x, x.add(5)), true],
    ['Relu', () => relu(x), true],
    ['Rope', () => rope(xr, cos, sin), true],
    ['Rope', () => rope(xr.transpose(1, 2).contiguous().transpose(1, 2), cos, sin), true], // Llama's (B, H, T, D) view
    ['Silu', () => silu(x), false],
    ['SiluMul', () => siluMul(x, x.add(1)), false],
    ['SiluMul', () => siluMul(x.narrow(1, 0, 2000), x.narrow(1, 2049, 2000)), false], // a fused gate_up projection's two halves
    ['Gelu', () => gelu(x), false],
    ['Gelu', () => gelu(x, 'tanh'), false],
    ['Softmax', () => softmax(x, -1), false],
    ['LogSoftmax', () => logSoftmax(x, -1), false],
    ['RmsNorm', () => rmsNorm(x, w, 1e-6), false],
    ['LayerNorm', () => layerNorm(x, 4099, w, bias), false],
    ['Attention', () => scaledDotProductAttention(q, k, v, { enableGqa: true, isCausal: true }), false],
    ['Attention', () => scaledDotProductAttention(q, k, v, { enableGqa: true, isCausal: true, causalAlign: 'bottom-right' }), false],
    ['Attention', () => scaledDotProductAttention(q, k, v, { enableGqa: true, attnMask: fmask, scale: 0.2 }), false],
    ['Attention', () => scaledDotProductAttention(q, k, v, { enableGqa: true, attnMask: bmask }), false],
  ];
}

describe.skipIf(!available)('native: ISA variants', () => {
  const isas = available ? supportedIsas(nativeLib()) : [];

  it('offers the portable variant everywhere and AVX2 on this x86-64; the best is the default', () => {
    expect(isas[0]).toBe('portable');
    if (process.arch === 'x64') expect(isas).toContain('avx2');
    configureNative({ isa: 'best' });
    expect(nativeLib().api.nk_isa_name()).toBe(isas[isas.length - 1]);
  });

  it('an ISA the CPU lacks is refused with the reason, and the current one stays', () => {
    const missing = (['avx2', 'avx512'] as const).filter((i) => !isas.includes(i));
    configureNative({ isa: 'portable' });
    for (const isa of missing) {
      expect(() => configureNative({ isa })).toThrow(new RegExp(`isa '${isa}' is not available on this CPU`));
      expect(nativeConfig().isa).toBe('portable');
      expect(nativeLib().api.nk_isa_name()).toBe('portable');
    }
    expect(() => configureNative({ isa: 'sse9' as 'avx2' })).toThrow(/isa must be one of best, portable, avx2, avx512/);
  });

  for (const isa of isas) {
    it(`${isa}: every catalog case native runs matches cpu within the catalog tolerance (exact cases bit for bit)`, () => {
      configureNative({ isa });
      expect(nativeLib().api.nk_isa_name()).toBe(isa);
      let ran = 0;
      for (const c of OP_CASES.filter((c) => getOp(c.op)?.kernels.has('native'))) {
        const args = buildArgs(c);
        const p = profile(() => withBackend('native', () => runCase(c, args)));
        if (p.records.find((r) => r.op === c.op && r.depth === 0)?.backend !== 'native') continue;
        ran++;
        const ref = withBackend('cpu', () => runCase(c, args));
        p.result.forEach((o, i) => {
          const r = ref[i]!;
          if (c.exact) expect(Array.from(values(o)), c.name).toEqual(Array.from(values(r)));
          else {
            const tol = c.tol ?? defaultTolerance(r.dtype);
            expect(excess(values(o), values(r), tol.rtol, tol.atol), c.name).toBeLessThanOrEqual(0);
          }
        });
      }
      expect(ran).toBeGreaterThanOrEqual(40); // 47 today: float32 cases of the 13 ops, less the layouts it refuses
    }, 60_000);

    it(`${isa}: shapes with vector tails match cpu and the portable variant`, () => {
      for (const [op, call, exact] of stressCalls()) {
        configureNative({ isa: 'portable' });
        const portable = both(op, call).nat;
        configureNative({ isa });
        const { nat, ref } = both(op, call);
        if (exact) {
          expect(Array.from(nat), `${op} on ${isa} vs cpu`).toEqual(Array.from(ref));
          expect(Array.from(nat), `${op} on ${isa} vs portable`).toEqual(Array.from(portable));
        } else {
          // float32 reductions in another order and a polynomial exp: a few ulp from the double-precision reference
          expect(excess(nat, ref, 2e-5, 2e-6), `${op} on ${isa} vs cpu`).toBeLessThanOrEqual(0);
          expect(excess(nat, portable, 2e-5, 2e-6), `${op} on ${isa} vs portable`).toBeLessThanOrEqual(0);
        }
      }
    }, 60_000);
  }
});

describe.skipIf(!available)('native: threads and the KV cache', () => {
  it('two threads give bit-identical results to one (rows and attention units are split, not re-associated)', () => {
    configureNative({ isa: 'best', threads: 1 });
    manualSeed(3);
    const q = rand([1, 12, 128, 64]);
    const k = rand([1, 12, 128, 64]);
    const v = rand([1, 12, 128, 64]);
    const x = rand([512, 768]);
    const calls = [() => scaledDotProductAttention(q, k, v, { isCausal: true }), () => softmax(x, -1), () => silu(x), () => add(x, x)];
    const one = calls.map((f) => values(withBackend('native', f)));
    configureNative({ threads: 2 });
    expect(nativeLib().api.nk_threads()).toBe(2);
    const two = calls.map((f) => values(withBackend('native', f)));
    two.forEach((t, i) => expect(Array.from(t)).toEqual(Array.from(one[i]!)));
    configureNative({ threads: 1 });
    expect(nativeLib().api.nk_threads()).toBe(1);
    expect(() => configureNative({ threads: 0 })).toThrow(/threads must be an integer in 1\.\.16, got 0/);
    expect(() => configureNative({ threads: 1.5 })).toThrow(/threads must be an integer/);
  }, 60_000);

  it('decode reads K/V as narrowed views of the cache in place (one call for all heads, GQA without repeats)', () => {
    manualSeed(5);
    const cacheK = rand([1, 2, 64, 32]);
    const cacheV = rand([1, 2, 64, 32]);
    const k = cacheK.narrow(2, 0, 21);
    const v = cacheV.narrow(2, 0, 21);
    expect(k.isContiguous()).toBe(false);
    const q = rand([1, 8, 1, 32]);
    const p = profile(() => withBackend('native', () => scaledDotProductAttention(q, k, v, { enableGqa: true, isCausal: false })));
    const calls = p.records.filter((r) => r.backend === 'native');
    expect(calls.map((r) => r.op)).toEqual(['Attention']); // no Contiguous copy of the cache, no repeat_kv
    const ref = withBackend('cpu', () => scaledDotProductAttention(q, k, v, { enableGqa: true }));
    expect(excess(values(p.result), values(ref), 1e-5, 1e-6)).toBeLessThanOrEqual(0);
  });
});

describe.skipIf(!available)('native: copy_ (the KV-cache append)', () => {
  it('writes a strided / broadcast float32 source into a narrow of the cache exactly as cpu does', () => {
    manualSeed(9);
    const cache = rand([1, 3, 16, 8]);
    const caches = [cache, cache.clone()];
    const src = rand([1, 8, 3, 5]).transpose(1, 3); // (1, 5, 3, 8), non-contiguous
    const row = rand([8]);
    const write = (cache: Tensor) => {
      cache.narrow(2, 4, 5).transpose(1, 2).copy_(src);
      cache.narrow(2, 12, 2).copy_(row);
    };
    const p = profile(() => withBackend('native', () => write(caches[0]!)));
    expect(p.records.map((r) => [r.op, r.backend])).toEqual([
      ['CopyInto', 'native'],
      ['CopyInto', 'native'],
    ]);
    withBackend('cpu', () => write(caches[1]!));
    expect(Array.from(values(caches[0]!))).toEqual(Array.from(values(caches[1]!)));
  });

  it('a source that shares the destination storage (may overlap) stays on cpu, which stages it', () => {
    const t = rand([4, 4]);
    const p = profile(() => t.narrow(0, 1, 3).copy_(t.narrow(0, 0, 3)));
    expect(p.records[0]!.backend).toBe('cpu');
    expect(p.records[0]!.cause).toContain('a source sharing the destination storage stays on cpu');
  });
});

describe.skipIf(!available)('native: refusals and bad input', () => {
  it('calls it does not handle fall back to cpu with the reason as the cause', () => {
    manualSeed(1);
    const h = rand([4, 8]).to('float16');
    const p = profile(() => softmax(h, -1));
    expect(p.records[0]!.backend).toBe('cpu');
    expect(p.records[0]!.cause).toContain('native rejects float16 (float32 only)');
    const t = rand([6, 5]).transpose(0, 1);
    const p2 = profile(() => silu(t));
    expect(p2.records.find((r) => r.op === 'Silu')!.cause).toContain('unary needs contiguous operands');
    const p4 = profile(() => siluMul(rand([3, 8]), rand([8])));
    expect(p4.records.find((r) => r.op === 'SiluMul')!.backend).toBe('cpu');
    expect(p4.records.find((r) => r.op === 'SiluMul')!.cause).toContain('silu_mul needs both operands of the output shape');
    const p6 = profile(() => siluMul(rand([8, 3]).transpose(0, 1), rand([3, 8])));
    expect(p6.records.find((r) => r.op === 'SiluMul')!.cause).toContain('silu_mul needs contiguous operands or rows of one');
    // float16: neither native nor cpu fuses it, so it runs as silu then mul
    const p5 = profile(() => siluMul(rand([8]).to('float16'), rand([8]).to('float16')));
    expect(p5.records.find((r) => r.op === 'SiluMul' && r.depth === 0)!.backend).toBe('decompose');
    expect(p5.records.filter((r) => r.depth === 1).map((r) => r.op)).toEqual(['Silu', 'Mul']);
    const p3 = profile(() => softmax(rand([3, 4]), 0));
    expect(p3.records.find((r) => r.op === 'Softmax')!.cause).toContain('only the last dim (got dim 0 of 2)');
  });

  it('the library checks its arguments: NativeError names the call, the status and the rule', () => {
    const lib = nativeLib();
    const x = new Float32Array(6);
    const y = new Float32Array(6);
    const err = (f: () => void): NativeError => {
      try {
        f();
      } catch (e) {
        expect(e).toBeInstanceOf(NativeError);
        return e as NativeError;
      }
      throw new Error('expected a NativeError');
    };
    expect(err(() => lib.call('nk_rope', x, null, x, x, y, 2, 3, 1)).message).toBe('nk_rope failed with NK_E_ARG (1): nk_rope: the head dim 3 must be even (rotate-half)');
    expect(err(() => lib.call('nk_unary', 9, x, y, 6)).message).toContain('nk_unary: unknown op 9');
    expect(err(() => lib.call('nk_binary', NkBinary.add, x, x, y, 6, 0)).message).toContain("the second operand's period must be >= 1, got 0");
    expect(err(() => lib.call('nk_softmax', x, y, -1, 6, 0)).message).toContain('rows -1 and row length 6 must be >= 0');
    expect(err(() => lib.call('nk_set_threads', 17)).message).toContain('threads must be in 1..16, got 17');
    expect(err(() => lib.call('nk_set_isa', 7)).message).toContain('unknown ISA 7');
    expect(lib.api.nk_isa_supported(99)).toBe(0);
    lib.call('nk_unary', NkUnary.relu, Float32Array.of(-1, 2, -0, NaN), y, 4);
    expect(Array.from(y.subarray(0, 4))).toEqual([0, 2, -0, NaN]);
  });
});

describe('native: a missing library', () => {
  it('loading a missing or non-library file gives the reason instead of throwing', () => {
    const r = loadNativeLibrary('/nonexistent/libopshift_native.so');
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.reason).toMatch(/^native kernel library \/nonexistent\/libopshift_native\.so not found \(run npm run build/);
    const r2 = loadNativeLibrary(join(process.cwd(), 'package.json'));
    expect(r2.ok).toBe(false);
    if (!r2.ok) expect(r2.reason).toContain('failed to load');
  });

  const cli = join(process.cwd(), 'dist', 'tools', 'cli.js');
  const built = existsSync(join(process.cwd(), 'dist', 'backends', 'native', 'register.js'));
  it.skipIf(!built)('end to end: OPSHIFT_NATIVE_LIB naming a missing file lists native as unavailable, and ops run on cpu', () => {
    const env = { ...process.env, OPSHIFT_NATIVE_LIB: '/nonexistent/libopshift_native.so' };
    const r = spawnSync(process.execPath, [cli, 'backends', '--json'], { encoding: 'utf8', env });
    expect(r.status, r.stderr).toBe(0);
    const list = JSON.parse(r.stdout) as { name: string; status: { available: boolean; reason?: string } }[];
    expect(list.find((b) => b.name === 'native')?.status).toEqual({
      available: false,
      reason: expect.stringContaining('native kernel library /nonexistent/libopshift_native.so not found') as unknown as string,
    });
    const script = `import { embedding, profile, rand, silu, siluMul, softmax, tensor } from ${JSON.stringify(join(process.cwd(), 'dist', 'core', 'index.js'))};
      const p = profile(() => softmax(rand([2, 8]), -1)); console.log(p.records[0].backend, p.result.sum().item().toFixed(4));
      const x = rand([2, 8]); const q = profile(() => siluMul(x, x)); const ref = silu(x).mul(x);
      console.log(q.records[0].backend, q.result.sub(ref).abs().max().item());
      const c = profile(() => x.to('float16')); const e = profile(() => embedding(tensor([1, 0], { dtype: 'int64' }), x));
      console.log(c.records[0].backend, e.records[0].backend, e.result.sub(x.flip([0])).abs().max().item());`;
    const r2 = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', env });
    expect(r2.status, r2.stderr).toBe(0);
    // SiluMul on cpu is bit-exact with silu then mul; Cast and Embedding run on cpu too
    expect(r2.stdout.trim().split('\n')).toEqual(['cpu 2.0000', 'cpu 0', 'cpu cpu 0']);
  });
});
