/**
 * On-disk cache of prepared NPU weights (issue #17, "fast preparation"): `OPSHIFT_CACHE=<dir>` (or
 * `configureNpu({ cacheDir })`, CLI `--cache <dir>`). When the npu kernels prepare a constant weight whose storage
 * has a source identity (core/storage.ts HostSource.identity: a checkpoint tensor by file, size, mtime, name and
 * offset, or a seeded synthetic draw by generator state), the prepared handle is looked up in the directory:
 *   hit   the file is mapped (npu_gemm_import: read-only mmap, pages shared with the page cache) — the host bytes are
 *         never restored and nothing is packed;
 *   miss  the weight is prepared as without a cache, then written (npu_gemm_export, atomic).
 * The key hashes the source identities (weight and every tensor baked into the handle), the view, the layout tag
 * of the kernel ([N, K] Linear vs [K, N] MatMul), variant (which encodes the w4 activation mode), K, N, group,
 * w_bits, the library's implementation name and ABI, and this file's format version: anything that changes the
 * prepared bytes changes the file name, so a stale entry is simply never found (a checkpoint rewritten in place
 * has another mtime).
 *
 * Bounded and harmless: nothing is written when the directory would exceed OPSHIFT_CACHE_MAX_MB (default 16384)
 * or its file system would keep less than OPSHIFT_CACHE_MIN_FREE_MB (default 2048) free; file names are hex
 * digests joined to the directory (never a path from elsewhere). Any cache failure — a corrupt, truncated or
 * foreign file (the library validates every import), an unwritable directory — falls back to the normal
 * prepare with one warning per process; a forward never fails because of the cache. A rejected file is deleted
 * so that the fresh prepare can replace it.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Storage } from '../../core/storage.js';
import type { Tensor } from '../../core/tensor.js';
import { npuConfig } from './config.js';
import { NPU_ABI_VERSION, NpuVariant, type NpuContext, type NpuGemm } from './ffi.js';

/** Bumped when the key's composition changes (old files are then never looked up again). */
const KEY_FORMAT = 1;
const SUFFIX = '.npuw';

/** What the cache needs to know about the handle a kernel is about to prepare. */
export interface DiskSpec {
  readonly variant: NpuVariant;
  readonly K: number;
  readonly N: number;
  /** w4 group size (0 otherwise). */
  readonly group?: number;
  /** w4 bits (0 otherwise). */
  readonly wBits?: number;
}

const counters = { hits: 0, misses: 0, writes: 0, skipped: 0, rejected: 0, errors: 0 };
let warned = false;
/** Bytes of cache files in each directory, counted once per process and kept up to date by our writes. */
const dirBytes = new Map<string, number>();

export interface PreparedCacheStats {
  /** Handles imported from the directory. */
  readonly hits: number;
  /** Cacheable weights not found (prepared, then written unless skipped). */
  readonly misses: number;
  readonly writes: number;
  /** Writes refused by the size or free-space bounds. */
  readonly skipped: number;
  /** Files the library rejected (deleted and re-prepared). */
  readonly rejected: number;
  /** Other failures (I/O), each degraded to the normal prepare. */
  readonly errors: number;
}

export function preparedCacheStats(): PreparedCacheStats {
  return { ...counters };
}

/** Test hook: zero the counters and allow the one warning again. */
export function resetPreparedCacheStats(): void {
  for (const k of Object.keys(counters) as (keyof typeof counters)[]) counters[k] = 0;
  warned = false;
  dirBytes.clear();
}

function envMb(name: string, dflt: number): number {
  const raw = process.env[name];
  const v = Number(raw);
  return raw !== undefined && raw !== '' && Number.isFinite(v) && v >= 0 ? v : dflt;
}

function warnOnce(msg: string): void {
  if (warned) return;
  warned = true;
  console.warn(`opshift: prepared-weight cache: ${msg} (weights are prepared without the cache; further cache problems are counted, not printed)`);
}

/** The source identity of a storage, or undefined when it has none (then the handle is not cacheable). */
function identityOf(s: Storage): string | undefined {
  return s.source?.identity ?? s.identity;
}

function viewOf(t: Tensor): string {
  return `${t.dtype}|${t.offset}|${t.shape.join(',')}|${t.strides.join(',')}`;
}

/**
 * The cache file for a handle, or undefined when the weight (or a tensor baked into it) has no source identity.
 * Exported for tests.
 */
export function preparedCachePath(dir: string, implName: string, tag: string, weight: Tensor, deps: readonly (Tensor | undefined)[], spec: DiskSpec): string | undefined {
  const ids: string[] = [];
  for (const t of [weight, ...deps]) {
    if (t === undefined) {
      ids.push('-');
      continue;
    }
    const id = identityOf(t.storage);
    if (id === undefined) return undefined;
    ids.push(`${id}#${viewOf(t)}`);
  }
  const key = JSON.stringify([KEY_FORMAT, NPU_ABI_VERSION, implName, tag, spec.variant, spec.K, spec.N, spec.group ?? 0, spec.wBits ?? 0, ids]);
  const name = createHash('sha256').update(key).digest('hex').slice(0, 40) + SUFFIX;
  return path.join(dir, name);
}

function cacheBytes(dir: string): number {
  let b = dirBytes.get(dir);
  if (b === undefined) {
    b = 0;
    for (const e of fs.readdirSync(dir, { withFileTypes: true }))
      if (e.isFile() && e.name.endsWith(SUFFIX)) {
        try {
          b += fs.statSync(path.join(dir, e.name)).size;
        } catch {
          // removed meanwhile by another process
        }
      }
    dirBytes.set(dir, b);
  }
  return b;
}

/** Upper estimate of a file's size (the library's prepared layouts, npu_emu_internal.h, plus the header page). */
function estimateBytes(spec: DiskSpec): number {
  const panels = Math.ceil(spec.N / 16) * 16;
  const per = spec.variant === NpuVariant.F32 || spec.variant === NpuVariant.BF16 ? 4 : spec.variant === NpuVariant.W8A8 ? 1.2 : 0.75;
  return panels * spec.K * per + 8 * 4096;
}

/** Why a write is refused by the bounds, or undefined when it may go ahead. */
function boundRefusal(dir: string, spec: DiskSpec): string | undefined {
  const need = estimateBytes(spec);
  const maxBytes = envMb('OPSHIFT_CACHE_MAX_MB', 16384) * 2 ** 20;
  const have = cacheBytes(dir);
  if (have + need > maxBytes) return `the cache in ${dir} holds ${(have / 2 ** 20).toFixed(0)} MiB and the next file would pass OPSHIFT_CACHE_MAX_MB=${maxBytes / 2 ** 20}`;
  const minFree = envMb('OPSHIFT_CACHE_MIN_FREE_MB', 2048) * 2 ** 20;
  const st = fs.statfsSync(dir);
  const free = Number(st.bavail) * Number(st.bsize);
  if (free - need < minFree) return `${dir} has ${(free / 2 ** 20).toFixed(0)} MiB free, writing would leave less than OPSHIFT_CACHE_MIN_FREE_MB=${minFree / 2 ** 20}`;
  return undefined;
}

/** The configured cache directory (configureNpu({ cacheDir }) over OPSHIFT_CACHE), or undefined. */
export function preparedCacheDir(): string | undefined {
  const d = npuConfig().cacheDir;
  return d === undefined || d === '' ? undefined : path.resolve(d);
}

/**
 * The prepared handle for `weight` (+ the tensors baked into it): imported from the cache directory when a file
 * for its key exists, else `make()`, written to the directory for next time. Without a directory, a library
 * without the file entries, or a weight without a source identity, simply `make()`.
 */
export function preparedFromDisk(ctx: NpuContext, tag: string, weight: Tensor, deps: readonly (Tensor | undefined)[], spec: DiskSpec, make: () => NpuGemm): NpuGemm {
  const dir = preparedCacheDir();
  if (dir === undefined || !ctx.canImport) return make();
  const file = preparedCachePath(dir, ctx.lib.implName, tag, weight, deps, spec);
  if (file === undefined) return make();
  if (fs.existsSync(file)) {
    try {
      const g = ctx.importGemm(file, spec.variant, spec.K, spec.N, spec.group ?? 0, spec.wBits ?? 0);
      counters.hits++;
      return g;
    } catch (e) {
      counters.rejected++;
      warnOnce((e as Error).message);
      try {
        fs.unlinkSync(file);
        dirBytes.delete(dir); // recounted on the next write
      } catch {
        // another process replaced or removed it
      }
    }
  }
  counters.misses++;
  const g = make();
  try {
    fs.mkdirSync(dir, { recursive: true });
    const refusal = boundRefusal(dir, spec);
    if (refusal !== undefined) {
      counters.skipped++;
      warnOnce(`not writing: ${refusal}`);
      return g;
    }
    g.exportTo(file);
    counters.writes++;
    dirBytes.set(dir, cacheBytes(dir) + fs.statSync(file).size);
  } catch (e) {
    counters.errors++;
    warnOnce((e as Error).message);
  }
  return g;
}
