/**
 * Hub fuzz suite (issue #15.5): resolveModel against a malicious hub on loopback (test/fuzz/evil_hub.ts) whose
 * behavior per case is drawn from a fixed seed: lying or missing sizes, ETags and commits, bodies longer than
 * declared or endless, stalls, dropped connections, 4xx/5xx, redirect loops and chains, bad revisions, index
 * files naming paths outside the repo. Every case must end in a clear error (HubError / CheckpointError) or a
 * correct result (each snapshot file holds exactly the bytes served for it), within a per-case time limit,
 * with nothing written outside the cache and RSS bounded. Hub code is asynchronous only, so cases run
 * in-process with a Promise timeout. Replay one case: OPSHIFT_FUZZ_SEED=<seed> OPSHIFT_FUZZ_CASES=<i>-<i+1>.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OpshiftError, tensor } from '../core/index.js';
import { saveCheckpoint } from '../models/io/checkpoint.js';
import { resolveModel } from '../models/io/hub.js';
import { COMMIT, startEvilHub, type Behavior, type EvilHub } from './fuzz/evil_hub.js';
import { rng } from './fuzz/rng.js';

const SEED = Number(process.env.OPSHIFT_FUZZ_SEED ?? 0x15b0b0);
const [FIRST, END] = (process.env.OPSHIFT_FUZZ_CASES ?? '0-100000').split('-').map(Number) as [number, number];
const BUDGET_MS = Number(process.env.OPSHIFT_FUZZ_BUDGET_MS ?? 15_000);
const TIMEOUT_MS = 150; // the client's connect/read timeout in these cases
const CASE_LIMIT_MS = 5_000; // a case that takes longer is a hang (a stall costs 2 × 2 × TIMEOUT_MS at most per file)
const MAX_BYTES = 1_000_000;
const RSS_GROWTH = 200 * 1024 * 1024;

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'opshift-fuzz-hub-'));
const outside = path.join(tmp, 'outside');
let evil: EvilHub;
const single = new Map<string, Buffer>();
const sharded = new Map<string, Buffer>();

beforeAll(async () => {
  evil = await startEvilHub();
  const w = { 'model.embed_tokens.weight': tensor([[1, 2], [3, 4], [5, 6]]), 'model.norm.weight': tensor([1, 1]), 'lm_head.weight': tensor([[0, 1], [1, 0], [1, 1]]) };
  const cfg = { model_type: 'llama', hidden_size: 2, vocab_size: 3 };
  for (const [dir, files, shard] of [[path.join(tmp, 'src1'), single, 5e9], [path.join(tmp, 'src2'), sharded, 24]] as const) {
    saveCheckpoint(dir, w, cfg, { maxShardBytes: shard });
    for (const f of fs.readdirSync(dir)) files.set(f, fs.readFileSync(path.join(dir, f)));
  }
  fs.mkdirSync(outside);
});
afterAll(async () => {
  await evil.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});


interface HubCase {
  id: string;
  revision: string;
  files: Map<string, Buffer>;
  behavior: Behavior;
  what: string[];
  /** Every file has its own ETag (the default ones): a success must give each file its own bytes. */
  distinctEtags: boolean;
}

function makeCase(i: number): HubCase {
  const r = rng((SEED ^ Math.imul(i + 1, 0x9e3779b1)) >>> 0);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
  const maybe = (p: number): boolean => r() < p;
  const b: Behavior = {};
  const what: string[] = [];
  const weights = (f: string): boolean => f.endsWith('.safetensors');
  const files = new Map(maybe(0.5) ? single : sharded);
  if (files.has('model.safetensors.index.json') && maybe(0.2)) {
    const shard = pick(['../escape.safetensors', '/etc/passwd', 'a/../../b.safetensors', 'missing.safetensors', '.', 'x\\y.safetensors', 'ok/nested.safetensors']);
    files.set('model.safetensors.index.json', Buffer.from(JSON.stringify({ weight_map: { 'lm_head.weight': shard } })));
    what.push(`index shard ${JSON.stringify(shard)}`);
  }
  const lfs = pick(['weights', 'all', 'none'] as const);
  b.lfs = lfs === 'weights' ? weights : () => lfs === 'all';
  what.push(`lfs ${lfs}`);
  let distinctEtags = true;
  if (maybe(0.25)) {
    b.commit = pick([null, '../../outside', 'abc', '', 'G'.repeat(40), COMMIT.toUpperCase(), `${COMMIT}/..`]);
    what.push(`commit ${JSON.stringify(b.commit)}`);
  }
  if (maybe(0.25)) {
    const e = pick([null, '"."', '".."', '"a/b"', '""', 'W/"abc"', '"x.incomplete"', `"${'a'.repeat(300)}"`, '"../../outside/x"', '"abc"', 'abc']);
    b.etag = () => e;
    distinctEtags = false;
    what.push(`etag ${JSON.stringify(e)}`);
  }
  if (maybe(0.3)) {
    const s = pick(['none', '10', '+10', '-1', '-5', 'abc', '1e3', '99999999999999999', '0'] as const);
    b.declaredSize = (_f, body) => (s === 'none' ? null : s === '+10' ? String(body.length + 10) : s === '-1' ? String(body.length - 1) : s);
    what.push(`size ${s}`);
  }
  const target = maybe(0.5) ? weights : undefined;
  if (target) b.target = target;
  if (maybe(0.2)) {
    b.extra = maybe(0.3) ? 'endless' : Math.floor(r() * 2000) + 1;
    what.push(`extra ${b.extra}${target ? ' (weights)' : ''}`);
  }
  if (maybe(0.05)) {
    b.stallHead = true;
    what.push('stall head');
  } else if (maybe(0.05)) {
    b.stallBody = r();
    what.push(`stall body at ${b.stallBody.toFixed(2)}`);
  }
  if (maybe(0.15)) {
    b.redirect = pick([{ kind: 'loop' }, { kind: 'chain', hops: Math.floor(r() * 9) }, { kind: 'cdn-loop' }] as const);
    what.push(`redirect ${JSON.stringify(b.redirect)}`);
  }
  if (maybe(0.1)) {
    b.status = pick([500, 503, 404, 403, 418]);
    what.push(`status ${b.status}`);
  }
  if (maybe(0.15)) {
    b.drops = Math.floor(r() * 4);
    what.push(`drops ${b.drops}`);
  }
  const revision = maybe(0.15) ? pick(['../x', '../../../../outside/x', 'refs/pr/1', 'v1.0', '..', 'a b', COMMIT, '/abs', 'a\\b', 'ok/../../x', '.git']) : 'main';
  if (revision !== 'main') what.push(`revision ${JSON.stringify(revision)}`);
  return { id: `fuzz/c${i}`, revision, files, behavior: b, what, distinctEtags };
}

/** The bytes a correct client ends up with for `file`: the body, plus undeclared extra bytes the limits allow. */
function served(c: HubCase, file: string): Buffer {
  const body = c.files.get(file)!;
  const b = (c.behavior.target?.(file) ?? true) ? c.behavior : {};
  return typeof b.extra === 'number' ? Buffer.concat([body, Buffer.alloc(b.extra, 0x42)]) : body;
}

function filesUnder(dir: string): string[] {
  return (fs.readdirSync(dir, { recursive: true }) as string[]).filter((f) => fs.lstatSync(path.join(dir, f)).isFile());
}

type Outcome = { kind: 'ok' | 'error' | 'bad' | 'wrong' | 'hang'; msg: string; ms: number };

async function runCase(i: number): Promise<Outcome> {
  const c = makeCase(i);
  evil.repos.set(c.id, { files: c.files, behavior: c.behavior });
  const cacheDir = path.join(tmp, 'cache', String(i));
  const t0 = performance.now();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const hang = new Promise<'hang'>((resolve) => (timer = setTimeout(() => resolve('hang'), CASE_LIMIT_MS)));
  const run = resolveModel(c.id, { endpoint: evil.endpoint, cacheDir, revision: c.revision, progress: false, env: { HF_HOME: path.join(tmp, 'home') }, timeoutMs: TIMEOUT_MS, maxBytes: MAX_BYTES }).then(
    (dir) => ({ dir }),
    (e: unknown) => ({ e }),
  );
  const r = await Promise.race([run, hang]);
  clearTimeout(timer);
  const ms = performance.now() - t0;
  evil.repos.delete(c.id);
  if (r === 'hang') return { kind: 'hang', msg: `no answer within ${CASE_LIMIT_MS} ms`, ms };
  if ('e' in r) {
    const err = r.e as Error;
    if (!(err instanceof OpshiftError) || err.message.length < 20) return { kind: 'bad', msg: `${err.name}: ${err.message}\n${err.stack}`, ms };
    return { kind: 'error', msg: `${err.name}: ${err.message}`, ms };
  }
  // Success: every snapshot file holds exactly what was served for it (distinct ETags) and lies inside the cache.
  for (const f of fs.readdirSync(r.dir)) {
    const real = fs.realpathSync(path.join(r.dir, f));
    if (path.relative(cacheDir, real).startsWith('..')) return { kind: 'wrong', msg: `${f} resolves to ${real}, outside the cache`, ms };
    const got = fs.readFileSync(real);
    if (c.distinctEtags && !got.equals(served(c, f))) return { kind: 'wrong', msg: `${f}: ${got.length} bytes, not the ${served(c, f).length} served`, ms };
    if (!c.distinctEtags && ![...c.files.keys()].some((g) => got.equals(served(c, g)))) return { kind: 'wrong', msg: `${f}: bytes the server never sent`, ms };
  }
  return { kind: 'ok', msg: r.dir, ms };
}

describe('hub fuzz (issue #15.5)', () => {
  it(`a malicious hub: a clear error or a correct result, never a hang, a write outside the cache or unbounded RSS (seed ${SEED})`, async () => {
    const t0 = Date.now();
    const rss0 = process.memoryUsage().rss;
    let maxRss = rss0;
    const results: (Outcome & { i: number; what: string })[] = [];
    for (let i = FIRST; i < END && Date.now() - t0 < BUDGET_MS; i++) {
      const o = await runCase(i);
      results.push({ ...o, i, what: makeCase(i).what.join(', ') });
      maxRss = Math.max(maxRss, process.memoryUsage().rss);
      fs.rmSync(path.join(tmp, 'cache', String(i)), { recursive: true, force: true });
    }
    const ms = Date.now() - t0;
    const by = (k: Outcome['kind']) => results.filter((r) => r.kind === k);
    const slowest = results.reduce((a, b) => (b.ms > a.ms ? b : a), results[0]!);
    console.log(
      `hub fuzz: seed ${SEED} (0x${SEED.toString(16)}), cases ${FIRST}..${FIRST + results.length - 1}: ${results.length} run in ${(ms / 1000).toFixed(1)} s; ` +
        `${by('error').length} clean errors, ${by('ok').length} correct downloads, ${by('bad').length} unclear errors, ${by('wrong').length} wrong results, ` +
        `${by('hang').length} hangs; RSS growth ${((maxRss - rss0) / 2 ** 20).toFixed(0)} MB; slowest case ${slowest.i} ${slowest.ms.toFixed(0)} ms`,
    );
    const show = (rs: typeof results): string =>
      rs.slice(0, 5).map((r) => `case ${r.i} (replay: OPSHIFT_FUZZ_SEED=${SEED} OPSHIFT_FUZZ_CASES=${r.i}-${r.i + 1}) [${r.what}]: ${r.msg.slice(0, 600)}`).join('\n');
    expect(by('hang'), show(by('hang'))).toEqual([]);
    expect(by('bad'), show(by('bad'))).toEqual([]);
    expect(by('wrong'), show(by('wrong'))).toEqual([]);
    expect(filesUnder(outside)).toEqual([]);
    // Only the cache, the sources and the empty sentinel folder exist under the test's root.
    expect(fs.readdirSync(tmp).sort()).toEqual(['cache', 'outside', 'src1', 'src2'].filter((d) => fs.existsSync(path.join(tmp, d))).sort());
    expect(maxRss - rss0).toBeLessThan(RSS_GROWTH);
    expect(results.length).toBeGreaterThan(END - FIRST > 1000 ? 100 : 0);
    expect(by('ok').length + by('error').length).toBe(results.length);
    if (END - FIRST > 1000) expect(by('ok').length).toBeGreaterThan(0);
  }, 90_000);
});
