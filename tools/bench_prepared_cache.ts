/**
 * TTFT with the npu weights prepared three ways, round-robin in one process (fair ratios on a loaded machine):
 *   prepare  every Linear handle dropped (clearNpuCache) and prepared again without the cache: the weights are
 *            restored from their source (checkpoint read or seeded redraw) and packed — a cold start's work;
 *   import   handles dropped and mapped from OPSHIFT_CACHE's files (filled by the first round);
 *   warm     handles kept.
 * JIT and other first-run costs of the process are paid by a warm-up generate before the rounds, so the columns
 * differ only in weight preparation. Cold-process figures come from `opshift bench model` (README).
 *
 *   node dist/tools/bench_prepared_cache.js <model> <cacheDir> [rounds=3] [promptLen=128] [quant=none|w8a8|w4]
 */
import { parsePolicy } from '../core/policy_spec.js';
import { withPolicy } from '../core/policy.js';
import { clearNpuCache } from '../backends/npu/kernels.js';
import { configureNpu } from '../backends/npu/config.js';
import { preparedCacheStats } from '../backends/npu/prepared_cache.js';
import { loadModel } from '../models/load.js';
import { generate } from '../models/generate.js';
import { quantize } from '../models/quantize/index.js';

const [model = 'synthetic:opt-125m', cacheDir = '/tmp/opshift-prepared-cache', roundsArg = '3', lenArg = '128', quant = 'none'] = process.argv.slice(2);
const rounds = Number(roundsArg);
const m = loadModel(model);
if (quant === 'w8a8') quantize(m, { method: 'w8a8' }, { exclude: [] });
else if (quant === 'w4') quantize(m, { method: 'pergrp', groupSize: 128 }, { exclude: [] });
const policy = parsePolicy('Linear=npu,LinearW8A8=npu,LinearW4=npu');
const prompt = Array.from({ length: Number(lenArg) }, (_, i) => 10 + (i % 500));
const ttft = (): number => withPolicy(policy, () => generate(m, prompt, { maxNewTokens: 1, ignoreEos: true })).ttftMs;

// warm-up (JIT, first-run allocations) and the cache fill
configureNpu({ cacheDir });
ttft();
const cols: Record<'prepare' | 'import' | 'warm', number[]> = { prepare: [], import: [], warm: [] };
for (let r = 0; r < rounds; r++) {
  configureNpu({ cacheDir: undefined });
  clearNpuCache();
  cols.prepare.push(ttft());
  configureNpu({ cacheDir });
  clearNpuCache();
  cols.import.push(ttft());
  cols.warm.push(ttft());
}
const med = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)]!;
const w = med(cols.warm);
console.log(`${model}${quant !== 'none' ? ` (${quant})` : ''}, prompt ${prompt.length}, ${rounds} rounds, median TTFT ms:`);
for (const [k, v] of Object.entries(cols)) console.log(`  ${k.padEnd(8)} ${med(v).toFixed(0).padStart(7)}  (${(med(v) / w).toFixed(2)}x warm)  all: ${v.map((x) => x.toFixed(0)).join(' ')}`);
console.log(`  cache: ${JSON.stringify(preparedCacheStats())}`);
