/** Compiled single-op sessions, cached per signature with an LRU bound; evicted sessions are disposed. */
import type { NativeSession } from './binding.js';

export class SessionCache {
  private readonly map = new Map<string, NativeSession>();
  hits = 0;
  misses = 0;
  evictions = 0;

  constructor(private maxSize: number) {}

  get size(): number {
    return this.map.size;
  }

  get(key: string, create: () => NativeSession): NativeSession {
    const s = this.map.get(key);
    if (s) {
      this.hits++;
      // Re-insert to mark it most recently used (Map keeps insertion order).
      this.map.delete(key);
      this.map.set(key, s);
      return s;
    }
    this.misses++;
    const made = create();
    this.map.set(key, made);
    this.trim();
    return made;
  }

  resize(maxSize: number): void {
    this.maxSize = maxSize;
    this.trim();
  }

  private trim(): void {
    while (this.map.size > this.maxSize) {
      const [oldest, s] = this.map.entries().next().value as [string, NativeSession];
      this.map.delete(oldest);
      s.dispose();
      this.evictions++;
    }
  }

  clear(): void {
    for (const s of this.map.values()) s.dispose();
    this.map.clear();
  }

  keys(): string[] {
    return [...this.map.keys()];
  }
}
