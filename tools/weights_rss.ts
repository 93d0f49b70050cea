/**
 * Peak RSS and cold time to first token of one model load + one prefill, measured in a fresh process (VmHWM is
 * per process, and a cold first token includes every weight's preparation). Run through `measureWeights()`,
 * which starts `node dist/tools/weights_rss.js <json options>` and parses the one JSON line it prints.
 *
 * Used for issue #17's "one resident copy" figures: where the weights live after loading and after the first
 * token (host bytes resident vs released), how long preparation took, the process's peak.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parsePolicy } from '../core/policy_spec.js';
import { withPolicy } from '../core/policy.js';
import { profile } from '../core/profiler.js';
import { loadModel } from '../models/load.js';
import { tokens } from '../models/generate.js';
import { hostWeightBytes } from '../core/weight.js';

export interface WeightsRssOptions {
  /** A model folder (float or quantized) or `synthetic:<preset>`. */
  readonly model: string;
  /** Dispatch policy, e.g. 'Linear=npu'. */
  readonly dispatch: string;
  readonly promptTokens: number;
  /** Model dtype (default float32). */
  readonly dtype?: 'float32' | 'bfloat16' | 'float16';
}

export interface WeightsRssResult extends WeightsRssOptions {
  readonly loadMs: number;
  readonly ttftMs: number;
  /** Linear/MatMul/LinearW8A8/LinearW4 calls of the first token per backend ("Linear:npu": 155). */
  readonly gemmBackends: Readonly<Record<string, number>>;
  /** Host bytes of constant weights resident right after loading, and after the first token. */
  readonly hostAfterLoadMiB: number;
  readonly hostAfterFirstTokenMiB: number;
  /** Process peak (VmHWM) and current (VmRSS) resident set, MiB. */
  readonly peakRssMiB: number;
  readonly rssMiB: number;
}

/** The ops whose weights a backend prepares (float and quantized linears, MatMul). */
const GEMM_OPS = new Set(['Linear', 'MatMul', 'LinearW8A8', 'LinearW4']);

function statusMiB(field: string): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(fs.readFileSync('/proc/self/status', 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

function run(o: WeightsRssOptions): WeightsRssResult {
  const t0 = performance.now();
  const model = loadModel(o.model, { dtype: o.dtype ?? 'float32' });
  const loadMs = performance.now() - t0;
  const hostAfterLoad = hostWeightBytes();
  const prompt = Array.from({ length: o.promptTokens }, (_, i) => (i * 7919 + 13) % model.config.vocabSize);
  const t1 = performance.now();
  // Profiled, to report where Linear/MatMul actually ran (an unavailable backend falls back silently).
  const prof = profile(() =>
    withPolicy(parsePolicy(o.dispatch), () => {
      const it = tokens(model, prompt, { maxNewTokens: 1, ignoreEos: true });
      it.next();
      it.return();
    }),
  );
  const ttftMs = performance.now() - t1;
  const gemmBackends: Record<string, number> = {};
  for (const r of prof.records) if (GEMM_OPS.has(r.op)) gemmBackends[`${r.op}:${r.backend}`] = (gemmBackends[`${r.op}:${r.backend}`] ?? 0) + 1;
  const mib = (b: number) => b / 2 ** 20;
  return {
    ...o,
    loadMs,
    ttftMs,
    gemmBackends,
    hostAfterLoadMiB: mib(hostAfterLoad),
    hostAfterFirstTokenMiB: mib(hostWeightBytes()),
    peakRssMiB: statusMiB('VmHWM'),
    rssMiB: statusMiB('VmRSS'),
  };
}

/** Runs one measurement in a child process (env adds to this process's environment). */
export function measureWeights(o: WeightsRssOptions, env: Record<string, string> = {}): WeightsRssResult {
  const out = execFileSync(process.execPath, [fileURLToPath(import.meta.url), JSON.stringify(o)], {
    env: { ...process.env, ...env },
    encoding: 'utf8',
    maxBuffer: 1 << 20,
  });
  const line = out.trim().split('\n').pop()!;
  return JSON.parse(line) as WeightsRssResult;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === fs.realpathSync(process.argv[1])) {
  const arg = process.argv[2];
  if (!arg) {
    process.stderr.write('usage: node dist/tools/weights_rss.js \'{"model":"synthetic:opt-125m","dispatch":"Linear=npu","promptTokens":128}\'\n');
    process.exit(2);
  }
  process.stdout.write(JSON.stringify(run(JSON.parse(arg) as WeightsRssOptions)) + '\n');
}
