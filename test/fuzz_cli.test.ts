/**
 * Adversarial `opshift` invocations (issue #15): seeded random argument vectors for the commands that take
 * user input — numbers out of range or in other notations, empty and huge strings, bad policies, unknown
 * models, paths that are directories, FIFOs or outside where output should go, conflicting options. For every
 * case: the process ends by itself within the per-case timeout, with exit code 0 or 1 (never a signal, never a
 * native crash), and a failure is a one-line `opshift: …` or commander `error: …` message with no stack trace.
 *
 * Replay: OPSHIFT_FUZZ_SEED=<seed> (printed) and OPSHIFT_FUZZ_CASES=<n>.
 */
import { spawn } from 'node:child_process';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { rng } from './fuzz/rng.js';

const root = join(import.meta.dirname, '..');
const cli = join(root, 'dist', 'tools', 'cli.js');
const SEED = Number(process.env.OPSHIFT_FUZZ_SEED ?? 0x0c11f022);
const CASES = Number(process.env.OPSHIFT_FUZZ_CASES ?? 48);
const CASE_TIMEOUT_MS = 30_000;


const work = mkdtempSync(join(tmpdir(), 'opshift-fuzz-cli-'));
const fifo = join(work, 'fifo');
execFileSync('mkfifo', [fifo]);
const dirAsFile = join(work, 'a-directory');
mkdirSync(dirAsFile);
const textFile = join(work, 'prompt.txt');
writeFileSync(textFile, 'And God said unto Moses, '.repeat(20));
const binFile = join(work, 'garbage.bin');
writeFileSync(binFile, Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 131 + 7) & 0xff)));

const NUMBERS = ['1e12', '', '0x10', '-1', '1.5', 'NaN', 'Infinity', '99999999999999999999', ' 3', '3 ', '٣', '0', '2', '1', '-0', '+4', '0b11', '1_000'];
const FLOATS = ['-1', '0', 'NaN', '1e309', '0x1', '', '0.7', '1', '2', 'abc'];
const STRINGS = ['', 'x'.repeat(5000), '\u0001\u007f', '../../../../etc/passwd', '\u202e\ufeffhello', '%s%n', '{{7*7}}', 'And God said'];
const MODELS = ['demo:llama', 'demo:opt', 'demo:nope', 'synthetic:nope', 'owner/../x', '', dirAsFile, fifo, binFile, '/dev/zero', 'no/such-model-offline'];
const POLICIES = ['Matmul=cpu', 'Linear=npu|wasm|cpu', 'Linear=rows>=8?npu:cpu', '=', 'Linear=', 'Linear=nope', '*=decompose', 'Linear=rows>=abc?cpu:cpu', 'x'.repeat(3000)];

type Gen = (pick: <T>(xs: readonly T[]) => T, coin: () => boolean) => string[];

// Half the draws of a field are a valid value, so valid combinations reach the code behind the parsers too.
let orValid: (valid: string, pool: readonly string[]) => string = (v) => v;

// Each generator builds one command line; options are drawn from the pools above. Work is kept small (demo
// models, few tokens) so a valid combination finishes quickly: the point is the invalid ones.
const COMMANDS: Record<string, Gen> = {
  generate: (pick, coin) => [
    'generate',
    ...(coin() ? ['-m', orValid('demo:llama', MODELS)] : []),
    ...(coin() ? ['-p', pick(STRINGS)] : coin() ? ['--ids', pick(['1,2,3', '', '1,,2', '-5', '99999999', 'a,b', '1e3'])] : ['-f', pick([textFile, fifo, dirAsFile, binFile, '/nonexistent'])]),
    '-n', orValid('4', NUMBERS),
    ...(coin() ? ['--dispatch', pick(POLICIES)] : []),
    ...(coin() ? ['--temperature', pick(FLOATS)] : []),
    ...(coin() ? ['--top-p', pick(FLOATS)] : []),
    ...(coin() ? ['--greedy'] : []),
    ...(coin() ? ['-t', orValid('1', NUMBERS)] : []),
    ...(coin() ? ['--json'] : []),
  ],
  logits: (pick, coin) => [
    'logits',
    '-m', orValid('demo:llama', MODELS),
    '--ids', orValid('1,2,3', ['', 'x', '1,2,99999999', '-1']),
    '--out', pick([join(work, 'out.npy'), dirAsFile, join(work, 'no', 'such', 'dir', 'x.npy'), '']),
    ...(coin() ? ['--all-positions'] : []),
  ],
  perplexity: (pick, coin) => [
    'eval',
    'perplexity',
    '-m', orValid('demo:opt', MODELS),
    ...(coin() ? ['-f', pick([textFile, fifo, dirAsFile, binFile, '/nonexistent'])] : []),
    '--window', orValid('32', NUMBERS),
    '--stride', orValid('16', NUMBERS),
    '--max-tokens', orValid('64', NUMBERS),
  ],
  profile: (pick, coin) => [
    'profile',
    '-m', orValid('demo:llama', MODELS),
    ...(coin() ? ['-p', pick(STRINGS)] : ['--ids', pick(['1,2', '', 'q'])]),
    '-n', orValid('2', NUMBERS),
    ...(coin() ? ['--warmup', orValid('1', NUMBERS)] : []),
    ...(coin() ? ['--group-by', pick(['op', 'op,backend', 'nope', ''])] : []),
  ],
  quantize: (pick) => [
    'quantize',
    '-m', pick(MODELS),
    '--recipe', orValid('w8a8', ['nope', '', 'smoothquant', 'W8A8']),
    '--out', pick([dirAsFile, join(work, 'q'), '']),
    '--calib', pick([fifo, dirAsFile, binFile, '/nonexistent', textFile]),
    '--calib-tokens', orValid('64', NUMBERS),
  ],
  benchOp: (pick) => ['bench', 'op', pick(['Add', 'Nope', '', 'MatMul']), '--shapes', pick(['1x8x8', 'x', '0x0x0', '99999999x99999999x9', '', '1x2x3x4x5']), '--time', orValid('10', NUMBERS), '--no-peer'],
  serve: (pick) => ['serve', '-m', pick(MODELS), '--port', pick(['-1', '70000', 'abc', '', '0x50']), '--max-tokens', pick(NUMBERS)],
};

interface Outcome {
  readonly args: readonly string[];
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stderr: string;
  readonly ms: number;
  readonly timedOut: boolean;
}

function runCase(args: readonly string[]): Promise<Outcome> {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const child = spawn(process.execPath, [cli, ...args], { cwd: work, stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, HF_HUB_OFFLINE: '1' } });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => {
      if (stderr.length < 20_000) stderr += d.toString();
    });
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, CASE_TIMEOUT_MS);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ args, code, signal, stderr, ms: performance.now() - t0, timedOut });
    });
  });
}

const RAW = /^(opshift: |error: )(Invalid typed array length|Invalid array length|E[A-Z]+: |Cannot read propert|Cannot convert|.* is not a function|Maximum call stack|Unexpected token|RangeError|TypeError)/;

/** What is wrong with an outcome, or undefined when it is a result or a clean error. */
export function problem(o: Outcome): string | undefined {
  if (o.timedOut) return `no exit within ${CASE_TIMEOUT_MS} ms`;
  if (o.signal) return `killed by ${o.signal}`;
  if (o.code !== 0 && o.code !== 1) return `exit code ${o.code}`;
  if (o.code === 1) {
    const lines = o.stderr.trim().split('\n').filter((l) => l.trim() !== '');
    if (lines.length === 0) return 'failed without a message';
    if (/^\s+at /m.test(o.stderr)) return 'stack trace on stderr';
    const last = lines[lines.length - 1]!;
    if (!/^(opshift: |error: )/.test(last)) return `last stderr line is not an error message: ${last.slice(0, 200)}`;
    // A runtime's own message leaking through means no rule named the option and the value.
    if (RAW.test(last)) return `a raw runtime error instead of a rule: ${last.slice(0, 200)}`;
  }
  return undefined;
}

afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('CLI fuzz', () => {
  it(`${CASES} seeded invocations (seed ${SEED}): each ends by itself with a result or a one-line error`, async () => {
    console.log(`opshift CLI fuzz: seed ${SEED} (0x${SEED.toString(16)}), ${CASES} cases; replay with OPSHIFT_FUZZ_SEED=${SEED}`);
    const r = rng(SEED);
    const pick = <T,>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
    const coin = () => r() < 0.5;
    orValid = (valid, pool) => (r() < 0.75 ? valid : pick(pool));
    const names = Object.keys(COMMANDS);
    const cases = Array.from({ length: CASES }, () => COMMANDS[pick(names)]!(pick, coin));
    const outcomes: Outcome[] = [];
    // Two at a time: the machine has two cores.
    for (let i = 0; i < cases.length; i += 2) outcomes.push(...(await Promise.all(cases.slice(i, i + 2).map(runCase))));
    const bad = outcomes.map((o, i) => ({ i, o, why: problem(o) })).filter((x) => x.why !== undefined);
    const ok = outcomes.filter((o) => o.code === 0).length;
    const slowest = Math.max(...outcomes.map((o) => o.ms));
    console.log(`opshift CLI fuzz: ${outcomes.length} cases, ${ok} results, ${outcomes.length - ok - bad.length} clean errors, ${bad.length} problems; slowest ${slowest.toFixed(0)} ms`);
    // Which rules caught the errors (the message up to its first quote or colon after the prefix).
    const rules = new Map<string, number>();
    for (const o of outcomes)
      if (o.code === 1) {
        const last = o.stderr.trim().split('\n').pop() ?? '';
        const key = last.replace(/^(opshift: |error: )/, '').split(/['"(]/)[0]!.slice(0, 50).trim();
        rules.set(key, (rules.get(key) ?? 0) + 1);
      }
    console.log([...rules].sort((a, b) => b[1] - a[1]).map(([k, n]) => `  ${n}× ${k}`).join('\n'));
    expect(
      bad.map(({ i, o, why }) => `case ${i}: ${why}\n  opshift ${o.args.map((a) => JSON.stringify(a.length > 80 ? `${a.slice(0, 80)}…(${a.length})` : a)).join(' ')}\n  ${o.stderr.slice(-600)}`).join('\n'),
    ).toBe('');
  }, 600_000);
});
