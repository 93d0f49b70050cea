/**
 * A small allocator over a WebAssembly.Memory: first fit over an address-ordered free list, coalescing
 * neighbours on free, growing the memory when nothing fits. Blocks are 64-byte aligned (cache lines; SIMD
 * loads need 16). Everything below `base` (the C stack and static data, up to `__heap_base`) is never handed out.
 *
 * memory.grow() detaches every ArrayBuffer view of the old buffer: callers must re-create views (f32()) after
 * any alloc(), never hold one across it.
 */
import type { WasmMemory } from './wasm_api.js';

const ALIGN = 64;
const PAGE = 65536;
/** wasm32: 65536 pages of 64 KiB. */
const MAX_BYTES = 4 * 1024 * 1024 * 1024;

export class OutOfWasmMemoryError extends Error {}

interface Block {
  ptr: number;
  size: number;
}

export class WasmHeap {
  /** Free blocks in address order, none adjacent (adjacent blocks are merged). */
  private readonly free: Block[] = [];
  /** ptr -> size of live allocations. */
  private readonly live = new Map<number, number>();
  private end: number;
  private liveBytes = 0;
  private peakBytes = 0;

  constructor(
    readonly memory: WasmMemory,
    base: number,
  ) {
    const start = Math.ceil(base / ALIGN) * ALIGN;
    this.end = memory.buffer.byteLength;
    if (this.end > start) this.free.push({ ptr: start, size: this.end - start });
  }

  /** A block of at least `bytes` (≥ 1), 64-byte aligned. Throws OutOfWasmMemoryError beyond 4 GiB. */
  alloc(bytes: number): number {
    const size = Math.max(ALIGN, Math.ceil(bytes / ALIGN) * ALIGN);
    let i = this.free.findIndex((b) => b.size >= size);
    if (i < 0) i = this.grow(size);
    const b = this.free[i]!;
    const ptr = b.ptr;
    if (b.size === size) this.free.splice(i, 1);
    else {
      b.ptr += size;
      b.size -= size;
    }
    this.live.set(ptr, size);
    this.liveBytes += size;
    if (this.liveBytes > this.peakBytes) this.peakBytes = this.liveBytes;
    return ptr;
  }

  /** Returns a block from alloc(); coalesces it with free neighbours. Freeing anything else throws. */
  release(ptr: number): void {
    const size = this.live.get(ptr);
    if (size === undefined) throw new Error(`WasmHeap: free of ${ptr}, which is not an allocated block`);
    this.live.delete(ptr);
    this.liveBytes -= size;
    // Binary search for the first free block after ptr.
    let lo = 0;
    let hi = this.free.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.free[mid]!.ptr < ptr) lo = mid + 1;
      else hi = mid;
    }
    const prev = lo > 0 ? this.free[lo - 1]! : undefined;
    const next = lo < this.free.length ? this.free[lo]! : undefined;
    if (prev && prev.ptr + prev.size === ptr) {
      prev.size += size;
      if (next && prev.ptr + prev.size === next.ptr) {
        prev.size += next.size;
        this.free.splice(lo, 1);
      }
    } else if (next && ptr + size === next.ptr) {
      next.ptr = ptr;
      next.size += size;
    } else this.free.splice(lo, 0, { ptr, size });
  }

  /** Grows the memory so a block of `size` fits at the end; returns its free-list index. */
  private grow(size: number): number {
    const last = this.free.at(-1);
    const tailFree = last && last.ptr + last.size === this.end ? last.size : 0;
    const need = size - tailFree;
    // Grow by at least a quarter of the current size, so a sequence of growing calls stays amortised.
    let pages = Math.max(Math.ceil(need / PAGE), Math.ceil(this.end / PAGE / 4));
    if (this.end + pages * PAGE > MAX_BYTES) pages = Math.ceil(need / PAGE);
    if (this.end + pages * PAGE > MAX_BYTES)
      throw new OutOfWasmMemoryError(`wasm memory: cannot allocate ${size} bytes (${this.liveBytes} in use, 4 GiB limit)`);
    try {
      this.memory.grow(pages);
    } catch (e) {
      throw new OutOfWasmMemoryError(`wasm memory: growing by ${pages * PAGE} bytes failed: ${(e as Error).message}`);
    }
    const added = pages * PAGE;
    if (tailFree) last!.size += added;
    else this.free.push({ ptr: this.end, size: added });
    this.end += added;
    return this.free.length - 1;
  }

  stats(): { capacity: number; live: number; peak: number; blocks: number; freeBlocks: number } {
    return { capacity: this.end, live: this.liveBytes, peak: this.peakBytes, blocks: this.live.size, freeBlocks: this.free.length };
  }

  /** Free blocks (for tests: after everything is released there is one block from base to the end). */
  freeList(): readonly Readonly<Block>[] {
    return this.free.map((b) => ({ ...b }));
  }
}
