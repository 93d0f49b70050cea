/**
 * Storage: the typed array that holds a tensor's elements. Views (reshape, permute, narrow, expand...) share one
 * Storage.
 *
 * Ownership: every Tensor handle on a storage holds one reference (taken in the Tensor constructor, so views
 * count). A tensor that is never disposed keeps its reference until the garbage collector takes both, as
 * before. Explicit release (Tensor.dispose(), `using`, tidy()) drops the handle's reference; when the last
 * one goes, the storage is released: its array returns to the output pool (core/pool.ts) if the storage is
 * `poolable` (allocated by opshift for an output, not a constant), and any later read of `data` throws,
 * so a released storage is never read or written by mistake, and never reused while a view still lives.
 */
import { allocStorage, arrayMatchesDType, type DType, type StorageArray } from './dtype.js';
import { DisposedError } from './errors.js';
import { giveArray } from './pool.js';

export type Device = 'cpu';

export class Storage {
  /** Host memory for now; the field exists so device-memory backends can come later. */
  readonly device: Device = 'cpu';
  /**
   * Marked constant (module parameters). Backends may prepare a constant once (quantize, prepack, bake into a
   * session) and cache the prepared form keyed by this Storage; writing to a constant after that is a bug.
   */
  constant = false;
  /** Tensor handles (views included) holding this storage; see the file comment. */
  refs = 0;
  /**
   * The array came from opshift's allocator and nobody outside holds it (not a user's array passed in), so it
   * may go back to the pool on release.
   */
  poolable = false;
  /**
   * Where the elements come back from after `releaseData()` (a constant weight whose backend holds a prepared
   * copy): the checkpoint by offset, a seeded generator... (core/weight.ts). Undefined: never offloaded.
   */
  source: HostSource | undefined;
  /**
   * What determines the elements of a constant kept resident without a source (embeddings, a tied lm_head, small
   * weights), as HostSource.identity: lets backends cache its prepared form on disk (backends/npu/prepared_cache.ts).
   */
  identity: string | undefined;
  #data: StorageArray | undefined;
  /** The host copy was dropped by `releaseData()` (not disposed): `data` restores it from `source`. */
  #offloaded = false;
  #length: number;

  constructor(
    data: StorageArray,
    readonly dtype: DType,
  ) {
    this.#data = data;
    this.#length = data.length;
  }

  /** A storage whose elements are not read yet: the first `data` access loads them from `source`. */
  static deferred(dtype: DType, length: number, source: HostSource): Storage {
    const s = new Storage(allocStorage(dtype, 0), dtype);
    s.#data = undefined;
    s.#offloaded = true;
    s.#length = length;
    s.source = source;
    return s;
  }

  /** The elements; throws DisposedError once the storage was released; an offloaded weight is restored first. */
  get data(): StorageArray {
    const d = this.#data;
    if (d === undefined) {
      if (this.#offloaded) return this.#restore();
      throw new DisposedError('storage', `a ${this.dtype} storage that was released (every tensor viewing it was disposed)`);
    }
    return d;
  }

  get length(): number {
    return this.#length;
  }

  get released(): boolean {
    return this.#data === undefined && !this.#offloaded;
  }

  /** False while the host copy is offloaded (the elements live in a backend's prepared form and the source). */
  get resident(): boolean {
    return this.#data !== undefined;
  }

  /** Drops the host copy of a live storage if a source can restore it; returns whether it did. */
  releaseData(): boolean {
    if (this.source === undefined || this.#data === undefined) return false;
    this.#data = undefined;
    this.#offloaded = true;
    return true;
  }

  #restore(): StorageArray {
    const d = this.source!.load();
    if (d.length !== this.#length || !arrayMatchesDType(d, this.dtype))
      throw new Error(`storage restore from ${this.source!.what}: got ${d.constructor.name}(${d.length}), expected ${this.dtype} of ${this.#length} elements`);
    this.#data = d;
    this.#offloaded = false;
    this.source!.restored?.();
    return d;
  }

  /** A new handle on this storage (the Tensor constructor). */
  retain(): void {
    if (this.#data === undefined && !this.#offloaded) throw new DisposedError('view', `a ${this.dtype} storage that was released (every tensor viewing it was disposed)`);
    this.refs++;
  }

  /** A handle let go; the last one releases the storage (and pools its array when allowed). */
  release(): void {
    if (--this.refs > 0) return;
    this.#offloaded = false; // disposed: no restore any more
    const d = this.#data;
    if (d === undefined) return;
    this.#data = undefined;
    if (this.poolable && !this.constant) giveArray(this.dtype, d);
  }
}

/** How an offloaded host copy is read back (see core/weight.ts for the kinds and who sets them). */
export interface HostSource {
  /** For errors and accounting: "checkpoint /m/model.safetensors 'w' @ byte 1234", "seeded random (…)". */
  readonly what: string;
  /** The elements, in the storage's dtype, exactly as they were before release. */
  load(): StorageArray;
  /** Called after a restore (accounting). */
  restored?(): void;
  /**
   * What determines the elements, for caches of prepared forms (backends/npu/prepared_cache.ts): two sources with
   * the same identity load the same bits. Checkpoint: file, size, mtime, tensor, offset, dtype; seeded: generator
   * state, count, init, dtype. Undefined: not cacheable.
   */
  readonly identity?: string;
}
