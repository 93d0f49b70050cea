/**
 * Backends and kernels, keyed by (op, backend). Backends are kernel providers with an availability probe;
 * one that cannot load (no native library, no binding) is listed with its reason and never breaks an import.
 *
 * Probes are lazy for backends registered with `{ lazy: true }` (all the built-in ones but cpu): nothing native
 * is loaded at import. A backend is probed on first need — the first dispatch that reaches it, `backendStatus`,
 * `listBackends`/`coverage` (`opshift backends`/`ops`), or `probeBackends()` — and its kernels, registered up
 * front, only run once the probe said it is available.
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
  /** Called once, at registration or (lazy backends) on first need; should not throw (a throw is a reason). */
  probe(): BackendStatus;
}

export interface RegisterBackendOptions {
  /** Probe on first need instead of now (backends whose probe loads a native library). Default false. */
  readonly lazy?: boolean;
}

interface BackendEntry {
  readonly backend: Backend;
  /** Undefined until probed. */
  status: BackendStatus | undefined;
}

const backends = new Map<string, BackendEntry>();
let registryVersion = 0;

/** Bumped on every registration change, so dispatch caches rebuild. */
export function getRegistryVersion(): number {
  return registryVersion;
}

/** Registers a backend; returns its status when probed now, `undefined` for a lazy one (probed on first need). */
export function registerBackend(backend: Backend, options: RegisterBackendOptions = {}): BackendStatus | undefined {
  if (backends.has(backend.name)) throw new ArgumentError(`registerBackend: backend '${backend.name}' is already registered`);
  const entry: BackendEntry = { backend, status: undefined };
  backends.set(backend.name, entry);
  registryVersion++;
  return options.lazy ? undefined : statusOf(entry);
}

function statusOf(entry: BackendEntry): BackendStatus {
  if (entry.status) return entry.status;
  let status: BackendStatus;
  try {
    status = entry.backend.probe();
  } catch (e) {
    status = { available: false, reason: `probe failed: ${(e as Error).message}` };
  }
  entry.status = status;
  // The default order and the dispatch caches drop a backend found unavailable.
  registryVersion++;
  return status;
}

/** Names of every registered backend (nothing is probed). */
export function backendNames(): string[] {
  return [...backends.keys()];
}

/** Whether the backend has been probed (a lazy one is not until first need). */
export function isProbed(name: string): boolean {
  return backends.get(name)?.status !== undefined;
}

/** Probes the named backends now (default: every registered one) and returns their statuses. */
export function probeBackends(names?: readonly string[]): Record<string, BackendStatus> {
  const out: Record<string, BackendStatus> = {};
  for (const name of names ?? [...backends.keys()]) {
    const entry = backends.get(name);
    if (!entry) throw new ArgumentError(`probeBackends: unknown backend '${name}' (registered: ${[...backends.keys()].join(', ')})`);
    out[name] = statusOf(entry);
  }
  return out;
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

/** The backend's status, probing it first if it has not been (undefined: no such backend). */
export function backendStatus(name: string): BackendStatus | undefined {
  const entry = backends.get(name);
  return entry ? statusOf(entry) : undefined;
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

/** Every registered backend, highest priority first (probes those not probed yet). */
export function listBackends(): BackendInfo[] {
  const ops = listOps();
  return [...backends.values()]
    .map((entry) => ({ entry, status: statusOf(entry) }))
    .map(({ entry: { backend }, status }) => ({
      name: backend.name,
      priority: backend.priority,
      description: backend.description,
      status,
      // Kernels are registered up front; an unavailable backend runs none of them.
      kernels: status.available ? ops.filter((o) => o.kernels.has(backend.name)).length : 0,
    }))
    .sort((a, b) => b.priority - a.priority);
}

let orderCache: { version: number; names: readonly string[] } | undefined;

/**
 * Names of the backends in default priority order (cached per registry version: dispatch reads it): every
 * backend not known to be unavailable. Lazy backends not probed yet are listed; the dispatcher probes one when
 * a call reaches it, so a backend below cpu is never loaded for calls cpu takes.
 */
export function defaultOrder(): readonly string[] {
  if (orderCache?.version !== registryVersion) {
    const names = [...backends.values()]
      .filter((e) => e.status === undefined || e.status.available)
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

/** The op × backend coverage matrix (like PyTorch's dumpComputedTable / ggml's support mode); probes every backend. */
export function coverage(): CoverageRow[] {
  const infos = listBackends();
  return listOps()
    .map((op) => ({
      op: op.name,
      composite: op.decompose !== undefined,
      backends: Object.fromEntries(infos.map((b) => [b.name, b.status.available && op.kernels.has(b.name)])),
    }))
    .sort((a, b) => a.op.localeCompare(b.op));
}
