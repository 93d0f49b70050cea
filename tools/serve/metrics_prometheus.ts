/**
 * Prometheus text exposition format 0.0.4: metric families (`# HELP`, `# TYPE`, samples) rendered as text.
 * Only the writer lives here; what the server measures is in metrics.ts.
 */

export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

export type Labels = Readonly<Record<string, string>>;

export interface Sample {
  /** Suffix after the family name (`_total`, `_bucket`, `_sum`, `_count`) or ''. */
  readonly suffix?: string;
  readonly labels?: Labels;
  readonly value: number;
}

export interface MetricFamily {
  /** Base name: [a-zA-Z_:][a-zA-Z0-9_:]*; counters' samples carry the `_total` suffix themselves. */
  readonly name: string;
  readonly help: string;
  readonly type: 'counter' | 'gauge' | 'histogram' | 'summary';
  readonly samples: readonly Sample[];
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** Label values escape backslash, double quote and newline; HELP text escapes backslash and newline. */
const escapeLabel = (v: string) => v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
const escapeHelp = (v: string) => v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');

/** Go-style float text: +Inf, -Inf, NaN, else the shortest round-trip decimal. */
export function formatValue(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return String(v);
}

function labelText(labels: Labels | undefined): string {
  const entries = Object.entries(labels ?? {});
  if (entries.length === 0) return '';
  for (const [k] of entries) if (!LABEL.test(k) || k.startsWith('__')) throw new Error(`prometheus: invalid label name '${k}'`);
  return `{${entries.map(([k, v]) => `${k}="${escapeLabel(v)}"`).join(',')}}`;
}

export function renderPrometheus(families: readonly MetricFamily[]): string {
  const seen = new Set<string>();
  const lines: string[] = [];
  for (const f of families) {
    if (!NAME.test(f.name)) throw new Error(`prometheus: invalid metric name '${f.name}'`);
    if (seen.has(f.name)) throw new Error(`prometheus: metric family '${f.name}' rendered twice`);
    seen.add(f.name);
    lines.push(`# HELP ${f.name} ${escapeHelp(f.help)}`, `# TYPE ${f.name} ${f.type}`);
    for (const s of f.samples) lines.push(`${f.name}${s.suffix ?? ''}${labelText(s.labels)} ${formatValue(s.value)}`);
  }
  return `${lines.join('\n')}\n`;
}

/** A histogram with fixed upper bounds; observations are counted per bucket and rendered cumulatively. */
export class Histogram {
  readonly #counts: number[];
  #sum = 0;
  #count = 0;

  constructor(readonly bounds: readonly number[]) {
    for (let i = 1; i < bounds.length; i++) if (!(bounds[i]! > bounds[i - 1]!)) throw new Error('histogram bounds must increase');
    this.#counts = new Array<number>(bounds.length + 1).fill(0);
  }

  observe(v: number, times = 1): void {
    let i = this.bounds.findIndex((b) => v <= b);
    if (i < 0) i = this.bounds.length;
    this.#counts[i]! += times;
    this.#sum += v * times;
    this.#count += times;
  }

  get count(): number {
    return this.#count;
  }

  /** `_bucket{le}` (cumulative, ending at +Inf), `_sum`, `_count`, each with `labels` added. */
  samples(labels: Labels = {}): Sample[] {
    const out: Sample[] = [];
    let acc = 0;
    for (let i = 0; i <= this.bounds.length; i++) {
      acc += this.#counts[i]!;
      out.push({ suffix: '_bucket', labels: { ...labels, le: i < this.bounds.length ? formatValue(this.bounds[i]!) : '+Inf' }, value: acc });
    }
    out.push({ suffix: '_sum', labels, value: this.#sum }, { suffix: '_count', labels, value: this.#count });
    return out;
  }
}

