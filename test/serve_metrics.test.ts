/**
 * `/metrics` in Prometheus text format 0.0.4: the writer (escaping, names, cumulative histograms) and the served
 * page, read by a strict parser (every line a HELP, a TYPE or a sample of a declared family with a valid name,
 * labels and value; histogram buckets cumulative and ending in +Inf = _count) over two scrapes with traffic
 * between, where every counter may only grow. Content negotiation keeps JSON the default.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { wantsPrometheus } from '../tools/serve/metrics.js';
import { formatValue, Histogram, renderPrometheus } from '../tools/serve/metrics_prometheus.js';
import type { Server } from '../tools/serve/server.js';
import { postJson, startServer } from './serve_helpers.js';

interface Family {
  type: string;
  help: string;
  samples: { name: string; labels: Record<string, string>; value: number }[];
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$/;
const LABEL_PAIR = /^([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"(,|$)/;

function parseValue(v: string, line: string): number {
  if (v === '+Inf') return Infinity;
  if (v === '-Inf') return -Infinity;
  if (v === 'NaN') return NaN;
  if (!/^-?\d+(\.\d+)?([eE][-+]?\d+)?$/.test(v)) throw new Error(`bad value in: ${line}`);
  return Number(v);
}

function parseLabels(text: string, line: string): Record<string, string> {
  const out: Record<string, string> = {};
  let rest = text;
  while (rest.length > 0) {
    const m = LABEL_PAIR.exec(rest);
    if (!m) throw new Error(`bad labels in: ${line}`);
    if (m[1]! in out) throw new Error(`repeated label ${m[1]} in: ${line}`);
    out[m[1]!] = m[2]!.replace(/\\n/g, '\n').replace(/\\"/g, '"').replace(/\\\\/g, '\\');
    rest = rest.slice(m[0].length);
  }
  return out;
}

/** Which family a sample name belongs to, by the family's type (counters end _total; histograms _bucket/_sum/_count). */
function familyOf(name: string, families: Map<string, Family>): string {
  if (families.get(name)?.type === 'gauge') return name;
  for (const suffix of ['_total', '_bucket', '_sum', '_count']) {
    if (!name.endsWith(suffix)) continue;
    const base = name.slice(0, -suffix.length);
    const f = families.get(base);
    if (f && (suffix === '_total' ? f.type === 'counter' : ['histogram', 'summary'].includes(f.type) && (suffix !== '_bucket' || f.type === 'histogram'))) return base;
  }
  throw new Error(`sample ${name} belongs to no declared family`);
}

/** A strict reader of the text format: throws on the first line that is not valid. */
function parsePrometheus(text: string): Map<string, Family> {
  expect(text.endsWith('\n')).toBe(true);
  const families = new Map<string, Family>();
  for (const line of text.slice(0, -1).split('\n')) {
    const help = /^# HELP (\S+) (.*)$/.exec(line);
    const type = /^# TYPE (\S+) (counter|gauge|histogram|summary|untyped)$/.exec(line);
    if (help) {
      if (!NAME.test(help[1]!) || families.has(help[1]!)) throw new Error(`bad or repeated HELP: ${line}`);
      families.set(help[1]!, { type: '', help: help[2]!, samples: [] });
    } else if (type) {
      const f = families.get(type[1]!);
      if (!f || f.type || f.samples.length) throw new Error(`TYPE must follow its HELP, once, before samples: ${line}`);
      f.type = type[2]!;
    } else {
      const m = SAMPLE.exec(line);
      if (!m) throw new Error(`not a valid line: ${JSON.stringify(line)}`);
      const f = families.get(familyOf(m[1]!, families))!;
      f.samples.push({ name: m[1]!, labels: parseLabels(m[3] ?? '', line), value: parseValue(m[4]!, line) });
    }
  }
  for (const [name, f] of families) {
    if (!f.type) throw new Error(`${name} has no TYPE`);
    if (f.type === 'histogram') checkHistogram(name, f);
    if (f.type === 'counter') for (const s of f.samples) expect(s.value, `${s.name} ${JSON.stringify(s.labels)}`).toBeGreaterThanOrEqual(0);
  }
  return families;
}

function checkHistogram(name: string, f: Family): void {
  const buckets = f.samples.filter((s) => s.name === `${name}_bucket`);
  expect(buckets.length).toBeGreaterThan(1);
  const les = buckets.map((b) => parseValue(b.labels.le!, name));
  expect(les.at(-1)).toBe(Infinity);
  for (let i = 1; i < buckets.length; i++) {
    expect(les[i]!).toBeGreaterThan(les[i - 1]!);
    expect(buckets[i]!.value).toBeGreaterThanOrEqual(buckets[i - 1]!.value);
  }
  const count = f.samples.find((s) => s.name === `${name}_count`)!;
  expect(f.samples.find((s) => s.name === `${name}_sum`)).toBeDefined();
  expect(buckets.at(-1)!.value).toBe(count.value);
}

/** Every sample of a counter (and histogram bucket/sum/count) by name and labels. */
function monotonic(families: Map<string, Family>): Map<string, number> {
  const out = new Map<string, number>();
  for (const f of families.values())
    if (f.type === 'counter' || f.type === 'histogram') for (const s of f.samples) out.set(`${s.name}${JSON.stringify(s.labels)}`, s.value);
  return out;
}

const value = (fams: Map<string, Family>, family: string, sample: string, labels: Record<string, string> = {}) =>
  fams.get(family)?.samples.find((s) => s.name === sample && JSON.stringify(s.labels) === JSON.stringify(labels))?.value;

describe('Prometheus text writer', () => {
  it('escapes label values and HELP, renders +Inf/NaN, and refuses invalid names', () => {
    const text = renderPrometheus([
      { name: 'x_total_things', help: 'a \\ b\nc', type: 'counter', samples: [{ suffix: '_total', labels: { path: 'a"b\\c\nd' }, value: 3 }] },
      { name: 'y', help: 'g', type: 'gauge', samples: [{ value: NaN }, { labels: { k: 'v' }, value: Infinity }] },
    ]);
    expect(text).toBe('# HELP x_total_things a \\\\ b\\nc\n# TYPE x_total_things counter\nx_total_things_total{path="a\\"b\\\\c\\nd"} 3\n# HELP y g\n# TYPE y gauge\ny NaN\ny{k="v"} +Inf\n');
    expect(parsePrometheus(text).get('x_total_things')!.samples[0]!.labels.path).toBe('a"b\\c\nd');
    expect(() => renderPrometheus([{ name: '1bad', help: '', type: 'gauge', samples: [] }])).toThrow(/invalid metric name/);
    expect(() => renderPrometheus([{ name: 'ok', help: '', type: 'gauge', samples: [{ labels: { 'bad-label': 'x' }, value: 1 }] }])).toThrow(/invalid label name/);
    expect(() => renderPrometheus([{ name: 'ok', help: '', type: 'gauge', samples: [] }, { name: 'ok', help: '', type: 'gauge', samples: [] }])).toThrow(/twice/);
    expect(formatValue(-Infinity)).toBe('-Inf');
  });

  it('histograms are cumulative with +Inf = count and the sum of observations', () => {
    const h = new Histogram([1, 2, 4]);
    for (const v of [0.5, 1, 1.5, 3, 100]) h.observe(v);
    h.observe(2, 3); // one value seen three times (a batch size over several steps)
    const s = h.samples({ a: 'b' });
    expect(s.map((x) => [x.suffix, x.labels?.le, x.value])).toEqual([
      ['_bucket', '1', 2],
      ['_bucket', '2', 6],
      ['_bucket', '4', 7],
      ['_bucket', '+Inf', 8],
      ['_sum', undefined, 0.5 + 1 + 1.5 + 3 + 100 + 6],
      ['_count', undefined, 8],
    ]);
    expect(s[0]!.labels).toEqual({ a: 'b', le: '1' });
    expect(() => new Histogram([2, 1])).toThrow(/increase/);
  });

  it('content negotiation: JSON unless ?format=prometheus or an Accept for text/plain / OpenMetrics without JSON', () => {
    expect(wantsPrometheus({}, undefined)).toBe(false);
    expect(wantsPrometheus({}, '*/*')).toBe(false);
    expect(wantsPrometheus({}, 'application/json')).toBe(false);
    expect(wantsPrometheus({}, 'text/plain')).toBe(true);
    // What Prometheus itself sends when scraping:
    expect(wantsPrometheus({}, 'application/openmetrics-text;version=1.0.0;q=0.5,text/plain;version=0.0.4;q=0.4,*/*;q=0.1')).toBe(true);
    expect(wantsPrometheus({ format: 'prometheus' }, 'application/json')).toBe(true);
    expect(wantsPrometheus({ format: 'json' }, 'text/plain')).toBe(false);
  });
});

describe('GET /metrics as Prometheus text', () => {
  let server: Server;
  let url: string;
  beforeAll(async () => {
    ({ server, url } = await startServer({ maxQueue: 1 }));
  });
  afterAll(() => server.shutdown());

  const scrape = async (init?: RequestInit, query = '') => {
    const res = await fetch(`${url}/metrics${query}`, init);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
    return parsePrometheus(await res.text());
  };

  it('parses strictly, counts traffic, and no counter goes down between scrapes', { timeout: 60_000 }, async () => {
    const first = await scrape({ headers: { accept: 'text/plain;version=0.0.4' } });
    for (const f of ['opshift_active_sequences', 'opshift_queued_requests', 'opshift_batch_size', 'opshift_time_to_first_token_seconds', 'opshift_inter_token_seconds', 'opshift_engine_inter_token_seconds', 'opshift_kv_cache_bytes', 'opshift_kv_cache_budget_bytes', 'opshift_engine_rejections', 'opshift_rejections', 'opshift_http_responses'])
      expect(first.has(f), f).toBe(true);
    const ttftBefore = value(first, 'opshift_time_to_first_token_seconds', 'opshift_time_to_first_token_seconds_count') ?? 0;

    // Traffic: two streamed generations (OpenAI and Ollama), a 404, a burst larger than any batch plus the queue of 1 (429).
    const sse = await fetch(`${url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'demo', prompt: 'And', max_tokens: 6, temperature: 0, stream: true }) });
    await sse.text();
    expect((await postJson(url, '/api/generate', { model: 'demo', prompt: 'And', raw: true, options: { num_predict: 6, temperature: 0 } })).status).toBe(200);
    expect((await postJson(url, '/api/chat', { model: 'other', messages: [{ role: 'user', content: 'x' }] })).status).toBe(404);
    // Greedy, so every accepted request generates the same non-empty text (the TTFT count below relies on it).
    const burst = await Promise.all(Array.from({ length: 24 }, () => postJson(url, '/v1/completions', { model: 'demo', prompt: 'And', max_tokens: 4, temperature: 0 })));
    const refused = burst.filter((r) => r.status === 429).length;
    expect(refused).toBeGreaterThan(0);

    const second = await scrape(undefined, '?format=prometheus');
    const before = monotonic(first);
    const after = monotonic(second);
    for (const [key, v] of before) expect(after.get(key) ?? 0, key).toBeGreaterThanOrEqual(v);

    expect(value(second, 'opshift_http_responses', 'opshift_http_responses_total', { route: '/v1/completions', status: '200' })).toBe(1 + burst.length - refused);
    expect(value(second, 'opshift_http_responses', 'opshift_http_responses_total', { route: '/api/generate', status: '200' })).toBe(1);
    expect(value(second, 'opshift_http_responses', 'opshift_http_responses_total', { route: '/v1/completions', status: '429' })).toBe(refused);
    expect(value(second, 'opshift_rejections', 'opshift_rejections_total', { code: 'queue_full' })).toBe(refused);
    expect(value(second, 'opshift_rejections', 'opshift_rejections_total', { code: 'model_not_found' })).toBe(1);
    expect(value(second, 'opshift_engine_rejections', 'opshift_engine_rejections_total', { cause: 'queue_full' })).toBe(refused);
    // Both streams and every non-refused burst request had a first token, timed on the HTTP side.
    expect(value(second, 'opshift_time_to_first_token_seconds', 'opshift_time_to_first_token_seconds_count')).toBe(ttftBefore + 2 + burst.length - refused);
    expect(value(second, 'opshift_completion_tokens', 'opshift_completion_tokens_total')).toBeGreaterThanOrEqual(12);
    expect(value(second, 'opshift_live_kv_caches', 'opshift_live_kv_caches')).toBe(0);

    // The JSON form is still the default, and a bad format is a 400.
    const json = (await (await fetch(`${url}/metrics`)).json()) as Record<string, unknown>;
    expect(json).toMatchObject({ model: 'demo', live_kv_caches: 0 });
    expect(json.rejected_by_cause).toMatchObject({ queue_full: refused, model_not_found: 1 });
    expect((await fetch(`${url}/metrics?format=xml`)).status).toBe(400);
  });
});
