/**
 * tidy(fn): tfjs's memory scope. Every tensor created while fn runs (op outputs and views alike) is disposed
 * when it returns, except the tensors it returns (alone, or anywhere inside arrays, plain objects and Maps) and
 * those marked keep(). Scopes nest: what an inner tidy returns belongs to the outer one. Disposal only drops
 * handles; a storage is released when its last handle goes (core/storage.ts), so a returned view keeps its
 * base's storage alive even though the base handle was disposed.
 *
 * Tensors a kernel creates while it runs (its temporaries and prepared-weight caches) are the backend's
 * business and are not tracked: the dispatcher suspends the scope around backend selection and the kernel.
 */
import { ArgumentError } from './errors.js';
import { Tensor } from './tensor.js';

/** The innermost open scope's list (undefined outside tidy); the Tensor constructor pushes onto it. */
export const scopeState: { current: Tensor[] | undefined } = { current: undefined };

const stack: Tensor[][] = [];

function collect(v: unknown, into: Set<Tensor>, seen: Set<object>): void {
  if (v === null || typeof v !== 'object') return;
  if (v instanceof Tensor) {
    into.add(v);
    return;
  }
  if (seen.has(v)) return;
  seen.add(v);
  if (Array.isArray(v)) for (const x of v) collect(x, into, seen);
  else if (v instanceof Map) for (const x of v.values()) collect(x, into, seen);
  else {
    const proto = Object.getPrototypeOf(v);
    if (proto === Object.prototype || proto === null) for (const k in v) collect((v as Record<string, unknown>)[k], into, seen);
  }
}

function isThenable(v: unknown): boolean {
  return v !== null && (typeof v === 'object' || typeof v === 'function') && typeof (v as { then?: unknown }).then === 'function';
}

/**
 * Run `fn` and dispose every tensor it created except those in its result and those kept. Synchronous only:
 * an async fn would return before its tensors exist (tfjs refuses it too).
 */
export function tidy<T>(fn: () => T): T {
  if (typeof fn !== 'function') throw new ArgumentError(`tidy: expects a function, got ${typeof fn}`);
  const tracked: Tensor[] = [];
  stack.push(tracked);
  scopeState.current = tracked;
  let result: T;
  let ok = false;
  try {
    result = fn();
    ok = true;
  } finally {
    stack.pop();
    scopeState.current = stack[stack.length - 1];
    // On a throw everything the scope made is garbage: release it before the error propagates.
    if (!ok) for (const t of tracked) if (!t.isKept) t.dispose();
  }
  if (isThenable(result)) {
    for (const t of tracked) if (!t.isKept) t.dispose();
    throw new ArgumentError('tidy: fn returned a Promise; tidy scopes are synchronous (await outside, or dispose the tensors yourself)');
  }
  if (result === null || typeof result !== 'object') {
    // Nothing returned can hold a tensor (the decode step returns an id): dispose all, no survivor search.
    for (const t of tracked) if (!t.isKept) t.dispose();
    return result;
  }
  const survivors = new Set<Tensor>();
  collect(result, survivors, new Set());
  const parent = scopeState.current;
  for (const t of tracked) {
    if (survivors.has(t)) parent?.push(t);
    else if (!t.isKept) t.dispose();
  }
  return result;
}

/** Exempt `t` from every tidy() scope (it lives until dispose() or garbage collection); returns it. */
export function keep<T extends Tensor>(t: T): T {
  return t.keep();
}

/** Dispose every tensor in `v` (a tensor, or arrays / plain objects / Maps of them). */
export function dispose(v: unknown): void {
  const ts = new Set<Tensor>();
  collect(v, ts, new Set());
  for (const t of ts) t.dispose();
}

/**
 * Run `fn` with scope tracking off: tensors it creates belong to no tidy() (the dispatcher uses this around
 * backends, whose caches must outlive the caller's scope).
 */
export function untracked<T>(fn: () => T): T {
  const saved = scopeState.current;
  scopeState.current = undefined;
  try {
    return fn();
  } finally {
    scopeState.current = saved;
  }
}
