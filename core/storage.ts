/**
 * Storage: the typed array that holds a tensor's elements. Views (reshape, permute, narrow, expand...) share one
 * Storage; ownership is the JS garbage collector's, since all data lives in host typed arrays.
 */
import type { DType, StorageArray } from './dtype.js';

export type Device = 'cpu';

export class Storage {
  /** Host memory for now; the field exists so device-memory backends can come later. */
  readonly device: Device = 'cpu';
  /**
   * Marked constant (module parameters). Backends may prepare a constant once (quantize, prepack, bake into a
   * session) and cache the prepared form keyed by this Storage; writing to a constant after that is a bug.
   */
  constant = false;

  constructor(
    readonly data: StorageArray,
    readonly dtype: DType,
  ) {}

  get length(): number {
    return this.data.length;
  }
}
