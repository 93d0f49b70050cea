/** Weight preparation helpers (issue #17, fast preparation): the tiled transpose every GEMM backend's prepare uses. */
import { describe, expect, it } from 'vitest';
import { transpose2d } from '../core/transpose.js';

function naive(src: ArrayLike<number>, rows: number, cols: number): number[] {
  const out: number[] = new Array(rows * cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = src[r * cols + c]!;
  return out;
}

describe('transpose2d', () => {
  it('equals the plain double loop for tile-edge shapes and every weight array type', () => {
    const shapes: [number, number][] = [[1, 1], [1, 37], [37, 1], [31, 33], [32, 32], [65, 96], [100, 7]];
    for (const [rows, cols] of shapes) {
      const n = rows * cols;
      const arrays = [
        Float32Array.from({ length: n }, (_, i) => i * 0.5 - 3),
        Uint16Array.from({ length: n }, (_, i) => (i * 2654435761) & 0xffff),
        Int8Array.from({ length: n }, (_, i) => ((i * 37) % 256) - 128),
        Uint8Array.from({ length: n }, (_, i) => (i * 91) & 0xff),
      ];
      for (const a of arrays) {
        const out = transpose2d(a, rows, cols, new (a.constructor as new (n: number) => typeof a)(n));
        expect([...out]).toEqual(naive(a, rows, cols));
      }
    }
  });

  it('refuses arrays shorter than the shape, naming both lengths', () => {
    expect(() => transpose2d(new Float32Array(5), 2, 3, new Float32Array(6))).toThrow(/\[2, 3\] needs 6 elements, source has 5, destination 6/);
  });
});
