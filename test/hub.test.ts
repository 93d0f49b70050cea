import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { CheckpointError, HubError, tensor } from '../core/index.js';
import { openCheckpoint, saveCheckpoint } from '../models/io/checkpoint.js';
import { downloadFile, resolveModel } from '../models/io/hub.js';
import { startEvilHub, type Behavior, type EvilHub } from './fuzz/evil_hub.js';

/**
 * A local stand-in for the hub: /{owner}/{name}/resolve/{rev}/{file}, with LFS files (the weights) answered by
 * a 302 to /cdn/<sha256> carrying x-linked-etag / x-linked-size, as huggingface.co does.
 */
interface Served {
  body: Buffer;
  lfs: boolean;
}
interface FakeRepo {
  commit: string;
  files: Map<string, Served>;
  gated?: boolean;
  lieAboutSize?: boolean;
  /** Cut the connection half way through the CDN download of this file, `drops` times. */
  dropFile?: string;
  drops?: number;
}

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'opshift-hub-'));
const repos = new Map<string, FakeRepo>();
const log: { method: string; url: string; range?: string }[] = [];
const dropped = new Map<string, number>();
let server: http.Server;
let endpoint = '';
let deadEndpoint = '';

const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
const sha1 = (b: Buffer): string => createHash('sha1').update(b).digest('hex');

function repoFromFolder(dir: string, commitSeed: string, extra: Record<string, string> = {}): FakeRepo {
  const files = new Map<string, Served>();
  for (const f of fs.readdirSync(dir)) files.set(f, { body: fs.readFileSync(path.join(dir, f)), lfs: f.endsWith('.safetensors') });
  for (const [f, text] of Object.entries(extra)) files.set(f, { body: Buffer.from(text), lfs: false });
  return { commit: sha1(Buffer.from(commitSeed)), files };
}

function handle(req: http.IncomingMessage, res: http.ServerResponse): void {
  const url = new URL(req.url!, endpoint);
  const range = req.headers.range;
  log.push({ method: req.method!, url: url.pathname, ...(range ? { range } : {}) });
  const cdn = /^\/cdn\/([0-9a-f]{64})$/.exec(url.pathname);
  if (cdn) {
    const entry = [...repos.values()].flatMap((r) => [...r.files.entries()].map(([name, f]) => ({ r, name, f }))).find((x) => sha256(x.f.body) === cdn[1]);
    if (!entry) return void res.writeHead(404).end();
    const body = entry.f.body;
    let start = 0;
    const m = range ? /^bytes=(\d+)-$/.exec(range) : null;
    if (m) start = Number(m[1]);
    if (start >= body.length && m) return void res.writeHead(416, { 'content-range': `bytes */${body.length}` }).end();
    const part = body.subarray(start);
    res.writeHead(m ? 206 : 200, {
      'content-length': String(part.length),
      ...(m ? { 'content-range': `bytes ${start}-${body.length - 1}/${body.length}` } : {}),
    });
    if (req.method === 'HEAD') return void res.end();
    const key = `${entry.r.commit}/${entry.name}`;
    if (entry.r.dropFile === entry.name && (dropped.get(key) ?? 0) < (entry.r.drops ?? 1)) {
      dropped.set(key, (dropped.get(key) ?? 0) + 1);
      res.write(part.subarray(0, part.length >> 1), () => setTimeout(() => res.destroy(), 20));
      return;
    }
    return void res.end(part);
  }
  const m = /^\/([^/]+\/[^/]+)\/resolve\/([^/]+)\/(.+)$/.exec(url.pathname);
  if (!m) return void res.writeHead(404).end();
  const [, id, , file] = m;
  if (id === 'tiny/renamed') return void res.writeHead(307, { location: url.pathname.replace('tiny/renamed', 'tiny/model') }).end();
  const repo = repos.get(id!);
  if (!repo) return void res.writeHead(401, { 'x-error-code': 'RepoNotFound' }).end('Repository not found');
  if (repo.gated && req.headers.authorization !== 'Bearer secret') return void res.writeHead(403, { 'x-error-code': 'GatedRepo' }).end();
  const f = repo.files.get(decodeURIComponent(file!));
  if (!f) return void res.writeHead(404, { 'x-error-code': 'EntryNotFound', 'x-repo-commit': repo.commit }).end('Entry not found');
  if (f.lfs) {
    const size = f.body.length + (repo.lieAboutSize ? 10 : 0);
    return void res
      .writeHead(302, { location: `${endpoint}/cdn/${sha256(f.body)}`, 'x-repo-commit': repo.commit, 'x-linked-etag': `"${sha256(f.body)}"`, 'x-linked-size': String(size), 'content-length': '0' })
      .end();
  }
  res.writeHead(200, { 'x-repo-commit': repo.commit, etag: `"${sha1(f.body)}"`, 'content-length': String(f.body.length) });
  res.end(req.method === 'HEAD' ? undefined : f.body);
}

const weights = {
  'model.embed_tokens.weight': tensor([[1, 2], [3, 4], [5, 6]], { dtype: 'float32' }),
  'model.norm.weight': tensor([1, 1], { dtype: 'bfloat16' }),
  'lm_head.weight': tensor([[0, 1], [1, 0], [1, 1]], { dtype: 'float32' }),
};
const config = { model_type: 'llama', hidden_size: 2, vocab_size: 3 };

beforeAll(async () => {
  const single = path.join(tmp, 'src-single');
  saveCheckpoint(single, weights, config);
  const sharded = path.join(tmp, 'src-sharded');
  saveCheckpoint(sharded, weights, config, { maxShardBytes: 24, generationConfig: { eos_token_id: [2] } });
  const tok = { 'tokenizer.json': '{"version":"1.0"}', 'tokenizer_config.json': '{}' };
  repos.set('tiny/model', repoFromFolder(single, 'model', tok));
  repos.set('tiny/sharded', repoFromFolder(sharded, 'sharded', { 'vocab.json': '{"a":0}', 'merges.txt': '#version: 0.2\n' }));
  repos.set('tiny/gated', { ...repoFromFolder(single, 'gated'), gated: true });
  repos.set('tiny/liar', { ...repoFromFolder(single, 'liar'), lieAboutSize: true });
  // Its own weights bytes, so the CDN (which serves by content hash) knows which download to cut.
  const flaky = path.join(tmp, 'src-flaky');
  saveCheckpoint(flaky, weights, config, { metadata: { format: 'pt', repo: 'flaky' } });
  repos.set('tiny/flaky', { ...repoFromFolder(flaky, 'flaky'), dropFile: 'model.safetensors', drops: 1 });
  const down = path.join(tmp, 'src-down');
  saveCheckpoint(down, weights, config, { metadata: { format: 'pt', repo: 'down' } });
  repos.set('tiny/down', { ...repoFromFolder(down, 'down'), dropFile: 'model.safetensors', drops: 2 });
  const noConfig = repoFromFolder(single, 'noconfig');
  noConfig.files.delete('config.json');
  repos.set('tiny/noconfig', noConfig);
  const noWeights = repoFromFolder(single, 'noweights');
  noWeights.files.delete('model.safetensors');
  repos.set('tiny/noweights', noWeights);

  server = http.createServer(handle);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const dead = http.createServer();
  await new Promise<void>((r) => dead.listen(0, '127.0.0.1', r));
  deadEndpoint = `http://127.0.0.1:${(dead.address() as AddressInfo).port}`;
  await new Promise((r) => dead.close(r));
});

afterAll(async () => {
  await new Promise((r) => server.close(r));
  fs.rmSync(tmp, { recursive: true, force: true });
});

async function rejection(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected a rejection');
}

const cacheDir = path.join(tmp, 'cache');
// HF_HOME points at an empty folder so no token saved on this machine is picked up.
const noHome = { HF_HOME: path.join(tmp, 'no-home') };
const opts = () => ({ endpoint, cacheDir, progress: false, env: noHome });

describe('hub downloads into the Hugging Face cache layout', () => {
  it('resolves a model: snapshot folder, refs/main, blobs + relative symlinks, optional 404s', async () => {
    const dir = await resolveModel('tiny/model', opts());
    const repo = repos.get('tiny/model')!;
    const root = path.join(cacheDir, 'models--tiny--model');
    expect(dir).toBe(path.join(root, 'snapshots', repo.commit));
    expect(fs.readFileSync(path.join(root, 'refs', 'main'), 'utf8')).toBe(repo.commit);
    const weightsLink = path.join(dir, 'model.safetensors');
    expect(fs.lstatSync(weightsLink).isSymbolicLink()).toBe(true);
    expect(fs.readlinkSync(weightsLink)).toBe(`../../blobs/${sha256(repo.files.get('model.safetensors')!.body)}`);
    expect(fs.readlinkSync(path.join(dir, 'config.json'))).toBe(`../../blobs/${sha1(repo.files.get('config.json')!.body)}`);
    expect(fs.existsSync(path.join(dir, 'tokenizer.json'))).toBe(true);
    expect(fs.existsSync(path.join(dir, 'generation_config.json'))).toBe(false);
    expect(fs.existsSync(path.join(root, '.no_exist', repo.commit, 'generation_config.json'))).toBe(true);
    expect(fs.readdirSync(path.join(root, 'blobs')).some((b) => b.endsWith('.incomplete'))).toBe(false);
    const ck = openCheckpoint(dir);
    expect(ck.load('model.embed_tokens.weight').tolist()).toEqual([[1, 2], [3, 4], [5, 6]]);
    ck.close();
  });

  it('a second resolve downloads nothing', async () => {
    const before = log.length;
    const dir = await resolveModel('tiny/model', opts());
    const requests = log.slice(before);
    expect(requests.filter((r) => r.method === 'GET')).toEqual([]);
    expect(requests.every((r) => r.method === 'HEAD')).toBe(true);
    expect(dir).toContain('models--tiny--model');
  });

  it('offline mode uses the cache, and fails clearly for what it lacks', async () => {
    const before = log.length;
    const online = await resolveModel('tiny/model', opts());
    const off = await resolveModel('tiny/model', { cacheDir, offline: true, endpoint: deadEndpoint, progress: false, env: noHome });
    expect(off).toBe(online);
    const viaEnv = await resolveModel('tiny/model', { progress: false, env: { HF_HOME: path.dirname(cacheDir) + '/does-not-matter', HF_HUB_CACHE: cacheDir, HF_HUB_OFFLINE: '1' } });
    expect(viaEnv).toBe(online);
    expect(log.length - before).toBe(6); // only the online resolve's HEADs
    const err = await rejection(resolveModel('tiny/sharded', { cacheDir, offline: true, progress: false, env: noHome }));
    expect(err).toBeInstanceOf(HubError);
    expect(err.message).toMatch(/HF_HUB_OFFLINE is set, and 'config\.json' of 'tiny\/sharded' \(revision 'main'\) is not in the cache/);
    // Without network the cached snapshot is used too.
    expect(await resolveModel('tiny/model', { cacheDir, endpoint: deadEndpoint, progress: false, env: noHome })).toBe(online);
  });

  it('follows a relative redirect (renamed repo) and downloads a sharded model via HF_HOME', async () => {
    const home = path.join(tmp, 'home');
    const dir = await resolveModel('tiny/sharded', { progress: false, env: { HF_HOME: home, HF_ENDPOINT: endpoint } });
    expect(dir.startsWith(path.join(home, 'hub', 'models--tiny--sharded', 'snapshots'))).toBe(true);
    const ck = openCheckpoint(dir);
    expect(ck.files.length).toBeGreaterThan(1);
    expect(ck.eosTokenIds).toEqual([2]);
    expect(ck.load('lm_head.weight').tolist()).toEqual([[0, 1], [1, 0], [1, 1]]);
    ck.close();
    // No tokenizer.json there: the GPT-2 style tokenizer files come instead.
    expect(['vocab.json', 'merges.txt', 'tokenizer.json'].map((f) => fs.existsSync(path.join(dir, f)))).toEqual([true, true, false]);
    const renamed = await resolveModel('tiny/renamed', opts());
    expect(fs.existsSync(path.join(renamed, 'config.json'))).toBe(true);
    expect(renamed).toContain('models--tiny--renamed');
  });

  it('a dropped connection is retried once, resuming with a Range request', async () => {
    const before = log.length;
    const dir = await resolveModel('tiny/flaky', opts());
    const body = repos.get('tiny/flaky')!.files.get('model.safetensors')!.body;
    const gets = log.slice(before).filter((r) => r.method === 'GET' && r.url.startsWith('/cdn/'));
    expect(gets.length).toBe(2);
    expect(gets[1]!.range).toMatch(/^bytes=[1-9]\d*-$/);
    expect(fs.readFileSync(path.join(dir, 'model.safetensors')).equals(body)).toBe(true);
  });

  it('resumes an interrupted download with a Range request on the next run', async () => {
    const err = await rejection(resolveModel('tiny/down', opts()));
    expect(err.message).toMatch(/^'model\.safetensors' of 'tiny\/down': network error downloading http:\S+ after \d+ bytes: .*tried twice; run again to resume/);
    const blobs = path.join(cacheDir, 'models--tiny--down', 'blobs');
    const partial = fs.readdirSync(blobs).find((f) => f.endsWith('.incomplete'))!;
    const have = fs.statSync(path.join(blobs, partial)).size;
    const body = repos.get('tiny/down')!.files.get('model.safetensors')!.body;
    expect(have).toBeGreaterThan(0);
    expect(have).toBeLessThan(body.length);
    const before = log.length;
    const dir = await resolveModel('tiny/down', opts());
    expect(log.slice(before).find((r) => r.url.startsWith('/cdn/'))?.range).toBe(`bytes=${have}-`);
    expect(fs.readFileSync(path.join(dir, 'model.safetensors')).equals(body)).toBe(true);
    expect(fs.readdirSync(blobs).some((f) => f.endsWith('.incomplete'))).toBe(false);
  });

  it('size mismatch, gated model, missing model/file, network failure', async () => {
    const liar = await rejection(resolveModel('tiny/liar', opts()));
    expect(liar.message).toMatch(/size mismatch for .*model\.safetensors: expected \d+ bytes .* got \d+/);

    const gated = await rejection(resolveModel('tiny/gated', opts()));
    expect(gated).toBeInstanceOf(HubError);
    expect((gated as HubError).status).toBe(403);
    expect(gated.message).toMatch(/gated or private; set HF_TOKEN/);
    const ok = await resolveModel('tiny/gated', { ...opts(), env: { ...noHome, HF_TOKEN: 'secret' } });
    expect(fs.existsSync(path.join(ok, 'model.safetensors'))).toBe(true);
    // The token `huggingface-cli login` saves in $HF_HOME/token works too.
    fs.mkdirSync(path.join(tmp, 'logged-in'));
    fs.writeFileSync(path.join(tmp, 'logged-in', 'token'), 'secret\n');
    await resolveModel('tiny/gated', { ...opts(), env: { HF_HOME: path.join(tmp, 'logged-in') } });

    expect((await rejection(resolveModel('tiny/nothing', opts()))).message).toMatch(/model 'tiny\/nothing' was not found on http:\/\/127\.0\.0\.1:\d+ \(or it is private: set HF_TOKEN/);
    expect((await rejection(resolveModel('tiny/noconfig', opts()))).message).toMatch(/model 'tiny\/noconfig' has no file 'config\.json' at revision 'main' \(404 for http:.*\/tiny\/noconfig\/resolve\/main\/config\.json\)/);
    expect((await rejection(resolveModel('tiny/noweights', opts()))).message).toMatch(/has neither model\.safetensors nor model\.safetensors\.index\.json/);
    const net = await rejection(resolveModel('tiny/model', { ...opts(), endpoint: deadEndpoint, cacheDir: path.join(tmp, 'empty-cache') }));
    expect(net.message).toContain(`network error fetching ${deadEndpoint}/tiny/model/resolve/main/config.json`);
    expect(await downloadFile('tiny/model', 'tokenizer_config.json', opts())).toMatch(/tokenizer_config\.json$/);
    expect(await downloadFile('tiny/model', 'nope.txt', { ...opts(), required: false })).toBeUndefined();
  });

  it('concurrent resolves of one model download each file once (lock per blob)', async () => {
    const cache = path.join(tmp, 'concurrent-cache');
    const before = log.length;
    const dirs = await Promise.all([1, 2, 3].map(() => resolveModel('tiny/model', { ...opts(), cacheDir: cache })));
    expect(new Set(dirs).size).toBe(1);
    expect(log.slice(before).filter((r) => r.method === 'GET' && r.url.startsWith('/cdn/')).length).toBe(1);
    expect(fs.readdirSync(path.join(cache, '.locks', 'models--tiny--model'))).toEqual([]);
    const ck = openCheckpoint(dirs[0]!);
    expect(ck.load('lm_head.weight').tolist()).toEqual([[0, 1], [1, 0], [1, 1]]);
    ck.close();
  });

  it('draws a progress bar on stderr when asked', async () => {
    const written: string[] = [];
    const spy = vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
      written.push(String(chunk));
      return true;
    });
    try {
      await resolveModel('tiny/model', { ...opts(), cacheDir: path.join(tmp, 'progress-cache'), progress: true });
    } finally {
      spy.mockRestore();
    }
    const out = written.join('');
    expect(out).toMatch(/\rtiny\/model\/model\.safetensors \[=+\] 100% 0\.\d kB \/ 0\.\d kB [\d.]+ [kMG]B\/s/);
    expect(out.endsWith('\n')).toBe(true);
  });

  it('local folders are returned as they are; bad ids are rejected', async () => {
    expect(await resolveModel(tmp, opts())).toBe(path.resolve(tmp));
    expect((await rejection(resolveModel('not a model', opts()))).message).toMatch(/neither an existing folder nor a hub model id/);
    expect((await rejection(resolveModel('../x/y', opts()))).message).toMatch(/neither an existing folder/);
  });
});

/** Every file under `dir` (recursively), relative to it. */
function filesUnder(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return (fs.readdirSync(dir, { recursive: true }) as string[]).filter((f) => !fs.lstatSync(path.join(dir, f)).isDirectory());
}

describe('a malicious hub cannot hurt opshift (issue #15.5)', () => {
  let evil: EvilHub;
  const root = path.join(tmp, 'evil');
  const model = new Map<string, Buffer>();
  const evilCache = path.join(root, 'cache');
  const eopts = (extra: Record<string, unknown> = {}) => ({ endpoint: evil.endpoint, cacheDir: evilCache, progress: false, env: noHome, timeoutMs: 400, ...extra });
  const serve = (id: string, behavior: Behavior, files = model): void => void evil.repos.set(id, { files, behavior });
  const weightsOnly = (f: string): boolean => f.endsWith('.safetensors');

  beforeAll(async () => {
    evil = await startEvilHub();
    const src = path.join(root, 'src');
    saveCheckpoint(src, weights, config);
    for (const f of fs.readdirSync(src)) model.set(f, fs.readFileSync(path.join(src, f)));
  });
  afterAll(async () => evil.close());

  it('stops at the declared size: 10 bytes declared, megabytes sent', async () => {
    serve('evil/oversize', { lfs: weightsOnly, declaredSize: (f, b) => (weightsOnly(f) ? '10' : String(b.length)), extra: 'endless', target: weightsOnly });
    const err = await rejection(resolveModel('evil/oversize', eopts()));
    expect(err).toBeInstanceOf(HubError);
    expect(err.message).toMatch(/^'model\.safetensors' of 'evil\/oversize': http:\S+: the server sent more than 10 bytes \(the size the server declared\); the download was stopped there/);
    const blobs = path.join(evilCache, 'models--evil--oversize', 'blobs');
    // Nothing over the declared size was kept: the partial file is deleted, only config.json's blob remains.
    expect(filesUnder(blobs).map((f) => fs.statSync(path.join(blobs, f)).size).every((n) => n <= model.get('config.json')!.length)).toBe(true);
  });

  it('without a size header, stops at maxBytes', async () => {
    serve('evil/nosize', { declaredSize: () => null, extra: 'endless' });
    const err = await rejection(resolveModel('evil/nosize', eopts({ maxBytes: 100_000 })));
    expect(err.message).toMatch(/^'config\.json' of 'evil\/nosize': http:\S+config\.json: the server sent more than 100000 bytes \(no size was declared; maxBytes \/ OPSHIFT_HUB_MAX_BYTES is the limit\)/);
    const declared = await rejection(resolveModel('evil/oversize', eopts({ maxBytes: 5, cacheDir: path.join(root, 'c2') })));
    expect(declared.message).toMatch(/declares \d+ bytes, more than the 5-byte limit/);
  });

  it('a stalled HEAD or body times out (with one retry) instead of hanging', async () => {
    serve('evil/stall-head', { stallHead: true });
    let t0 = Date.now();
    const head = await rejection(resolveModel('evil/stall-head', eopts({ cacheDir: path.join(root, 'c3') })));
    expect(head).toBeInstanceOf(HubError);
    expect(head.message).toMatch(/network error fetching .*config\.json: timed out after 400 ms without data \(OPSHIFT_HUB_TIMEOUT_MS/);
    expect(Date.now() - t0).toBeLessThan(3000);
    expect(evil.log.filter((r) => r.path === '/evil/stall-head/resolve/main/config.json').length).toBe(2); // one retry
    serve('evil/stall-body', { lfs: weightsOnly, stallBody: 0.5, target: weightsOnly });
    t0 = Date.now();
    const body = await rejection(resolveModel('evil/stall-body', eopts({ cacheDir: path.join(root, 'c4'), env: { ...noHome, OPSHIFT_HUB_TIMEOUT_MS: '300' }, timeoutMs: undefined })));
    expect(body.message).toMatch(/^'model\.safetensors' of 'evil\/stall-body': network error downloading http:\S+ after \d+ bytes: timed out after 300 ms.*tried twice; run again to resume/);
    expect(Date.now() - t0).toBeLessThan(3000);
    await expect(resolveModel('evil/stall-body', eopts({ timeoutMs: 0 }))).rejects.toThrow(/option timeoutMs must be a positive integer, got 0/);
    await expect(resolveModel('evil/stall-body', eopts({ timeoutMs: undefined, env: { OPSHIFT_HUB_TIMEOUT_MS: 'soon' } }))).rejects.toThrow(/OPSHIFT_HUB_TIMEOUT_MS must be a positive integer, got "soon"/);
  });

  it('revisions cannot leave the cache', async () => {
    serve('evil/model', {});
    const outside = path.join(root, 'outside');
    fs.mkdirSync(outside, { recursive: true });
    for (const revision of ['../../outside/x', '../x', '/etc/passwd', 'a/../../b', 'main\\..\\x', 'a\u0000b', 'refs/..', '.hidden']) {
      const before = evil.log.length;
      const err = await rejection(resolveModel('evil/model', eopts({ revision })));
      expect(err, revision).toBeInstanceOf(HubError);
      expect(err.message).toMatch(/^revision ".*" of 'evil\/model' .*: not a commit hash, branch or tag name$/);
      expect(evil.log.length).toBe(before); // refused before any request
    }
    expect(filesUnder(outside)).toEqual([]);
    expect(await resolveModel('evil/model', eopts({ revision: 'refs/pr/1' }))).toContain(path.join('models--evil--model', 'snapshots'));
    expect(fs.readFileSync(path.join(evilCache, 'models--evil--model', 'refs', 'refs', 'pr', '1'), 'utf8')).toMatch(/^[0-9a-f]{40}$/);
  });

  it("ETags '.' and '..', commits and file names that are paths are refused", async () => {
    for (const etag of ['"."', '".."', '"../x"', '"a/b"', '""', '"x.incomplete"']) {
      serve('evil/etag', { etag: () => etag });
      const err = await rejection(resolveModel('evil/etag', eopts({ cacheDir: path.join(root, 'c5') })));
      expect(err.message, etag).toMatch(/the server's ETag .* is not usable as a blob name/);
    }
    serve('evil/commit', { commit: '../../../../tmp/x' });
    expect((await rejection(resolveModel('evil/commit', eopts()))).message).toMatch(/no usable commit hash \(x-repo-commit "\.\.\/\.\.\/\.\.\/\.\.\/tmp\/x", want 40 hex digits\)/);
    const sharded = new Map(model);
    sharded.delete('model.safetensors');
    sharded.set('model.safetensors.index.json', Buffer.from(JSON.stringify({ weight_map: { 'lm_head.weight': '../../../escape.safetensors' } })));
    serve('evil/index', {}, sharded);
    const idx = await rejection(resolveModel('evil/index', eopts()));
    expect(idx.message).toMatch(/evil\/index: "\.\.\/\.\.\/\.\.\/escape\.safetensors" is not a valid file path inside a repository/);
    await expect(downloadFile('evil/model', '/etc/passwd', eopts())).rejects.toThrow(/is not a valid file path inside a repository/);
  });

  it('a redirect loop or chain says so', async () => {
    serve('evil/loop', { redirect: { kind: 'loop' } });
    expect((await rejection(resolveModel('evil/loop', eopts()))).message).toMatch(/redirect loop fetching .*\/evil\/loop\/resolve\/main\/config\.json/);
    serve('evil/chain', { redirect: { kind: 'chain', hops: 50 } });
    expect((await rejection(resolveModel('evil/chain', eopts()))).message).toMatch(/too many redirects fetching .*config\.json: more than 5/);
    serve('evil/cdn-loop', { lfs: weightsOnly, redirect: { kind: 'cdn-loop' } });
    expect((await rejection(resolveModel('evil/cdn-loop', eopts()))).message).toMatch(/redirect loop fetching .*model\.safetensors/);
    serve('evil/short-chain', { redirect: { kind: 'chain', hops: 3 } });
    const dir = await resolveModel('evil/short-chain', eopts());
    expect(fs.readFileSync(path.join(dir, 'model.safetensors')).equals(model.get('model.safetensors')!)).toBe(true);
  });

  it('an LFS file whose bytes do not hash to its sha256 ETag is refused; a 500 is retried once', async () => {
    serve('evil/hash', { lfs: weightsOnly, etag: (f, b) => (weightsOnly(f) ? `"${'ab'.repeat(32)}"` : `"${b.length}"`) });
    expect((await rejection(resolveModel('evil/hash', eopts()))).message).toMatch(/checksum mismatch for .*model\.safetensors: the ETag says sha256 (ab){32}, the \d+ bytes received hash to [0-9a-f]{64}/);
    serve('evil/500', { status: 500 });
    const err = await rejection(resolveModel('evil/500', eopts()));
    expect((err as HubError).status).toBe(500);
    expect(evil.log.filter((r) => r.path === '/evil/500/resolve/main/config.json').length).toBe(2);
  });

  it('a FIFO in the cache where an index should be is refused, not read forever', async () => {
    const sharded = new Map(model);
    sharded.delete('model.safetensors');
    sharded.set('model.safetensors.index.json', Buffer.from('{"weight_map": {}}'));
    serve('evil/fifo', {}, sharded);
    const cache = path.join(root, 'c6');
    // First run fills the cache; then the blob is swapped for a FIFO (a hostile local user or a broken disk).
    await resolveModel('evil/fifo', eopts({ cacheDir: cache }));
    const blob = path.join(cache, 'models--evil--fifo', 'blobs');
    const index = filesUnder(blob).find((f) => fs.readFileSync(path.join(blob, f), 'utf8').includes('weight_map'))!;
    fs.rmSync(path.join(blob, index));
    const { spawnSync } = await import('node:child_process');
    if (spawnSync('mkfifo', [path.join(blob, index)]).status !== 0) return;
    const err = await rejection(resolveModel('evil/fifo', eopts({ cacheDir: cache })));
    expect(err).toBeInstanceOf(HubError);
    expect(err.message).toMatch(/blobs\/[0-9a-f]{40}: the cached blob of 'model\.safetensors\.index\.json' is not a regular file \(only regular files are read\)/);
    // Offline, the snapshot link is read as it is: the index reader refuses the FIFO itself.
    const off = await rejection(resolveModel('evil/fifo', eopts({ cacheDir: cache, offline: true })));
    expect(off).toBeInstanceOf(CheckpointError);
    expect(off.message).toMatch(/model\.safetensors\.index\.json: the weight index is a FIFO \(named pipe\), not a regular file/);
  });
});
