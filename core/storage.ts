/**
 * Storage: the typed array that holds a tensor's elements. Views (reshape, permute, narrow, expand...) share one
 * Storage; ownership is the JS garbage collector's, since all data lives in host typed arrays.
 */
import { allocStorage, arrayMatchesDType, type DType, type StorageArray } from './dtype.js';

export type Device = 'cpu';

export class Storage {
  /** Host memory for now; the field exists so device-memory backends can come later. */
  readonly device: Device = 'cpu';
  /**
   * Marked constant (module parameters). Backends may prepare a constant once (quantize, prepack, bake into a
   * session) and cache the prepared form keyed by this Storage; writing to a constant after that is a bug.
   */
  constant = false;
  /**
   * Where the elements come back from after `releaseData()` (a constant weight whose backend holds a prepared
   * copy): the checkpoint by offset, a seeded generator... (core/weight.ts). Undefined: never offloaded.
   */
  source: HostSource | undefined;
  #data: StorageArray | undefined;
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
    s.#length = length;
    s.source = source;
    return s;
  }

  /** The elements; an offloaded weight is restored from its source first (transparently, bit-identical). */
  get data(): StorageArray {
    return this.#data ?? this.#restore();
  }

  get length(): number {
    return this.#length;
  }

  /** False while the host copy is offloaded (the elements live in a backend's prepared form and the source). */
  get resident(): boolean {
    return this.#data !== undefined;
  }

  /** Drops the host copy if a source can restore it; returns whether it did. */
  releaseData(): boolean {
    if (this.source === undefined || this.#data === undefined) return false;
    this.#data = undefined;
    return true;
  }

  #restore(): StorageArray {
    const d = this.source!.load();
    if (d.length !== this.#length || !arrayMatchesDType(d, this.dtype))
      throw new Error(`storage restore from ${this.source!.what}: got ${d.constructor.name}(${d.length}), expected ${this.dtype} of ${this.#length} elements`);
    this.#data = d;
    this.source!.restored?.();
    return d;
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
}
