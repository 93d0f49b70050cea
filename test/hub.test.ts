import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { HubError, tensor } from '../core/index.js';
import { openCheckpoint, saveCheckpoint } from '../models/io/checkpoint.js';
import { downloadFile, resolveModel } from '../models/io/hub.js';

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
  /** Cut the connection half way through the first CDN download of this file. */
  dropOnce?: string;
}

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'opshift-hub-'));
const repos = new Map<string, FakeRepo>();
const log: { method: string; url: string; range?: string }[] = [];
const dropped = new Set<string>();
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
    if (entry.r.dropOnce === entry.name && !dropped.has(entry.name)) {
      dropped.add(entry.name);
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
  repos.set('tiny/flaky', { ...repoFromFolder(flaky, 'flaky'), dropOnce: 'model.safetensors' });
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

  it('resumes an interrupted download with a Range request', async () => {
    const err = await rejection(resolveModel('tiny/flaky', opts()));
    expect(err.message).toMatch(/network error downloading .*model\.safetensors after \d+ bytes.*run again to resume/);
    const blobs = path.join(cacheDir, 'models--tiny--flaky', 'blobs');
    const partial = fs.readdirSync(blobs).find((f) => f.endsWith('.incomplete'))!;
    const have = fs.statSync(path.join(blobs, partial)).size;
    const body = repos.get('tiny/flaky')!.files.get('model.safetensors')!.body;
    expect(have).toBeGreaterThan(0);
    expect(have).toBeLessThan(body.length);
    const before = log.length;
    const dir = await resolveModel('tiny/flaky', opts());
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
