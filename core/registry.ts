/**
 * Backends and kernels, keyed by (op, backend). Backends are kernel providers with an availability probe;
 * one that cannot load (no native library, no binding) is listed with its reason and never breaks an import.
 */
import { ArgumentError } from './errors.js';
import { getOp, listOps, type Kernel, type OpAttrs, type OpDef, type OpInputs } from './op_def.js';

export type BackendStatus =
  | { readonly available: true; readonly version?: string; readonly details?: Readonly<Record<string, string>> }
  | { readonly available: false; readonly reason: string };

export interface Backend {
  readonly name: string;
  /** Default order: higher priority is tried first; cpu has the lowest and is always last. */
  readonly priority: number;
  readonly description: string;
  /** Called once at registration; must not throw. */
  probe(): BackendStatus;
}

interface BackendEntry {
  readonly backend: Backend;
  readonly status: BackendStatus;
}

const backends = new Map<string, BackendEntry>();
let registryVersion = 0;

/** Bumped on every registration change, so dispatch caches rebuild. */
export function getRegistryVersion(): number {
  return registryVersion;
}

export function registerBackend(backend: Backend): BackendStatus {
  if (backends.has(backend.name)) throw new ArgumentError(`registerBackend: backend '${backend.name}' is already registered`);
  let status: BackendStatus;
  try {
    status = backend.probe();
  } catch (e) {
    status = { available: false, reason: `probe failed: ${(e as Error).message}` };
  }
  backends.set(backend.name, { backend, status });
  registryVersion++;
  return status;
}

/** Removes a backend and its kernels (tests register fake backends and clean up after themselves). */
export function unregisterBackend(name: string): void {
  if (!backends.delete(name)) return;
  for (const op of listOps()) op.kernels.delete(name);
  registryVersion++;
}

export function registerKernel<I extends OpInputs, A extends OpAttrs>(op: OpDef<I, A>, backend: string, kernel: Kernel<I, A>): void {
  // The "dangling impl" check: a kernel must name an op that was defined, and a backend that exists.
  if (getOp(op.name) !== (op as unknown as OpDef)) throw new ArgumentError(`registerKernel: op '${op.name}' was not created by defineOp`);
  if (!backends.has(backend)) throw new ArgumentError(`registerKernel: ${op.name}: backend '${backend}' is not registered`);
  if (op.kernels.has(backend)) throw new ArgumentError(`registerKernel: ${op.name} already has a kernel for backend '${backend}'`);
  op.kernels.set(backend, kernel);
  registryVersion++;
}

export function backendStatus(name: string): BackendStatus | undefined {
  return backends.get(name)?.status;
}

export function hasBackend(name: string): boolean {
  return backends.has(name);
}

export interface BackendInfo {
  readonly name: string;
  readonly priority: number;
  readonly description: string;
  readonly status: BackendStatus;
  readonly kernels: number;
}

/** Every registered backend, highest priority first. */
export function listBackends(): BackendInfo[] {
  const ops = listOps();
  return [...backends.values()]
    .map(({ backend, status }) => ({
      name: backend.name,
      priority: backend.priority,
      description: backend.description,
      status,
      kernels: ops.filter((o) => o.kernels.has(backend.name)).length,
    }))
    .sort((a, b) => b.priority - a.priority);
}

let orderCache: { version: number; names: readonly string[] } | undefined;

/** Names of the available backends in default priority order (cached per registry version: dispatch reads it). */
export function defaultOrder(): readonly string[] {
  if (orderCache?.version !== registryVersion) {
    const names = [...backends.values()]
      .filter((e) => e.status.available)
      .sort((a, b) => b.backend.priority - a.backend.priority)
      .map((e) => e.backend.name);
    orderCache = { version: registryVersion, names };
  }
  return orderCache.names;
}

export interface CoverageRow {
  readonly op: string;
  readonly composite: boolean;
  readonly backends: Readonly<Record<string, boolean>>;
}

/** The op × backend coverage matrix (like PyTorch's dumpComputedTable / ggml's support mode). */
export function coverage(): CoverageRow[] {
  const names = listBackends().map((b) => b.name);
  return listOps()
    .map((op) => ({
      op: op.name,
      composite: op.decompose !== undefined,
      backends: Object.fromEntries(names.map((n) => [n, op.kernels.has(n)])),
    }))
    .sort((a, b) => a.op.localeCompare(b.op));
}
