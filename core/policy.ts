/**
 * Where an op runs. Candidates come, in order, from: the scoped override stack (innermost first:
 * `withBackend`, `withPolicy`), the global per-op policy (`setPolicy`, which may be a rule on shapes), then the
 * default priority order (`OPSHIFT_BACKENDS` or the backends' own priorities; cpu last). The special name
 * `decompose` asks for an op's decomposition into primitives at that point of the list.
 */
import { ArgumentError, BackendUnavailableError } from './errors.js';
import type { Candidate, OpAttrs, OpDef, OpInputs, TensorSpec } from './op_def.js';
import { getOp, listOps } from './op_def.js';
import { backendNames, backendStatus, defaultOrder, getRegistryVersion, hasBackend } from './registry.js';
import { didYouMean } from './suggest.js';

export const DECOMPOSE = 'decompose';

export type BackendChoice = string | readonly string[];

/** What a policy rule sees: the op, its inputs and attributes, and the already-computed output specs. */
export interface CallInfo {
  readonly op: string;
  readonly inputs: OpInputs;
  readonly attrs: OpAttrs;
  readonly outs: readonly TensorSpec[];
}

/** A fixed choice, or a function of the call (e.g. on shapes: prefill vs decode). `undefined` defers to the next level. */
export type OpRule = BackendChoice | ((call: CallInfo) => BackendChoice | undefined);

/** Op name (e.g. `MatMul`) or `*` (every op) -> rule. */
export type Policy = Readonly<Record<string, OpRule>>;

export interface BackendScopeOptions {
  /** When false, ops the backend cannot run fail with NoKernelError instead of falling back. Default true. */
  readonly fallback?: boolean;
}

type Frame =
  | { readonly kind: 'backend'; readonly backends: readonly string[]; readonly fallback: boolean }
  | { readonly kind: 'policy'; readonly policy: Policy };

const stack: Frame[] = [];
let globalPolicy: Policy = {};
let priorityOverride: readonly string[] | undefined = parseEnvOrder(process.env.OPSHIFT_BACKENDS);
let policyVersion = 0;
/** Bumped by setPolicy / setPriority; a scope state is interned per generation (see `scoped`). */
let generation = 0;
/** `generation|stack key` -> policyVersion, so re-entering an identical scope gives back the same version. */
const stateVersions = new Map<string, number>();
let nextVersion = 1;
/** The stack key at each depth: frames by content (backend scopes) or identity (policy objects). */
const stackKeys: string[] = [];
const policyIds = new WeakMap<object, number>();
let nextPolicyId = 1;

function frameKey(f: Frame): string {
  if (f.kind === 'backend') return `b${f.fallback ? '' : '!'}:${f.backends.join(',')}`;
  let id = policyIds.get(f.policy);
  if (id === undefined) policyIds.set(f.policy, (id = nextPolicyId++));
  return `p:${id}`;
}

/** The version of the current state: the same number whenever the same scopes are open under the same policy. */
function versionOf(stackKey: string): number {
  const key = `${generation}|${stackKey}`;
  let v = stateVersions.get(key);
  if (v === undefined) {
    // Fresh policy objects per call would grow the table without bound; versions only increase, so dropping
    // the table costs one cache rebuild per op, never a stale hit.
    if (stateVersions.size >= 4096) stateVersions.clear();
    stateVersions.set(key, (v = nextVersion++));
  }
  return v;
}

function globalChange(): void {
  generation++;
  policyVersion = versionOf(stackKeys[stackKeys.length - 1] ?? '');
}

function parseEnvOrder(v: string | undefined): string[] | undefined {
  if (!v) return undefined;
  const list = v.split(',').map((s) => s.trim()).filter(Boolean);
  return list.length ? list : undefined;
}

/** Changes whenever the stack, the global policy, the priority or the registry change. */
export function policyVersionKey(): number {
  return policyVersion * 100003 + getRegistryVersion();
}

function checkNames(where: string, names: readonly string[]): void {
  for (const n of names) {
    if (n !== DECOMPOSE && !hasBackend(n))
      throw new ArgumentError(`${where}: unknown backend '${n}'${didYouMean(n, [...backendNames(), DECOMPOSE])} (registered: ${backendNames().join(', ')})`);
  }
}

function toList(c: BackendChoice): readonly string[] {
  return typeof c === 'string' ? [c] : c;
}

/** An op name in a policy that names no op (`Matmul`, `linear`) would silently never match: refuse it. */
export function checkOpName(where: string, op: string): void {
  if (op === '*' || getOp(op)) return;
  throw new ArgumentError(`${where}: unknown op '${op}'${didYouMean(op, listOps().map((o) => o.name))}; ops are OpDef names as \`opshift ops\` lists them, or '*'`);
}

function checkPolicy(where: string, p: Policy): void {
  for (const [op, rule] of Object.entries(p)) {
    checkOpName(where, op);
    if (typeof rule === 'function') continue;
    if (typeof rule !== 'string' && !Array.isArray(rule)) throw new ArgumentError(`${where}: rule for '${op}' must be a backend name, a list, or a function`);
    checkNames(`${where}: ${op}`, toList(rule));
  }
}

function scoped<T>(frame: Frame, fn: () => T): T {
  // Versions are interned per scope state rather than bumped on every enter and exit: code that enters the same
  // withBackend around each op keeps hitting the ops' candidate caches instead of rebuilding them every call.
  const key = `${stackKeys[stackKeys.length - 1] ?? ''}/${frameKey(frame)}`;
  stack.push(frame);
  stackKeys.push(key);
  policyVersion = versionOf(key);
  try {
    return fn();
  } finally {
    // Unwinds on exceptions too; a frame is always popped by the scope that pushed it.
    stack.pop();
    stackKeys.pop();
    // A setPolicy/setPriority inside the scope changed the generation: the outer state gets a fresh version.
    policyVersion = versionOf(stackKeys[stackKeys.length - 1] ?? '');
  }
}

/** Run `fn` with `backend` (or a list, in order) first for every op; others remain as fallbacks unless `fallback: false`. */
export function withBackend<T>(backend: BackendChoice, fn: () => T, options: BackendScopeOptions = {}): T {
  const backends = toList(backend);
  checkNames('withBackend', backends);
  const fallback = options.fallback ?? true;
  if (!fallback) {
    // Asking for a backend with no fallback when none of them can run at all is an error up front, not per op.
    const statuses = backends.filter((b) => b !== DECOMPOSE).map((b) => [b, backendStatus(b)!] as const);
    const usable = statuses.some(([, s]) => s.available) || backends.includes(DECOMPOSE);
    if (!usable && statuses.length) {
      const [name, status] = statuses[0]!;
      throw new BackendUnavailableError(name, status.available ? '' : status.reason);
    }
  }
  return scoped({ kind: 'backend', backends, fallback }, fn);
}

/** Run `fn` with per-op rules that take precedence over the global policy. */
export function withPolicy<T>(policy: Policy, fn: () => T): T {
  checkPolicy('withPolicy', policy);
  return scoped({ kind: 'policy', policy }, fn);
}

/** Replace the global per-op policy. */
export function setPolicy(policy: Policy): void {
  checkPolicy('setPolicy', policy);
  globalPolicy = { ...policy };
  globalChange();
}

export function getPolicy(): Policy {
  return globalPolicy;
}

/** Replace the default order (like `OPSHIFT_BACKENDS=npu,ort,cpu`); `undefined` restores the backends' priorities. */
export function setPriority(order: readonly string[] | undefined): void {
  if (order) checkNames('setPriority', order);
  priorityOverride = order ? [...order] : undefined;
  globalChange();
}

/**
 * Rule helper for prefill vs decode: `rows` is the number of rows of the first input (all dims but the last
 * multiplied, i.e. M of a MatMul/Linear). `byRows(8, 'npu', 'ort')` sends M >= 8 to npu and smaller M to ort.
 */
export function byRows(threshold: number, large: BackendChoice, small: BackendChoice): (call: CallInfo) => BackendChoice {
  return (call) => {
    const first = Object.values(call.inputs).find((v) => v !== undefined && !Array.isArray(v));
    const shape = (first as { shape: readonly number[] } | undefined)?.shape ?? [];
    let rows = 1;
    for (let i = 0; i < shape.length - 1; i++) rows *= shape[i]!;
    return rows >= threshold ? large : small;
  };
}

function ruleFor(policy: Policy, op: string): OpRule | undefined {
  return policy[op] ?? policy['*'];
}

/**
 * The ordered, de-duplicated candidate list for one call. Static parts are cached on the op per policy
 * version; rules that are functions make the list dynamic (evaluated per call).
 */
export function candidates(op: OpDef, call: () => CallInfo): readonly Candidate[] {
  const version = policyVersionKey();
  const cached = op.cache;
  if (cached && cached.version === version && !cached.dynamic) return cached.list;

  let dynamic = false;
  const out: Candidate[] = [];
  const seen = new Set<string>();
  const add = (names: readonly string[], cause: string) => {
    for (const n of names) {
      if (seen.has(n)) continue;
      seen.add(n);
      out.push({ backend: n, cause });
    }
  };
  let info: CallInfo | undefined;
  const evalRule = (rule: OpRule): readonly string[] => {
    if (typeof rule !== 'function') return toList(rule);
    dynamic = true;
    info ??= call();
    const r = rule(info);
    if (r === undefined) return [];
    const list = toList(r);
    checkNames(`policy rule for ${op.name}`, list);
    return list;
  };

  let closed = false;
  for (let i = stack.length - 1; i >= 0 && !closed; i--) {
    const f = stack[i]!;
    if (f.kind === 'backend') {
      add(f.backends, 'override');
      if (!f.fallback) closed = true;
    } else {
      const rule = ruleFor(f.policy, op.name);
      if (rule !== undefined) add(evalRule(rule), 'policy (scoped)');
    }
  }
  if (!closed) {
    const rule = ruleFor(globalPolicy, op.name);
    if (rule !== undefined) add(evalRule(rule), 'policy');
    // Backends with a kernel for this op first: a GEMM-only backend above cpu must not turn every other op's
    // cause into "fallback: <it> has no Add kernel -> cpu". Kernel-less ones stay listed after them, so a call
    // nobody can run still names every backend in its NoKernelError.
    const order = priorityOverride ?? defaultOrder();
    add(order.filter((n) => op.kernels.has(n)), 'priority');
    add(order, 'priority');
    // An OPSHIFT_BACKENDS list that leaves backends out still falls back to them (cpu last), never to nothing.
    add(defaultOrder(), 'priority');
  }
  op.cache = { version, list: out, dynamic };
  return out;
}
