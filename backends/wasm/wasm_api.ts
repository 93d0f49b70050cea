/**
 * The few WebAssembly JS-API types the backend uses. tsconfig's lib (ES2022, no DOM) and @types/node 20 do not
 * declare the WebAssembly namespace, so it is typed locally instead of widening the project's lib.
 */
export interface WasmMemory {
  readonly buffer: ArrayBuffer;
  grow(deltaPages: number): number;
}

export interface WasmGlobal {
  readonly value: unknown;
}

interface WasmModuleCtor {
  new (bytes: Uint8Array): object;
}

interface WasmInstanceCtor {
  new (module: object, imports: Record<string, unknown>): { readonly exports: Record<string, unknown> };
}

export interface WasmApi {
  readonly Module: WasmModuleCtor;
  readonly Instance: WasmInstanceCtor;
  readonly Memory: abstract new (...args: never[]) => WasmMemory;
  readonly Global: abstract new (...args: never[]) => WasmGlobal;
}

/** The engine's WebAssembly object, or undefined where there is none. */
export const wasmApi: WasmApi | undefined = (globalThis as unknown as { WebAssembly?: WasmApi }).WebAssembly;
