/** dtype conversion (Cast) and plain copies (Contiguous). */
import { isFloating, type DType } from '../../../core/dtype.js';
import { encodeHalf } from '../../../core/half.js';
import type { Kernel } from '../../../core/op_def.js';
import type { Tensor } from '../../../core/tensor.js';
import type { CastAttrs, ContiguousAttrs, UnaryInputs } from '../../../ops/elementwise.js';
import { operand, type Domain } from '../access.js';
import { runLoop } from '../loops.js';
import { castsVectorized, vectorNanPatterns } from '../bf16_nan.js';

/** The expression converting a value of domain `from` into the storage of `to`. */
function castExpr(from: Domain, to: DType): string {
  if (to === 'bool') return from === 'bigint' ? 'a !== 0n ? 1 : 0' : 'a !== 0 ? 1 : 0';
  if (to === 'int64') return from === 'bigint' ? 'a' : from === 'float' ? 'lib.toInt64(a)' : 'BigInt(a)';
  // Into int8..int32 storage: floats convert as x86 does (truncate; NaN and out-of-range to INT32_MIN), then
  // typed-array stores wrap to the narrower type, as PyTorch's casts do on x86.
  if (from === 'float') return 'lib.toInt32(a)';
  return from === 'bigint' ? 'Number(BigInt.asIntN(32, a))' : 'a';
}

/** Write `x` converted to out's dtype into the contiguous `out`. */
export function castInto(x: Tensor, out: Tensor): void {
  const to = out.dtype;
  const from: Domain = isFloating(x.dtype) ? 'float' : x.dtype === 'int64' ? 'bigint' : 'int';
  // Float targets compute through float32 (int64 -> float16 rounds twice, exactly as PyTorch's c10 casts do).
  const domain: Domain = isFloating(to) ? 'float' : from;
  const src = operand(x, x.shape, domain, domain === 'float' ? 'float32' : x.dtype);
  if (to === 'float32' && (x.dtype === 'float16' || x.dtype === 'bfloat16')) {
    // Copy the decoded patterns as integers: PyTorch keeps bfloat16 signalling-NaN payloads, and a trip through
    // JS numbers may quiet them (depending on how V8 compiled the loop).
    const d = src.data as Float32Array;
    const o = out.storage.data as Float32Array;
    const srcBits = { ...src, data: new Uint32Array(d.buffer, d.byteOffset, d.length) };
    runLoop('a', new Uint32Array(o.buffer, o.byteOffset, o.length), x.shape, [srcBits]);
    return;
  }
  if (to === 'float16' || to === 'bfloat16') {
    const tmp = new Float32Array(out.numel());
    runLoop('a', tmp, x.shape, [src]);
    encodeHalf(tmp, out.storage.data as Uint16Array, to);
    if (to === 'bfloat16' && x.dtype === 'float32' && castsVectorized(x)) vectorNanPatterns(tmp, out.storage.data as Uint16Array);
    return;
  }
  runLoop(isFloating(to) ? 'a' : castExpr(domain, to), out.storage.data, x.shape, [src]);
}

export const castKernel: Kernel<UnaryInputs, CastAttrs> = {
  run({ x }, _attrs, [out]) {
    if (x.dtype === out!.dtype) copyKernel.run({ x }, {}, [out!]);
    else castInto(x, out!);
  },
};

/** Raw element copy in the storage's own representation (bit patterns for half types, BigInt for int64). */
export const copyKernel: Kernel<UnaryInputs, ContiguousAttrs> = {
  run({ x }, _attrs, [out]) {
    runLoop('a', out!.storage.data, x.shape, [{ data: x.storage.data, offset: x.offset, strides: x.strides }]);
  },
};
