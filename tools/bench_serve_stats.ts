/**
 * The statistics of `opshift bench serve`: per-request timings from a streaming client folded into one load
 * level's figures (throughput over the level's wall time, TTFT and inter-token quantiles, status counts).
 * Pure functions, so the numbers the README quotes are unit-tested apart from any server.
 */
import { nearestRankQuantile } from './stats.js';

/** What one streaming request saw. */
export interface RequestSample {
  /** HTTP status (0: the connection failed before a status). */
  readonly status: number;
  /** ms from sending the request to the first streamed text (undefined: none arrived). */
  readonly ttftMs: number | undefined;
  /** ms between consecutive streamed text pieces. */
  readonly gapsMs: readonly number[];
  /** Tokens generated: the server's usage count when the stream finished, else the pieces received. */
  readonly tokens: number;
  /** The prompt's tokens, from the server's usage (streams that finished). */
  readonly promptTokens?: number;
  /** The client hung up on purpose mid-stream (--disconnect-rate). */
  readonly disconnected: boolean;
  /** Cut by the run's time bound. */
  readonly timedOut: boolean;
  /** What went wrong (4xx/5xx body, stream error, connection error), for the report. */
  readonly error?: string;
}

export interface Quantiles {
  readonly p50: number | null;
  readonly p99: number | null;
  readonly mean: number | null;
  readonly n: number;
}

export interface LevelStats {
  readonly clients: number;
  readonly requests: number;
  /** 2xx streams that ran to their end. */
  readonly completed: number;
  readonly disconnected: number;
  readonly timedOut: number;
  readonly status4xx: number;
  readonly status5xx: number;
  /** Connection failures (no HTTP status). */
  readonly networkErrors: number;
  readonly byStatus: Readonly<Record<string, number>>;
  readonly wallS: number;
  readonly tokens: number;
  /** All requests' tokens over the level's wall time: what the server delivered at this concurrency. */
  readonly tokensPerS: number;
  readonly ttftMs: Quantiles;
  readonly interTokenMs: Quantiles;
  /** Up to 3 distinct error messages seen. */
  readonly errors: readonly string[];
}

/** Nearest-rank quantile, q in [0, 1]; null for no values (tools/stats.ts). */
export const quantileOf = nearestRankQuantile;

export function quantiles(values: readonly number[]): Quantiles {
  return {
    p50: quantileOf(values, 0.5),
    p99: quantileOf(values, 0.99),
    mean: values.length ? values.reduce((a, b) => a + b, 0) / values.length : null,
    n: values.length,
  };
}

export function levelStats(clients: number, samples: readonly RequestSample[], wallMs: number): LevelStats {
  if (!(wallMs > 0)) throw new RangeError(`level wall time must be positive, got ${wallMs} ms`);
  const byStatus: Record<string, number> = {};
  for (const s of samples) byStatus[String(s.status)] = (byStatus[String(s.status)] ?? 0) + 1;
  const ok = samples.filter((s) => s.status >= 200 && s.status < 300);
  const tokens = samples.reduce((a, s) => a + s.tokens, 0);
  return {
    clients,
    requests: samples.length,
    completed: ok.filter((s) => !s.disconnected && !s.timedOut).length,
    disconnected: samples.filter((s) => s.disconnected).length,
    timedOut: samples.filter((s) => s.timedOut).length,
    status4xx: samples.filter((s) => s.status >= 400 && s.status < 500).length,
    status5xx: samples.filter((s) => s.status >= 500).length,
    networkErrors: samples.filter((s) => s.status === 0).length,
    byStatus,
    wallS: wallMs / 1000,
    tokens,
    tokensPerS: (tokens * 1000) / wallMs,
    ttftMs: quantiles(ok.flatMap((s) => (s.ttftMs === undefined ? [] : [s.ttftMs]))),
    interTokenMs: quantiles(ok.flatMap((s) => s.gapsMs)),
    errors: [...new Set(samples.flatMap((s) => (s.error ? [s.error] : [])))].slice(0, 3),
  };
}

/** A small seeded PRNG (mulberry32) so a run's disconnect pattern is reproducible. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
