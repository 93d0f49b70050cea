/**
 * KV cache: per layer, key and value buffers [B, kvHeads, capacity, headDim] allocated once; each forward
 * writes its new positions in place (copy_ into a narrow) and attends over the filled prefix (a view, no
 * copy). Prefill and decode run through the same forward; `length` is the number of cached positions.
 *
 * A sliding-window layer (window W) keeps a rolling buffer of min(capacity, W) positions instead, position p in
 * slot p mod W: a decode step writes its key over the oldest one and attends over the buffer as it lies (one
 * query sees exactly the last W positions, and attention does not depend on the keys' order); calls that need
 * the keys in position order (several queries, or a padding mask) get an ordered copy of the window.
 */
import { ArgumentError } from '../core/errors.js';
import type { DType } from '../core/dtype.js';
import { cat } from '../ops/movement.js';
import { Tensor } from '../core/tensor.js';

export class KVCache {
  readonly #keys: Tensor[] = [];
  readonly #values: Tensor[] = [];
  /** Slots of each layer's buffer: capacity, or the sliding window when smaller. */
  readonly #slots: number[] = [];
  #length = 0;
  #disposed = false;

  constructor(
    readonly numLayers: number,
    readonly batch: number,
    readonly kvHeads: number,
    readonly capacity: number,
    readonly headDim: number,
    readonly dtype: DType = 'float32',
    /** Per layer, the sliding window (undefined: full attention); windowed layers hold only that many positions. */
    readonly windows: readonly (number | undefined)[] = [],
  ) {
    for (let i = 0; i < numLayers; i++) {
      const w = windows[i];
      if (w !== undefined && (!Number.isInteger(w) || w < 1)) throw new ArgumentError(`kv_cache: layer ${i}'s window ${w} must be a positive integer`);
      const slots = w === undefined ? capacity : Math.min(capacity, w);
      this.#slots.push(slots);
      this.#keys.push(Tensor.empty([batch, kvHeads, slots, headDim], dtype));
      this.#values.push(Tensor.empty([batch, kvHeads, slots, headDim], dtype));
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
   * the cached positions from..length+T-1 in position order (`from` > 0: a sliding-window layer reads only its
   * window, so decode costs O(window), not O(sequence)). `ordered` false lets a windowed layer whose buffer has
   * wrapped return its buffer as it lies (a single query with no mask: order does not matter). The caller
   * advances with `commit(T)` once all layers are written.
   */
  update(layer: number, k: Tensor, v: Tensor, from = 0, ordered = true): { k: Tensor; v: Tensor } {
    if (this.#disposed) throw new ArgumentError('kv_cache: used after dispose()');
    const T = k.shape[2]!;
    const past = this.#length;
    const end = past + T;
    if (end > this.capacity)
      throw new ArgumentError(`kv_cache: ${past} cached + ${T} new positions exceed the capacity ${this.capacity}; create the cache with a larger capacity`);
    if (!Number.isInteger(from) || from < 0 || from >= end) throw new ArgumentError(`kv_cache: window start ${from} must be in 0..${end - 1}`);
    const slots = this.#slots[layer]!;
    const keys = this.#keys[layer]!;
    const values = this.#values[layer]!;
    if (end <= slots) {
      // Not wrapped: position p sits in slot p.
      keys.narrow(2, past, T).copy_(k);
      values.narrow(2, past, T).copy_(v);
      return { k: keys.narrow(2, from, end - from), v: values.narrow(2, from, end - from) };
    }
    // Before this write the buffer holds positions past - slots .. past - 1.
    if (from < past - slots) throw new ArgumentError(`kv_cache: layer ${layer} keeps the last ${slots} positions; position ${from} is gone`);
    if (T === 1 && !ordered) {
      if (end - from !== slots) throw new ArgumentError(`kv_cache: layer ${layer}'s rolling buffer holds ${slots} positions, the query asks for ${end - from}`);
      this.#write(keys, values, k, v, past, T, slots);
      return { k: keys, v: values };
    }
    // Position order: the window's cached part from the ring (at most two runs), then the new positions.
    const parts = (buf: Tensor, fresh: Tensor): Tensor => {
      const n = past - from;
      const s0 = from % slots;
      const first = Math.min(n, slots - s0);
      const runs = [buf.narrow(2, s0, first)];
      if (n > first) runs.push(buf.narrow(2, 0, n - first));
      return n > 0 ? cat([...runs, fresh], 2) : fresh;
    };
    const out = { k: parts(keys, k), v: parts(values, v) };
    this.#write(keys, values, k, v, past, T, slots);
    return out;
  }

  /** Positions past..past+T-1 into their slots (p mod slots); only the last `slots` of them can stay. */
  #write(keys: Tensor, values: Tensor, k: Tensor, v: Tensor, past: number, T: number, slots: number): void {
    const keep = Math.min(T, slots);
    let p = past + T - keep;
    let off = T - keep;
    while (off < T) {
      const slot = p % slots;
      const n = Math.min(T - off, slots - slot);
      keys.narrow(2, slot, n).copy_(k.narrow(2, off, n));
      values.narrow(2, slot, n).copy_(v.narrow(2, off, n));
      p += n;
      off += n;
    }
  }

  /**
   * Positions this cache can take from another one with `copyPrefixFrom`: all of them while no layer's ring
   * buffer has wrapped (a wrapped sliding-window layer no longer holds the prefix's first positions).
   */
  reusablePrefix(): number {
    return Math.min(this.#length, ...this.#slots);
  }

  /**
   * Make this (empty) cache hold `n` positions of `src` — the prefix reuse of the server's scheduler: a request
   * that starts with tokens another sequence already ran copies their keys and values instead of recomputing
   * them. Both caches must have the same layout (layers, heads, head size, dtype, windows).
   */
  copyPrefixFrom(src: KVCache, n: number): void {
    if (this.#disposed || src.#disposed) throw new ArgumentError('kv_cache: copyPrefixFrom used after dispose()');
    if (this.#length !== 0) throw new ArgumentError(`kv_cache: copyPrefixFrom needs an empty cache (this one holds ${this.#length} positions)`);
    const same = src.numLayers === this.numLayers && src.kvHeads === this.kvHeads && src.headDim === this.headDim && src.dtype === this.dtype && this.windows.every((w, i) => src.windows[i] === w);
    if (!same) throw new ArgumentError('kv_cache: copyPrefixFrom between caches of different layouts (layers, kv heads, head size, dtype or windows differ)');
    if (!Number.isInteger(n) || n < 0 || n > src.reusablePrefix() || n > Math.min(this.capacity, ...this.#slots))
      throw new ArgumentError(`kv_cache: cannot copy ${n} positions (the source holds ${src.reusablePrefix()} reusable, this cache takes ${Math.min(this.capacity, ...this.#slots)} unwrapped)`);
    if (src.batch !== 1 || this.batch !== 1) throw new ArgumentError(`kv_cache: copyPrefixFrom copies one sequence (batch 1), got ${src.batch} -> ${this.batch}`);
    for (let i = 0; i < this.numLayers && n > 0; i++) {
      this.#keys[i]!.narrow(2, 0, n).copy_(src.#keys[i]!.narrow(2, 0, n));
      this.#values[i]!.narrow(2, 0, n).copy_(src.#values[i]!.narrow(2, 0, n));
    }
    this.#length = n;
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
