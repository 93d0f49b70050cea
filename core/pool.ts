/**
 * The output-allocation pool: typed arrays of released storages, kept by (dtype, exact length) so the next op
 * output of that size reuses one instead of allocating. A fresh typed array is zero-filled by the engine and,
 * at 768–4096 elements, costs about as much as the kernel itself (issue #16's measurement); model steps repeat
 * the same shapes every token, so exact-length buckets hit almost always and keep the invariant kernels rely
 * on that a fresh output's storage holds exactly numel elements.
 *
 * The pool is fed only by explicit release (Tensor.dispose(), `using`, tidy()): a storage goes back when the
 * last tensor viewing it is disposed, never while a view lives, never a constant's, never an array the user
 * handed in. It holds at most `OPSHIFT_POOL_MB` (default 256) MB; past that, the oldest buckets are dropped
 * to the garbage collector first. Reused arrays are zeroed unless the op declares that its kernels write every
 * output element (`OpDef.overwritesOutputs`), so no result depends on what a previous tensor left behind.
 */
import { allocStorage, itemSize, type DType, type StorageArray } from './dtype.js';
import { ArgumentError } from './errors.js';

const DEFAULT_POOL_MB = 256;

function parseLimitMb(v: string | undefined): number {
  if (v === undefined || v.trim() === '') return DEFAULT_POOL_MB;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) throw new ArgumentError(`OPSHIFT_POOL_MB='${v}' must be a non-negative number of megabytes (0 turns the pool off)`);
  return n;
}

/** dtype -> element count -> free arrays of exactly that length (a stack: the last released is the warmest). */
const buckets = new Map<DType, Map<number, StorageArray[]>>();
let limitBytes = parseLimitMb(process.env.OPSHIFT_POOL_MB) * 2 ** 20;
let heldBytes = 0;
let heldArrays = 0;
let hits = 0;
let misses = 0;
let dropped = 0;

export interface PoolStats {
  /** Bytes of free arrays the pool holds now. */
  readonly bytes: number;
  readonly arrays: number;
  /** The byte cap (OPSHIFT_POOL_MB or setPoolLimit). */
  readonly limitBytes: number;
  /** Allocations served from the pool / allocated fresh (since the last resetPoolStats). */
  readonly hits: number;
  readonly misses: number;
  /** Released arrays the pool did not keep (over the cap), including evicted ones. */
  readonly dropped: number;
}

export function poolStats(): PoolStats {
  return { bytes: heldBytes, arrays: heldArrays, limitBytes, hits, misses, dropped };
}

export function resetPoolStats(): void {
  hits = misses = dropped = 0;
}

/** Set the cap in MB (0 disables pooling) and drop what no longer fits. */
export function setPoolLimit(mb: number): void {
  if (!Number.isFinite(mb) || mb < 0) throw new ArgumentError(`setPoolLimit: ${mb} must be a non-negative number of megabytes (0 turns the pool off)`);
  limitBytes = mb * 2 ** 20;
  evictUntil(limitBytes);
}

/** Free every pooled array (to the garbage collector). */
export function clearPool(): void {
  evictUntil(0);
}

function evictUntil(target: number): void {
  // Oldest buckets first (Map iteration order): sizes a long-gone workload used are the ones to lose.
  for (const [dtype, bySize] of buckets) {
    for (const [n, list] of bySize) {
      const bytes = n * itemSize(dtype);
      while (heldBytes > target && list.length) {
        list.pop();
        heldBytes -= bytes;
        heldArrays--;
        dropped++;
      }
      if (!list.length) bySize.delete(n);
      if (heldBytes <= target) return;
    }
  }
}

/**
 * A typed array of `n` elements for a new op output: a pooled one when there is one (zero-filled when `zero`),
 * else a fresh (zeroed) one.
 */
export function takeArray(dtype: DType, n: number, zero: boolean): StorageArray {
  const list = heldArrays > 0 ? buckets.get(dtype)?.get(n) : undefined;
  const a = list?.pop();
  if (a === undefined) {
    misses++;
    return allocStorage(dtype, n);
  }
  hits++;
  heldArrays--;
  heldBytes -= n * itemSize(dtype);
  if (zero) {
    if (a instanceof BigInt64Array) a.fill(0n);
    else a.fill(0);
  }
  return a;
}

/** Give a released storage's array back; dropped if it would pass the cap. */
export function giveArray(dtype: DType, a: StorageArray): void {
  const n = a.length;
  const bytes = n * itemSize(dtype);
  if (n === 0 || bytes > limitBytes) {
    dropped++;
    return;
  }
  if (heldBytes + bytes > limitBytes) evictUntil(limitBytes - bytes);
  let bySize = buckets.get(dtype);
  if (!bySize) buckets.set(dtype, (bySize = new Map()));
  let list = bySize.get(n);
  if (!list) bySize.set(n, (list = []));
  list.push(a);
  heldBytes += bytes;
  heldArrays++;
}

/**
 * Fill every pooled array with a pattern (all bits set: NaN for floats, -1 for integers): tests run ops after
 * it, so a kernel that leaves an output element unwritten where its op declares `overwritesOutputs` shows up
 * as a wrong result instead of passing on a stale value that happened to be right.
 */
export function poisonPoolForTesting(): void {
  for (const bySize of buckets.values())
    for (const list of bySize.values())
      for (const a of list) new Uint8Array(a.buffer, a.byteOffset, a.byteLength).fill(0xff);
}
