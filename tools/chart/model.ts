/**
 * `opshift bench model --plot`: time to first token and decode tokens/s against prompt length, one series per
 * dispatch policy (and PyTorch when the peer ran), as two panels of one SVG.
 */
import type { BenchModelResult } from '../bench_model.js';
import { renderChart, type Series } from './svg.js';

export function benchModelSvg(r: BenchModelResult): string {
  const policies = [...new Set(r.rows.map((x) => x.dispatch))];
  const lengths = [...new Set(r.rows.map((x) => x.promptTokens))].sort((a, b) => a - b);
  const of = (p: string) => r.rows.filter((x) => x.dispatch === p).sort((a, b) => a.promptTokens - b.promptTokens);
  const ttft: Series[] = policies.map((p) => ({ name: p, points: of(p).map((x) => ({ x: x.promptTokens, y: x.ttftMs, label: `${p}, prompt ${x.promptTokens}: TTFT ${x.ttftMs.toFixed(1)} ms` })) }));
  const tps: Series[] = policies.map((p) => ({ name: p, points: of(p).map((x) => ({ x: x.promptTokens, y: x.tokensPerS, label: `${p}, prompt ${x.promptTokens}: ${x.tokensPerS.toFixed(2)} tok/s` })) }));
  if ('rows' in r.peer && r.peer.rows.length) {
    const rows = [...r.peer.rows].sort((a, b) => a.promptTokens - b.promptTokens);
    ttft.push({ name: 'PyTorch', dashed: true, points: rows.map((x) => ({ x: x.promptTokens, y: x.ttftMs, label: `PyTorch, prompt ${x.promptTokens}` })) });
    tps.push({ name: 'PyTorch', dashed: true, points: rows.map((x) => ({ x: x.promptTokens, y: x.tokensPerS, label: `PyTorch, prompt ${x.promptTokens}` })) });
  }
  // Prompt lengths usually double (128, 256, 512, …): a log x axis with the lengths themselves as ticks.
  const spread = lengths.length > 1 && lengths.at(-1)! / lengths[0]! >= 4;
  const x = { label: 'prompt tokens', scale: spread ? ('log' as const) : ('linear' as const), ticks: lengths, ...(spread ? { min: lengths[0]! / 1.25, max: lengths.at(-1)! * 1.25 } : {}) };
  const gen = r.rows[0]?.genTokens ?? 0;
  return renderChart({
    title: `opshift bench model: ${r.model}`,
    subtitle: `${r.parameters >= 1e8 ? (r.parameters / 1e6).toFixed(0) : (r.parameters / 1e6).toPrecision(3)}M parameters; ${gen} generated tokens per run; medians over repetitions`,
    panels: [
      { title: 'time to first token (prefill)', x, y: { label: 'TTFT ms', scale: 'log' }, series: ttft },
      { title: 'decode speed', x, y: { label: 'tokens/s' }, series: tps },
    ],
  });
}
