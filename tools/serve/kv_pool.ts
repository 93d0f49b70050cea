/**
 * The model worker's KV cache memory: one single-sequence cache per running request, all under one byte budget
 * (`--kv-cache-mb`), plus the caches of finished sequences kept as reusable prefixes in an LRU. A new request
 * whose prompt starts with tokens a kept sequence already ran (a chat's system prompt, a conversation's earlier
 * turns) gets a cache with those positions copied in and prefills only the rest. Kept prefixes are evicted, least
 * recently used first, whenever a running request needs their memory; a request that does not fit even then is
 * refused (too_long: more than the whole budget; kv_cache_full: wait for running ones to finish).
 *
 * Reuse is exact: the copied keys and values are the ones the prefix's own forward wrote, and a prefix is never
 * the whole prompt (the last prompt token always runs, to produce the first logits).
 */
import type { CausalLM } from '../../models/causal_lm.js';
import type { KVCache } from '../../models/kv_cache.js';

/** Why a cache could not be given. */
export type KvRefusal = { readonly refused: 'too_long' | 'kv_cache_full'; readonly need: number; readonly free: number; readonly budget: number };

export interface KvLease {
  readonly cache: KVCache;
  /** Prompt positions already in the cache (copied from a kept prefix); prefill starts here. */
  readonly reused: number;
}

interface Kept {
  readonly ids: readonly number[];
  readonly cache: KVCache;
  readonly bytes: number;
}

/** Kept prefixes at most (matching scans them all per request). */
const MAX_KEPT = 64;

export class KvPool {
  /** Running sequences' caches and their bytes. */
  readonly #live = new Map<KVCache, number>();
  #liveBytes = 0;
  /** Kept prefixes, least recently used first. */
  readonly #kept: Kept[] = [];
  #keptBytes = 0;
  /** Bytes one cached position costs in each layer's buffer (key and value), and the layers' slot limits. */
  readonly #layerBytes: readonly { readonly perPosition: number; readonly slots: number }[];
  /** Prefix reuse hits and the prompt positions they saved. */
  hits = 0;
  reusedPositions = 0;

  constructor(
    readonly model: CausalLM,
    readonly budget: number,
    /** Keep finished sequences for reuse (off for models whose cache cannot be copied, e.g. LongRoPE). */
    readonly reuse = model.recomputeCacheAt === undefined,
  ) {
    const probe = model.newCache(1, 1);
    const bytesPerElement = probe.bytes / (2 * probe.numLayers * probe.kvHeads * probe.headDim);
    this.#layerBytes = Array.from({ length: probe.numLayers }, (_, i) => ({ perPosition: 2 * probe.kvHeads * probe.headDim * bytesPerElement, slots: probe.windows[i] ?? Infinity }));
    probe.dispose();
  }

  /** Bytes of a cache `capacity` positions long (sliding-window layers hold at most their window). */
  bytesFor(capacity: number): number {
    let n = 0;
    for (const l of this.#layerBytes) n += l.perPosition * Math.min(capacity, l.slots);
    return n;
  }

  /** Bytes held: running sequences and kept prefixes. */
  get used(): number {
    return this.#liveBytes + this.#keptBytes;
  }

  /** Caches of running sequences (a leak check: 0 when nothing runs). */
  get live(): number {
    return this.#live.size;
  }

  /** Kept prefixes and their bytes. */
  get kept(): number {
    return this.#kept.length;
  }

  get keptBytes(): number {
    return this.#keptBytes;
  }

  /**
   * A cache of `capacity` positions for `prompt`, with the longest kept prefix of it copied in. Evicts kept
   * prefixes (least recently used first, the matched one last) until the new cache fits.
   */
  acquire(prompt: readonly number[], capacity: number): KvLease | KvRefusal {
    const need = this.bytesFor(capacity);
    if (need > this.budget) return { refused: 'too_long', need, free: this.budget - this.used, budget: this.budget };
    let best: Kept | undefined;
    let reuse = 0;
    for (const k of this.#kept) {
      const n = Math.min(commonPrefix(k.ids, prompt), prompt.length - 1, k.cache.reusablePrefix());
      if (n > reuse) [best, reuse] = [k, n];
    }
    for (let i = 0; this.budget - this.used < need && i < this.#kept.length; ) {
      if (this.#kept[i] === best) i++;
      else this.#drop(i);
    }
    if (this.budget - this.used < need && best) {
      this.#drop(this.#kept.indexOf(best));
      [best, reuse] = [undefined, 0];
    }
    if (this.budget - this.used < need) return { refused: 'kv_cache_full', need, free: this.budget - this.used, budget: this.budget };
    const cache = this.model.newCache(1, capacity);
    if (best) {
      cache.copyPrefixFrom(best.cache, reuse);
      this.#touch(best);
      this.hits++;
      this.reusedPositions += reuse;
    }
    this.#live.set(cache, cache.bytes);
    this.#liveBytes += cache.bytes;
    return { cache, reused: reuse };
  }

  /**
   * A running sequence ended. `ids` are the tokens whose keys its cache holds (prompt and fed-back tokens, in
   * order): they are kept for reuse (compacted to their length), unless undefined (a failed forward may have
   * left the cache half-written) or reuse is off.
   */
  release(cache: KVCache, ids: readonly number[] | undefined): void {
    const bytes = this.#live.get(cache);
    if (bytes === undefined) throw new Error('kv_pool: release() of a cache this pool did not lease (or released twice)');
    this.#live.delete(cache);
    this.#liveBytes -= bytes;
    const n = ids === undefined || !this.reuse ? 0 : Math.min(ids.length, cache.reusablePrefix());
    if (n >= 2) this.#keep(ids!.slice(0, n), cache);
    cache.dispose();
  }

  /** Drops every kept prefix (tests; a running sequence's cache is not touched). */
  clearKept(): void {
    while (this.#kept.length > 0) this.#drop(0);
  }

  #keep(ids: number[], from: KVCache): void {
    // A kept sequence that this one extends is redundant; one that already extends this one makes it so.
    for (let i = this.#kept.length - 1; i >= 0; i--) {
      const k = this.#kept[i]!;
      const shared = commonPrefix(k.ids, ids);
      if (shared === ids.length) return this.#touch(k);
      if (shared === k.ids.length) this.#drop(i);
    }
    const bytes = this.bytesFor(ids.length);
    while (this.#kept.length > 0 && (this.used + bytes > this.budget || this.#kept.length >= MAX_KEPT)) this.#drop(0);
    if (this.used + bytes > this.budget) return; // running sequences hold the budget: nothing to keep it in
    const cache = this.model.newCache(1, ids.length);
    cache.copyPrefixFrom(from, ids.length);
    this.#kept.push({ ids, cache, bytes: cache.bytes });
    this.#keptBytes += cache.bytes;
  }

  #touch(k: Kept): void {
    this.#kept.splice(this.#kept.indexOf(k), 1);
    this.#kept.push(k);
  }

  #drop(i: number): void {
    const [k] = this.#kept.splice(i, 1);
    this.#keptBytes -= k!.bytes;
    k!.cache.dispose();
  }
}

/** Length of the common prefix of two id lists. */
export function commonPrefix(a: readonly number[], b: readonly number[]): number {
  const n = Math.min(a.length, b.length);
  let i = 0;
  while (i < n && a[i] === b[i]) i++;
  return i;
}
