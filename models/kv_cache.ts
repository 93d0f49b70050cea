/**
 * KV cache: per layer, key and value buffers [B, kvHeads, capacity, headDim] allocated once; each forward
 * writes its new positions in place (copy_ into a narrow) and attends over the filled prefix (a view, no
 * copy). Prefill and decode run through the same forward; `length` is the number of cached positions.
 */
import { ArgumentError } from '../core/errors.js';
import type { DType } from '../core/dtype.js';
import { Tensor } from '../core/tensor.js';

export class KVCache {
  readonly #keys: Tensor[] = [];
  readonly #values: Tensor[] = [];
  #length = 0;
  #disposed = false;

  constructor(
    readonly numLayers: number,
    readonly batch: number,
    readonly kvHeads: number,
    readonly capacity: number,
    readonly headDim: number,
    readonly dtype: DType = 'float32',
  ) {
    for (let i = 0; i < numLayers; i++) {
      this.#keys.push(Tensor.empty([batch, kvHeads, capacity, headDim], dtype));
      this.#values.push(Tensor.empty([batch, kvHeads, capacity, headDim], dtype));
    }
  }

  /** Positions cached so far (the next token's position). */
  get length(): number {
    return this.#length;
  }

  /** Bytes held by the buffers. */
  get bytes(): number {
    let n = 0;
    for (const t of [...this.#keys, ...this.#values]) n += t.storage.data.byteLength;
    return n;
  }

  /**
   * Write layer `layer`'s new keys/values [B, kvHeads, T, headDim] at positions length..length+T-1 and return
   * views over the cached positions from..length+T-1 (`from` > 0: a sliding-window layer reads only its window,
   * so decode costs O(window), not O(sequence)). The caller advances with `commit(T)` once all layers are written.
   */
  update(layer: number, k: Tensor, v: Tensor, from = 0): { k: Tensor; v: Tensor } {
    if (this.#disposed) throw new ArgumentError('kv_cache: used after dispose()');
    const T = k.shape[2]!;
    const end = this.#length + T;
    if (end > this.capacity)
      throw new ArgumentError(`kv_cache: ${this.#length} cached + ${T} new positions exceed the capacity ${this.capacity}; create the cache with a larger capacity`);
    this.#keys[layer]!.narrow(2, this.#length, T).copy_(k);
    this.#values[layer]!.narrow(2, this.#length, T).copy_(v);
    if (!Number.isInteger(from) || from < 0 || from >= end) throw new ArgumentError(`kv_cache: window start ${from} must be in 0..${end - 1}`);
    return { k: this.#keys[layer]!.narrow(2, from, end - from), v: this.#values[layer]!.narrow(2, from, end - from) };
  }

  commit(T: number): void {
    this.#length += T;
  }

  /** Forget every position (reuse the buffers for a new sequence). */
  reset(): void {
    this.#length = 0;
  }

  /** Release the buffers; later use is an error. */
  dispose(): void {
    this.#keys.length = 0;
    this.#values.length = 0;
    this.#disposed = true;
  }
}
