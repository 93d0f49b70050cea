/**
 * Native embedding gather against the cpu kernel: float32/float16/bfloat16 weights (bit for bit, NaN patterns
 * included), int32/int64 indices of any shape, a weight that is a column slice (row stride > dim); an index out
 * of range raises the cpu kernel's IndexError; layouts it does not take stay on cpu with the reason.
 */
import { describe, expect, it } from 'vitest';
import { backendStatus, embedding, fromTypedArray, IndexError, manualSeed, profile, rand, randint, tensor, withBackend, type Tensor } from '../core/index.js';
import { nativeLib } from '../backends/native/backend.js';
import { NativeError } from '../backends/native/ffi.js';

const available = backendStatus('native')?.available === true;

const bits = (t: Tensor): number[] => {
  const d = t.contiguous().storage.data as Float32Array | Uint16Array;
  return Array.from(d instanceof Float32Array ? new Uint32Array(d.buffer, d.byteOffset, d.length) : d);
};

function onNative(f: () => Tensor): Tensor {
  const p = profile(() => withBackend('native', f));
  expect(p.records.find((r) => r.op === 'Embedding')?.backend, p.records.find((r) => r.op === 'Embedding')?.cause).toBe('native');
  return p.result;
}

describe.skipIf(!available)('native embedding', () => {
  manualSeed(11);
  const base = rand([50, 40]).mul(4).sub(2);
  // NaNs with a sign and a payload, and ±inf, survive as bit patterns
  const special = new Float32Array(base.contiguous().toTypedArray() as Float32Array);
  // (quiet NaNs: the cpu kernel copies a non-contiguous weight through JS numbers, which would quiet a signalling one)
  new Uint32Array(special.buffer).set([0xffc00001, 0x7fc12340, 0x7f800000, 0xff800000], 7 * 40 + 3);
  const w32 = fromTypedArray(special, [50, 40]);

  for (const dtype of ['float32', 'float16', 'bfloat16'] as const)
    for (const idt of ['int32', 'int64'] as const)
      it(`${dtype} weight, ${idt} indices: bit-exact with cpu (contiguous and column-sliced weights)`, () => {
        const w = w32.to(dtype);
        const idx = randint(0, 50, [3, 17], { dtype: idt });
        const withSpecial = tensor([7, 0, 49, 7], { dtype: idt });
        for (const weight of [w, w.narrow(1, 3, 29)]) {
          for (const ix of [idx, withSpecial, idx.reshape([51])]) {
            const got = onNative(() => embedding(ix, weight));
            const ref = withBackend('cpu', () => embedding(ix, weight));
            expect(got.shape).toEqual(ref.shape);
            expect(bits(got)).toEqual(bits(ref));
          }
        }
      });

  it('an index out of range is the cpu kernel IndexError, for int32 and int64 (beyond 2^31 too)', () => {
    const cases: [Tensor, RegExp][] = [
      [tensor([1, 50], { dtype: 'int32' }), /embedding: index 50 is out of range \[0, 50\) for weight float32\[50,40\] \(num_embeddings 50\)/],
      [tensor([-1], { dtype: 'int64' }), /embedding: index -1 is out of range \[0, 50\)/],
      [tensor([2 ** 40], { dtype: 'int64' }), /embedding: index 1099511627776 is out of range \[0, 50\)/],
    ];
    for (const [ix, msg] of cases) {
      const cpuErr = (() => {
        try {
          withBackend('cpu', () => embedding(ix, w32));
        } catch (e) {
          return e as Error;
        }
        throw new Error('cpu accepted a bad index');
      })();
      expect(cpuErr.message).toMatch(msg);
      let nativeErr: unknown;
      try {
        withBackend('native', () => embedding(ix, w32));
      } catch (e) {
        nativeErr = e;
      }
      expect(nativeErr).toBeInstanceOf(IndexError);
      expect((nativeErr as Error).message).toBe(cpuErr.message);
    }
    expect(() => nativeLib().call('nk_embedding', new Float32Array(8), 4, 2, 4, 4, Int32Array.of(0, 2), 0, 2, new Float32Array(8))).toThrow(
      new NativeError('nk_embedding', 4, 'nk_embedding: index 2 (position 1) is out of range [0, 2)'),
    );
    expect(() => nativeLib().call('nk_embedding', new Float32Array(8), 3, 2, 4, 4, Int32Array.of(0), 0, 1, new Float32Array(4))).toThrow(/element size must be 2 or 4 bytes, got 3/);
  });

  it('layouts it does not take stay on cpu with the reason', () => {
    const t = w32.transpose(0, 1); // rows not unit-stride
    const p = profile(() => embedding(tensor([1, 2], { dtype: 'int32' }), t));
    expect(p.records[0]!.backend).toBe('cpu');
    expect(p.records[0]!.cause).toContain('embedding needs weight rows with unit stride');
    const e = profile(() => embedding(tensor([1], { dtype: 'int64' }), w32.narrow(0, 0, 1).expand([4, 40])));
    expect(e.records[0]!.cause).toContain('embedding needs weight rows that do not overlap');
    const s = profile(() => embedding(tensor([1, 2, 3, 4, 5, 6], { dtype: 'int32' }).slice(0, 0, undefined, 2), w32));
    expect(s.records[0]!.cause).toContain('embedding indices needs contiguous operands');
  });
});
