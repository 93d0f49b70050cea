/**
 * One resident copy of a weight (issue #17). A module parameter lives in the form its backend computes from:
 * once a backend has prepared a constant weight (NPU packed panels, an ORT initializer, wasm packed panels), it
 * calls `preparedConstant(storage)` and the host typed array is dropped, provided the storage has a source to
 * restore it from (`Storage.source`). Whoever reads `storage.data` later (another backend after a fallback or
 * a policy change, the cpu reference, user code through `.value`) gets the elements back from that source,
 * bit-identical, and they stay resident until a backend prepares the weight again.
 *
 * Sources, and who sets them:
 *   - checkpoint: Linear weights loaded from safetensors re-read their bytes by file offset and convert them as
 *     loading did (models/io/safetensors.ts `hostSourceOf`). The file's size and mtime are checked first: a
 *     checkpoint changed on disk since loading fails the restore with a clear error, never gives other weights.
 *   - seeded: `synthetic:` models (Module.initRandom) regenerate a parameter from the generator state it started at.
 *   - derived: a backend's own transformed copy (ORT's Wᵀ for MatMulInteger) recomputes from its original.
 *   - none: weights made in memory by user code keep their host copy, unless the user opts in with
 *     `setHostSource(t, load)`; embeddings (the gather reads the table every token) and a tied lm_head (which
 *     is the embedding) are never given a source, so they stay.
 * Weights under OPSHIFT_RELEASE_MIN_BYTES (1 MiB) stay resident. OPSHIFT_KEEP_HOST_WEIGHTS=1 keeps every host
 * copy (e.g. to compare memory, or when files may change under a running process).
 */
import { itemSize, type StorageArray } from './dtype.js';
import { Storage, type HostSource } from './storage.js';
import type { Tensor } from './tensor.js';

export type { HostSource } from './storage.js';

const tracked = new Set<WeakRef<Storage>>();
const counters = { releases: 0, restores: 0, releasedBytes: 0, restoredBytes: 0 };

/** OPSHIFT_KEEP_HOST_WEIGHTS=1: no parameter is deferred or released. */
export function keepHostWeights(): boolean {
  const v = process.env.OPSHIFT_KEEP_HOST_WEIGHTS;
  return v !== undefined && v !== '' && v !== '0';
}

function bytesOf(s: Storage): number {
  // From the length, without touching `data` (that would restore a released weight).
  return s.length * itemSize(s.dtype);
}

/**
 * Weights smaller than this stay resident (OPSHIFT_RELEASE_MIN_BYTES, default 1 MiB): restoring one costs a file
 * open and a read, and a model's small weights together weigh little (a tiny test model loads 2x slower with
 * every 32 KB weight deferred).
 */
export function releaseMinBytes(): number {
  const raw = process.env.OPSHIFT_RELEASE_MIN_BYTES;
  const v = Number(raw);
  return raw !== undefined && raw !== '' && Number.isFinite(v) && v >= 0 ? v : 2 ** 20;
}

/** Whether a weight of `bytes` may be deferred and released (not kept by OPSHIFT_KEEP_HOST_WEIGHTS or its size). */
export function mayRelease(bytes: number): boolean {
  return !keepHostWeights() && bytes >= releaseMinBytes();
}

/** Counts `s` in `weightStats()` (module parameters register here when they are set). */
export function trackWeight(s: Storage): void {
  tracked.add(new WeakRef(s));
  if (tracked.size % 1024 === 0) for (const r of tracked) if (!r.deref()) tracked.delete(r);
}

/**
 * Gives `s` a restore source, so a backend that prepares it may release its host copy. The source's `load()`
 * must return exactly the current elements. Counting of restores is wrapped in here.
 */
export function attachHostSource(s: Storage, source: HostSource): void {
  const bytes = bytesOf(s);
  s.source = {
    what: source.what,
    identity: source.identity,
    load: () => source.load(),
    restored: () => {
      counters.restores++;
      counters.restoredBytes += bytes;
    },
  };
}

/**
 * User opt-in for weights made in memory: `load` recomputes (or re-reads) the tensor's whole storage, and the
 * host copy may then be released once a backend has prepared it. Returns the tensor.
 */
export function setHostSource<T extends Tensor>(t: T, load: () => StorageArray, what = 'user source'): T {
  attachHostSource(t.storage, { what, load });
  return t;
}

/**
 * Backends call this after they made their prepared form of the constant `s`: its host copy is released when
 * it has a source (and OPSHIFT_KEEP_HOST_WEIGHTS is not set). Returns whether it was released.
 */
export function preparedConstant(s: Storage): boolean {
  if (!s.constant || s.source === undefined || !s.resident || !mayRelease(bytesOf(s))) return false;
  if (!s.releaseData()) return false;
  counters.releases++;
  counters.releasedBytes += bytesOf(s);
  return true;
}

export interface WeightStats {
  /** Tracked weights (live module parameters). */
  readonly weights: number;
  readonly residentBytes: number;
  readonly releasedBytes: number;
  /** Of the resident ones, bytes that have a restore source (could be released once prepared). */
  readonly restorableBytes: number;
  /** Since the process started: releases and restores done, and their bytes. */
  readonly releases: number;
  readonly restores: number;
  readonly totalReleasedBytes: number;
  readonly totalRestoredBytes: number;
}

export function weightStats(): WeightStats {
  let weights = 0;
  let residentBytes = 0;
  let releasedBytes = 0;
  let restorableBytes = 0;
  for (const r of tracked) {
    const s = r.deref();
    if (!s) {
      tracked.delete(r);
      continue;
    }
    weights++;
    const b = bytesOf(s);
    if (s.resident) {
      residentBytes += b;
      if (s.source) restorableBytes += b;
    } else releasedBytes += b;
  }
  return {
    weights,
    residentBytes,
    releasedBytes,
    restorableBytes,
    releases: counters.releases,
    restores: counters.restores,
    totalReleasedBytes: counters.releasedBytes,
    totalRestoredBytes: counters.restoredBytes,
  };
}

/** Host bytes of module parameters resident now. */
export function hostWeightBytes(): number {
  return weightStats().residentBytes;
}
