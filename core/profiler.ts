/**
 * Op records, written by the dispatcher (so every op is recorded without the ops knowing), and the views on
 * them: `profile(fn)`, a key-averages `summary()` like torch.profiler's, and a Chrome/Perfetto trace.
 * `OPSHIFT_DEBUG=1` prints every dispatch decision with its cause; `OPSHIFT_DEBUG=2` one line per op with
 * timing (tinygrad's DEBUG=2 style).
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import type { DType } from './dtype.js';
import { formatShape } from './shape.js';

export interface OpRecord {
  readonly op: string;
  /** The backend that ran the kernel, or `decompose` for a composite that ran as primitives. */
  readonly backend: string;
  /** Why: `override`, `policy`, `policy (scoped)`, `priority`, `fallback: npu rejects float16`, ... */
  readonly cause: string;
  readonly inputShapes: readonly (readonly number[])[];
  readonly inputDTypes: readonly DType[];
  readonly outShapes: readonly (readonly number[])[];
  readonly outDTypes: readonly DType[];
  /** Start time in ms (performance.now() origin). */
  readonly start: number;
  /** Wall time of the kernel (or the whole decomposition). */
  readonly ms: number;
  readonly flops: number;
  /** Bytes read and written by the op (inputs + outputs, logical sizes). */
  readonly bytes: number;
  /** 0 for ops called by user code, 1+ for primitives inside a decomposition. */
  readonly depth: number;
  /**
   * The call did one-time preparation: a backend packed, transposed or quantized a constant weight, or built
   * the session it runs in (ORT, whose session build is not inside `ms`). Such a record measures that work, not
   * the steady-state op: warm up before profiling steady steps (`opshift profile --warmup N`).
   */
  readonly prepared?: boolean;
}

/** One profile's records; closed when its scope ends, so late async work cannot append to a finished profile. */
interface Sink {
  readonly records: OpRecord[];
  open: boolean;
}

// Each profile scope is carried by AsyncLocalStorage, so `profile(async () => …)` keeps recording its own ops
// across awaits (and only its own: concurrent work outside the scope is not attributed to it).
const scope = new AsyncLocalStorage<readonly Sink[]>();
let openSinks = 0;

function parseDebug(v: string | undefined): number {
  const n = Number(v ?? 0);
  return Number.isFinite(n) ? n : 0;
}

/** Shared with the dispatcher; `recording` is the one flag on the hot path. */
export const profilerState = {
  debug: parseDebug(process.env.OPSHIFT_DEBUG),
  recording: false,
  depth: 0,
  /** Set by `notePrepared()` inside a kernel; the dispatcher clears it before and reads it after each kernel. */
  prepared: false,
};
profilerState.recording = profilerState.debug > 0;

function refresh(): void {
  profilerState.recording = openSinks > 0 || profilerState.debug > 0;
}

/**
 * Kernels call this when they do one-time preparation for the call (a miss of their prepared-weight or session
 * cache), so the op's record says so.
 */
export function notePrepared(): void {
  profilerState.prepared = true;
}

/** Set the debug trace level at runtime (same as OPSHIFT_DEBUG). */
export function setDebug(level: number): void {
  profilerState.debug = level;
  refresh();
}

export function sigOf(shapes: readonly (readonly number[])[], dtypes: readonly DType[]): string {
  return shapes.map((s, i) => `${dtypes[i]}${formatShape(s)}`).join(', ');
}

/** Called by the dispatcher for each finished op while recording. */
export function emitRecord(r: OpRecord): void {
  const sinks = openSinks > 0 ? scope.getStore() : undefined;
  if (sinks) for (const s of sinks) if (s.open) s.records.push(r);
  const level = profilerState.debug;
  if (level >= 2) {
    const gflops = r.ms > 0 ? r.flops / (r.ms * 1e6) : 0;
    process.stderr.write(
      `[opshift] ${'  '.repeat(r.depth)}${r.op.padEnd(14)} ${r.backend.padEnd(9)} ${sigOf(r.inputShapes, r.inputDTypes)} -> ` +
        `${sigOf(r.outShapes, r.outDTypes)}  ${r.ms.toFixed(4)} ms  ${gflops.toFixed(2)} GFLOP/s  (${r.cause})${r.prepared ? ' [+prepare]' : ''}\n`,
    );
  } else if (level >= 1) {
    process.stderr.write(`[opshift] ${'  '.repeat(r.depth)}${r.op} -> ${r.backend} (${r.cause})\n`);
  }
}

export interface SummaryRow {
  readonly op: string;
  readonly backend: string;
  readonly shapes: string;
  readonly calls: number;
  readonly totalMs: number;
  readonly avgMs: number;
  readonly flops: number;
  readonly bytes: number;
  readonly causes: readonly string[];
}

export type GroupKey = 'op' | 'backend' | 'shape';

export class Profile<T> {
  constructor(
    readonly records: readonly OpRecord[],
    readonly result: T,
  ) {}

  /** Total kernel time of top-level ops (primitives inside a decomposition are part of their composite). */
  get totalMs(): number {
    return this.records.filter((r) => r.depth === 0).reduce((a, r) => a + r.ms, 0);
  }

  /** Records grouped like torch.profiler's key_averages (default: by op, backend and input shapes). */
  rows(groupBy: readonly GroupKey[] = ['op', 'backend', 'shape']): SummaryRow[] {
    const groups = new Map<string, { op: string; backend: string; shapes: string; recs: OpRecord[] }>();
    for (const r of this.records) {
      const op = groupBy.includes('op') ? r.op : '*';
      const backend = groupBy.includes('backend') ? r.backend : '*';
      const shapes = groupBy.includes('shape') ? sigOf(r.inputShapes, r.inputDTypes) : '*';
      const key = `${op}\u0000${backend}\u0000${shapes}`;
      let g = groups.get(key);
      if (!g) groups.set(key, (g = { op, backend, shapes, recs: [] }));
      g.recs.push(r);
    }
    return [...groups.values()]
      .map((g) => {
        const totalMs = g.recs.reduce((a, r) => a + r.ms, 0);
        return {
          op: g.op,
          backend: g.backend,
          shapes: g.shapes,
          calls: g.recs.length,
          totalMs,
          avgMs: totalMs / g.recs.length,
          flops: g.recs.reduce((a, r) => a + r.flops, 0),
          bytes: g.recs.reduce((a, r) => a + r.bytes, 0),
          causes: [...new Set(g.recs.map((r) => (r.prepared ? `${r.cause} +prepare` : r.cause)))],
        };
      })
      .sort((a, b) => b.totalMs - a.totalMs);
  }

  /** A printable table, sorted by total time. */
  summary(groupBy: readonly GroupKey[] = ['op', 'backend', 'shape']): string {
    return summaryTable(this.rows(groupBy), this.totalMs);
  }

  /** Chrome trace-event JSON (open in Perfetto or chrome://tracing); one lane per backend. */
  toChromeTrace(): { traceEvents: object[]; displayTimeUnit: 'ms' } {
    const lanes = [...new Set(this.records.map((r) => r.backend))];
    const events: object[] = lanes.map((name, i) => ({ name: 'thread_name', ph: 'M', pid: 1, tid: i + 1, args: { name } }));
    for (const r of this.records) {
      events.push({
        name: r.op,
        cat: r.backend,
        ph: 'X',
        ts: r.start * 1000,
        dur: r.ms * 1000,
        pid: 1,
        tid: lanes.indexOf(r.backend) + 1,
        args: {
          cause: r.cause,
          inputs: sigOf(r.inputShapes, r.inputDTypes),
          outputs: sigOf(r.outShapes, r.outDTypes),
          flops: r.flops,
          bytes: r.bytes,
          ...(r.prepared ? { prepared: true } : {}),
        },
      });
    }
    return { traceEvents: events, displayTimeUnit: 'ms' };
  }
}

/**
 * Run `fn` and record every op it dispatches. Nested profiles each see the ops of their own scope. An async
 * `fn` is profiled until its promise settles (every op after each `await` included): `await profile(async () => …)`.
 */
export function profile<T>(fn: () => Promise<T>): Promise<Profile<T>>;
export function profile<T>(fn: () => T): Profile<T>;
export function profile<T>(fn: () => T | Promise<T>): Profile<T> | Promise<Profile<T>> {
  const sink: Sink = { records: [], open: true };
  const close = () => {
    sink.open = false;
    openSinks--;
    refresh();
  };
  openSinks++;
  refresh();
  let result: T | Promise<T>;
  try {
    result = scope.run([...(scope.getStore() ?? []), sink], fn);
  } catch (e) {
    close();
    throw e;
  }
  if (!isPromiseLike(result)) {
    close();
    return new Profile(sink.records, result);
  }
  return Promise.resolve(result)
    .finally(close)
    .then((value) => new Profile(sink.records, value));
}

function isPromiseLike<T>(v: T | Promise<T>): v is Promise<T> {
  return typeof (v as { then?: unknown } | null)?.then === 'function';
}

/**
 * The key-averages table of `rows` (as `Profile.rows` groups them): calls, total and average time, share of
 * `totalMs` (decompositions' time is counted in their primitives, so it shows "(incl.)"), GFLOP/s for ops that
 * declare flops, causes and input signatures.
 */
export function summaryTable(rows: readonly SummaryRow[], totalMs: number): string {
  const { header, body } = summaryCells(rows, totalMs);
  return renderTable(header, body);
}

/** summaryTable's header and cells, for callers that lay the table out themselves (the CLI fits it to the terminal). */
export function summaryCells(rows: readonly SummaryRow[], totalMs: number): { header: string[]; body: string[][] } {
  const total = totalMs || 1;
  const header = ['op', 'backend', 'calls', 'total ms', 'avg µs', '% time', 'GFLOP/s', 'cause', 'inputs'];
  const body = rows.map((r) => [
    r.op,
    r.backend,
    String(r.calls),
    r.totalMs.toFixed(3),
    (r.avgMs * 1000).toFixed(1),
    r.backend === 'decompose' ? '(incl.)' : ((100 * r.totalMs) / total).toFixed(1),
    r.totalMs > 0 && r.flops > 0 ? (r.flops / (r.totalMs * 1e6)).toFixed(2) : '-',
    r.causes.join(' | '),
    r.shapes,
  ]);
  return { header, body };
}

export function renderTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}
