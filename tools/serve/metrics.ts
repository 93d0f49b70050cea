/**
 * What `GET /metrics` reports, as JSON (the default, kept for existing dashboards and tests) or as Prometheus
 * text (`Accept: text/plain` or `?format=prometheus`). The engine's counters (engine.ts EngineMetrics) are read
 * as they are; the HTTP side adds what only it sees: requests by route and status, and time to first token and
 * between streamed pieces as the client experiences them (queue wait included), as cumulative histograms.
 */
import type { EngineMetrics } from './engine.js';
import { nearestRankQuantile } from '../stats.js';
import { Histogram, type MetricFamily, type Sample } from './metrics_prometheus.js';

/** Seconds; TTFT spans a fast prefill to a long queue wait. */
const TTFT_BOUNDS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
const ITL_BOUNDS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];
const BATCH_BOUNDS = [1, 2, 4, 8, 16, 32, 64];
const QUANTILES = [0.5, 0.9, 0.99];

/** Measurements taken on the HTTP thread. */
export class ServerStats {
  readonly ttft = new Histogram(TTFT_BOUNDS);
  readonly interToken = new Histogram(ITL_BOUNDS);
  /** Responses by route pattern and status code. */
  readonly #responses = new Map<string, { route: string; status: number; n: number }>();
  /** Every 4xx/5xx answered, by its error code (queue_full, context_length_exceeded, host_not_allowed, …). */
  readonly errorsByCode: Record<string, number> = {};

  response(route: string, status: number, errorCode: string | undefined): void {
    const key = `${route} ${status}`;
    const r = this.#responses.get(key) ?? { route, status, n: 0 };
    r.n++;
    this.#responses.set(key, r);
    if (status >= 400) {
      const code = errorCode ?? `http_${status}`;
      this.errorsByCode[code] = (this.errorsByCode[code] ?? 0) + 1;
    }
  }

  get responses(): readonly { route: string; status: number; n: number }[] {
    return [...this.#responses.values()];
  }

  /** Times one generation as its client sees it: call at submit, then `text()` per piece sent. */
  timer(): { text(): void } {
    const start = performance.now();
    let last: number | undefined;
    return {
      text: () => {
        const now = performance.now();
        if (last === undefined) this.ttft.observe((now - start) / 1000);
        else this.interToken.observe((now - last) / 1000);
        last = now;
      },
    };
  }
}

export interface MetricsSources {
  readonly modelName: string;
  readonly engine: EngineMetrics;
  readonly queueLength: number;
  readonly busy: boolean;
  readonly workerRestarts: number;
  readonly liveKvCaches: number;
  readonly stats: ServerStats;
}

const decodeRate = (m: EngineMetrics) => (m.decodeMs > 0 ? (m.decodeTokens * 1000) / m.decodeMs : null);

/** The JSON form (fields of the single-stream server kept; the batching fields added). */
export function metricsJson(s: MetricsSources): Record<string, unknown> {
  const m = s.engine;
  const q = nearestRankQuantile;
  return {
    model: s.modelName,
    queue_length: s.queueLength,
    busy: s.busy,
    active: m.active,
    queued: m.queued,
    requests: m.requests,
    completed: m.completed,
    cancelled: m.cancelled,
    failed: m.failed,
    rejected: m.rejected,
    rejected_by_cause: { ...s.stats.errorsByCode },
    engine_rejected_by_cause: { ...m.rejectedBy },
    worker_restarts: s.workerRestarts,
    prompt_tokens: m.promptTokens,
    completion_tokens: m.completionTokens,
    decode_tokens_per_s: decodeRate(m),
    ttft_ms_median: q(m.ttftMs, 0.5),
    ttft_ms_p99: q(m.ttftMs, 0.99),
    inter_token_ms_p50: q(m.interTokenMs, 0.5),
    inter_token_ms_p99: q(m.interTokenMs, 0.99),
    batch_sizes: { ...m.batchSizes },
    kv_cache_bytes_used: m.kvCacheBytesUsed,
    kv_cache_bytes_budget: m.kvCacheBytesBudget,
    backend_op_ms: m.backendMs,
    live_kv_caches: s.liveKvCaches,
  };
}

const counter = (name: string, help: string, samples: Sample[]): MetricFamily => ({ name, help, type: 'counter', samples: samples.map((x) => ({ ...x, suffix: '_total' })) });
const gauge = (name: string, help: string, value: number | Sample[]): MetricFamily => ({ name, help, type: 'gauge', samples: typeof value === 'number' ? [{ value }] : value });
const quantileGauge = (values: readonly number[], scale: number): Sample[] => QUANTILES.map((q) => ({ labels: { quantile: String(q) }, value: (nearestRankQuantile(values, q) ?? NaN) * scale }));

/** The Prometheus families (names prefixed opshift_, seconds and bytes as base units). */
export function metricsFamilies(s: MetricsSources): MetricFamily[] {
  const m = s.engine;
  const batches = new Histogram(BATCH_BOUNDS);
  for (const [size, steps] of Object.entries(m.batchSizes)) batches.observe(Number(size), steps);
  const rate = decodeRate(m);
  return [
    gauge('opshift_active_sequences', 'Sequences in the running batch (prefilling or decoding)', m.active),
    gauge('opshift_queued_requests', 'Requests waiting for a batch slot', Math.max(m.queued, s.queueLength)),
    counter('opshift_engine_requests', 'Requests the engine took (not counting refusals)', [{ value: m.requests }]),
    counter('opshift_requests_finished', 'Requests the engine finished, by outcome', [
      { labels: { outcome: 'completed' }, value: m.completed },
      { labels: { outcome: 'cancelled' }, value: m.cancelled },
      { labels: { outcome: 'failed' }, value: m.failed },
    ]),
    counter(
      'opshift_http_responses',
      'HTTP responses by route and status code',
      s.stats.responses.map((r) => ({ labels: { route: r.route, status: String(r.status) }, value: r.n })),
    ),
    counter(
      'opshift_rejections',
      'Requests refused with 4xx/5xx, by error code',
      Object.entries(s.stats.errorsByCode).map(([code, n]) => ({ labels: { code }, value: n })),
    ),
    counter(
      'opshift_engine_rejections',
      'Requests the engine refused at admission, by cause (queue_full, kv_cache_full, draining, too_long)',
      Object.entries(m.rejectedBy).map(([cause, n]) => ({ labels: { cause }, value: n })),
    ),
    counter('opshift_prompt_tokens', 'Prompt tokens of finished requests', [{ value: m.promptTokens }]),
    counter('opshift_completion_tokens', 'Generated tokens of finished requests', [{ value: m.completionTokens }]),
    counter('opshift_decode_tokens', "Tokens generated after each request's first", [{ value: m.decodeTokens }]),
    counter('opshift_decode_seconds', 'Time spent generating those tokens, summed over requests', [{ value: m.decodeMs / 1000 }]),
    gauge('opshift_decode_tokens_per_second', 'Decode tokens per second per request so far (decode tokens / decode seconds; NaN before any)', rate ?? NaN),
    { name: 'opshift_batch_size', help: 'Decode steps by batch size (sequences in the step)', type: 'histogram', samples: batches.samples() },
    { name: 'opshift_time_to_first_token_seconds', help: 'Submit to first streamed text, as the HTTP side sees it (queue wait included)', type: 'histogram', samples: s.stats.ttft.samples() },
    { name: 'opshift_inter_token_seconds', help: 'Gaps between consecutive streamed text pieces of a request, HTTP side', type: 'histogram', samples: s.stats.interToken.samples() },
    gauge('opshift_engine_ttft_seconds', 'Time to first token in the worker over the last 1000 requests, by quantile (NaN before any)', quantileGauge(m.ttftMs, 1 / 1000)),
    gauge('opshift_engine_inter_token_seconds', 'Gap between consecutive tokens of a sequence over the last gaps recorded, by quantile (NaN before any)', quantileGauge(m.interTokenMs, 1 / 1000)),
    gauge('opshift_kv_cache_bytes', 'KV cache bytes held by running sequences and reusable prefixes', m.kvCacheBytesUsed),
    gauge('opshift_kv_cache_budget_bytes', 'The KV cache budget (--kv-cache-mb; 0: unbounded)', m.kvCacheBytesBudget),
    gauge('opshift_live_kv_caches', 'KV caches alive in the model worker', s.liveKvCaches),
    counter('opshift_worker_restarts', 'Model workers restarted after a watchdog kill or a crash', [{ value: s.workerRestarts }]),
    counter(
      'opshift_backend_op_seconds',
      'Kernel time by backend over all requests',
      Object.entries(m.backendMs).map(([backend, ms]) => ({ labels: { backend }, value: ms / 1000 })),
    ),
  ];
}

/** Prometheus text when the client asks for it: `?format=prometheus`, or an Accept naming text/plain or OpenMetrics without JSON. */
export function wantsPrometheus(query: unknown, accept: string | undefined): boolean {
  const format = (query as { format?: unknown } | undefined)?.format;
  if (format === 'prometheus') return true;
  if (format === 'json') return false;
  const a = (accept ?? '').toLowerCase();
  return (a.includes('text/plain') || a.includes('application/openmetrics-text')) && !a.includes('application/json');
}
