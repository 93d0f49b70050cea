/**
 * Checkpoint fuzz suite (issue #15): mutated safetensors headers (length, bytes, JSON fields, dtypes, shapes,
 * offsets, truncation, trailing bytes, FIFOs and devices), index.json and config.json, on three tiny model
 * folders. Every case must end in a clear error (an OpshiftError) or a correct result: a weight file is
 * accepted exactly when the reference rules accept it (test/fuzz/safetensors_reference.ts) and then read
 * byte for byte; a neutral edit gives the base logits bit for bit; base weights under a mutated config give
 * finite logits. No case may hang (per-case timeout; the child is killed and restarted after the case),
 * die by a signal, or grow the process's RSS past a bound.
 *
 * Cases run in a child process (a hung open cannot be interrupted in-process). Case i depends only on
 * (seed, i): replay one with OPSHIFT_FUZZ_SEED=<seed> OPSHIFT_FUZZ_CASES=<i>-<i+1>. The run stops early when
 * its time budget (OPSHIFT_FUZZ_BUDGET_MS, default 30 s) is spent; the counts are printed.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, describe, expect, it } from 'vitest';
import type { CaseResult } from './fuzz/checkpoint_worker.js';
import { transpileTree } from './fuzz/transpile.js';

const ROOT = path.resolve(import.meta.dirname, '..');
const SEED = Number(process.env.OPSHIFT_FUZZ_SEED ?? 0x15c0ffee);
const [FIRST, END] = (process.env.OPSHIFT_FUZZ_CASES ?? '0-100000').split('-').map(Number) as [number, number];
const BUDGET_MS = Number(process.env.OPSHIFT_FUZZ_BUDGET_MS ?? 30_000);
/** Far above any case's time (a few ms): only a hang gets here. */
const CASE_TIMEOUT_MS = 15_000;
/** RSS bound of the child: node + opshift + three 10 kB models need ~150 MB; a case allocating by a header's word would need GBs. */
const MAX_RSS = 512 * 1024 * 1024;

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'opshift-fuzz-ckpt-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

interface Failure {
  i: number;
  outcome: 'hang' | 'signal' | 'exit';
  detail: string;
}

/** Runs cases [start, END) in one child until it finishes, hangs or dies; returns the next case to run. */
function runChild(script: string, start: number, deadline: number, results: CaseResult[], failures: Failure[]): Promise<number | undefined> {
  const args = JSON.stringify({ seed: SEED, start, end: END, deadline, dir: path.join(tmp, `run-${start}`) });
  fs.mkdirSync(path.join(tmp, `run-${start}`), { recursive: true });
  const child = spawn(process.execPath, [script, args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let current: number | undefined;
  let stderr = '';
  let finished = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let hung = false;
  const arm = (): void => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      hung = true;
      child.kill('SIGKILL');
    }, CASE_TIMEOUT_MS + 20_000 * Number(current === undefined)); // the first case also waits for imports and the base models
  };
  arm();
  child.stderr.on('data', (d: Buffer) => void (stderr = (stderr + d.toString()).slice(-4000)));
  createInterface({ input: child.stdout }).on('line', (line) => {
    const m = JSON.parse(line) as { start?: number; done?: boolean } & Partial<CaseResult>;
    if (m.done) finished = true;
    else if (m.start !== undefined) {
      current = m.start;
      arm();
    } else results.push(m as CaseResult);
  });
  return new Promise((resolve) => {
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (finished && code === 0) return resolve(undefined);
      const i = current ?? start;
      if (hung) failures.push({ i, outcome: 'hang', detail: `no result within ${CASE_TIMEOUT_MS} ms` });
      else if (signal) failures.push({ i, outcome: 'signal', detail: `${signal}\n${stderr}` });
      else failures.push({ i, outcome: 'exit', detail: `exit code ${code}\n${stderr}` });
      // Case i is done for (recorded); the rest run in a fresh child.
      resolve(results.some((r) => r.i === i) ? i + 1 : i + 1);
    });
  });
}

describe('checkpoint fuzz (issue #15)', () => {
  it(`mutated checkpoints: a clear error or a correct result, never a hang, a signal or unbounded RSS (seed ${SEED})`, async () => {
    const t0 = Date.now();
    const script = transpileTree(ROOT, path.join(ROOT, 'test/fuzz/checkpoint_worker.ts'), path.join(tmp, 'js'));
    const deadline = t0 + BUDGET_MS;
    const results: CaseResult[] = [];
    const failures: Failure[] = [];
    let next: number | undefined = FIRST;
    while (next !== undefined && next < END && Date.now() < deadline) next = await runChild(script, next, deadline, results, failures);
    const ms = Date.now() - t0;

    const by = (o: string): CaseResult[] => results.filter((r) => r.outcome === o);
    const kinds = [...new Set(results.map((r) => r.kind))].sort();
    const errorClasses = [...new Set(by('error').map((r) => r.error))].sort();
    const maxRss = Math.max(...results.map((r) => r.rss));
    const slowest = results.reduce((a, b) => (b.ms > a.ms ? b : a), results[0]!);
    console.log(
      `checkpoint fuzz: seed ${SEED} (0x${SEED.toString(16)}), cases ${FIRST}..${FIRST + results.length + failures.length - 1}: ` +
        `${results.length + failures.length} run in ${(ms / 1000).toFixed(1)} s; ${by('error').length} clean errors (${errorClasses.join(', ')}), ` +
        `${by('ok').length} loaded correctly, ${by('bad').length} unclear errors, ${by('mismatch').length} wrong results, ` +
        `${failures.filter((f) => f.outcome === 'hang').length} hangs, ${failures.filter((f) => f.outcome !== 'hang').length} crashes; ` +
        `max RSS ${(maxRss / 2 ** 20).toFixed(0)} MB; slowest case ${slowest.i} ${slowest.ms.toFixed(0)} ms; kinds ${kinds.join(', ')}`,
    );
    const show = (rs: { i: number; what?: string; msg?: string; detail?: string }[]): string =>
      rs.slice(0, 5).map((r) => `case ${r.i} (replay: OPSHIFT_FUZZ_SEED=${SEED} OPSHIFT_FUZZ_CASES=${r.i}-${r.i + 1}) ${r.what ?? ''}: ${(r.msg ?? r.detail ?? '').slice(0, 600)}`).join('\n');
    expect(failures, show(failures)).toEqual([]);
    expect(by('bad'), show(by('bad'))).toEqual([]);
    expect(by('mismatch'), show(by('mismatch'))).toEqual([]);
    // Each error is specific: it names a file, a field, a tensor or the op and shapes (never an empty or generic text).
    for (const r of by('error')) expect(r.msg, `case ${r.i} ${r.what}`).toMatch(/\.safetensors|\.json|config|tensor|parameter|load_state_dict|shape|dtype|field/);
    expect(maxRss).toBeLessThan(MAX_RSS);
    // The budget is big enough for a meaningful run on a loaded 2-core machine, and every kind was exercised.
    expect(results.length).toBeGreaterThan(FIRST === 0 && END > 1000 ? 200 : 0);
    if (END - FIRST > 1000) expect(kinds).toEqual(['config', 'index', 'st-append', 'st-bytes', 'st-json', 'st-kind', 'st-length', 'st-truncate']);
  }, 120_000);
});
