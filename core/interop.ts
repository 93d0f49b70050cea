/**
 * Zero-copy interop with scijs ndarray: both sides are (typed array, shape, strides, offset) views, so the
 * conversion only re-labels metadata. float16/bfloat16 travel as Uint16Array bit patterns.
 */
import ndarray from 'ndarray';
import { arrayMatchesDType, dtypeOfArray, type DType, type StorageArray } from './dtype.js';
import { DTypeError, ShapeError } from './errors.js';
import { formatShape } from './shape.js';
import { Storage } from './storage.js';
import { Tensor } from './tensor.js';

type NdData = ndarray.TypedArray | BigInt64Array<ArrayBuffer>;

/**
 * A Tensor sharing the ndarray's memory. Uint16Array data needs `dtype` float16 or bfloat16. Negative strides
 * (ndarray's `.step(-1)`) have no Tensor equivalent, as in PyTorch: they are refused.
 */
export function fromNdarray(nd: ndarray.NdArray<ndarray.Data<number> | ndarray.Data<bigint>>, options: { dtype?: DType } = {}): Tensor {
  const data = nd.data as unknown;
  if (!ArrayBuffer.isView(data))
    throw new DTypeError(`fromNdarray: data must be a typed array (got ${Array.isArray(data) ? 'a plain array' : typeof data}); zero-copy needs typed memory`);
  const arr = data as StorageArray;
  const dtype = options.dtype ?? dtypeOfArray(arr);
  if (dtype === undefined)
    throw new DTypeError(
      `fromNdarray: ${arr.constructor.name} has no opshift dtype` +
        (arr instanceof Uint16Array ? ": pass { dtype: 'float16' } or { dtype: 'bfloat16' }" : ' (supported: Float32Array, Int8/16/32Array, Uint8Array, BigInt64Array, Uint16Array as float16/bfloat16)'),
    );
  if (!arrayMatchesDType(arr, dtype)) throw new DTypeError(`fromNdarray: a ${arr.constructor.name} cannot hold dtype ${dtype}`);
  if (nd.stride.some((s) => s < 0))
    throw new ShapeError(`fromNdarray: negative strides ${formatShape(nd.stride)} are not supported; copy the ndarray first`);
  return new Tensor(new Storage(arr, dtype), [...nd.shape], [...nd.stride], nd.offset);
}

/** An ndarray over the tensor's own storage (no copy). float16/bfloat16 data is the Uint16Array of bit patterns. */
export function toNdarray(t: Tensor): ndarray.NdArray<NdData> {
  return ndarray(t.storage.data as never, [...t.shape], [...t.strides], t.offset) as unknown as ndarray.NdArray<NdData>;
}
