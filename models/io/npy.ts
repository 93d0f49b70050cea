/** NumPy .npy (format 1.0) for float32 arrays: what `opshift logits` writes for comparison with other runtimes. */
import { writeFileSync } from 'node:fs';

export function encodeNpy(data: Float32Array, shape: readonly number[]): Uint8Array {
  const n = shape.reduce((a, b) => a * b, 1);
  if (n !== data.length) throw new RangeError(`npy: shape [${shape.join(',')}] holds ${n} values, data has ${data.length}`);
  const shapeText = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  let header = `{'descr': '<f4', 'fortran_order': False, 'shape': ${shapeText}, }`;
  // magic (6) + version (2) + header length (2) + header, padded with spaces and ending in \n to 64 bytes.
  const total = Math.ceil((10 + header.length + 1) / 64) * 64;
  header = header.padEnd(total - 10 - 1, ' ') + '\n';
  const out = new Uint8Array(total + data.byteLength);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]); // \x93NUMPY v1.0
  new DataView(out.buffer).setUint16(8, header.length, true);
  out.set(new TextEncoder().encode(header), 10);
  const le = new Float32Array(data); // copy (little-endian on every platform Node runs on here)
  out.set(new Uint8Array(le.buffer), total);
  return out;
}

export function writeNpy(file: string, data: Float32Array, shape: readonly number[]): void {
  writeFileSync(file, encodeNpy(data, shape));
}
