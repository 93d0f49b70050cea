/**
 * Model downloads from the Hugging Face hub (or a mirror) into the standard Hugging Face cache, so that
 * models fetched here and by Python's huggingface_hub share one copy:
 *
 *   $HF_HOME/hub/models--owner--name/
 *     refs/main                      the commit hash `main` resolved to (x-repo-commit header)
 *     blobs/<etag>                   file contents, named by etag (sha256 for LFS files, git sha1 otherwise)
 *     blobs/<etag>.incomplete        a partial download, resumed with an HTTP Range request
 *     snapshots/<commit>/<file>      relative symlinks to ../../blobs/<etag>
 *     .no_exist/<commit>/<file>      empty marker: an optional file the repo does not have
 *
 * Each file is a HEAD on `${endpoint}/${id}/resolve/${revision}/${file}` (not following the CDN redirect, whose
 * response carries the commit, etag and x-linked-size), then, if the blob is not cached yet, a GET that follows
 * redirects. Sizes are checked against x-linked-size / Content-Length. Without network (or with
 * HF_HUB_OFFLINE=1) the cached snapshot of the ref is used.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { HubError } from '../../core/index.js';
import { CONFIG_FILE, GENERATION_CONFIG_FILE, WEIGHTS_FILE, WEIGHTS_INDEX_FILE } from './checkpoint.js';

export interface ResolveOptions {
  /** Branch, tag or commit hash. Default 'main'. */
  revision?: string;
  /** Hub URL. Default `HF_ENDPOINT` or https://huggingface.co. */
  endpoint?: string;
  /** Cache root (the `hub` folder). Default `HF_HUB_CACHE`, else `$HF_HOME/hub`, HF_HOME defaulting to ~/.cache/huggingface. */
  cacheDir?: string;
  /** Bearer token for private or gated models. Default `HF_TOKEN`, else the token `huggingface-cli login` saved in $HF_HOME/token. */
  token?: string;
  /** Use the cache only. Default: `HF_HUB_OFFLINE` is 1/true/yes/on. */
  offline?: boolean;
  /** Progress bar on stderr. Default: when stderr is a TTY and HF_HUB_DISABLE_PROGRESS_BARS is not set. */
  progress?: boolean;
  /** Where the defaults above are read from. Default process.env. */
  env?: Readonly<Record<string, string | undefined>>;
}

/** The files a model folder needs besides the weights; `required` ones fail the resolve when missing. */
export const MODEL_FILES: readonly { readonly file: string; readonly required: boolean }[] = [
  { file: CONFIG_FILE, required: true },
  { file: GENERATION_CONFIG_FILE, required: false },
  { file: 'tokenizer.json', required: false },
  { file: 'tokenizer_config.json', required: false },
  { file: 'special_tokens_map.json', required: false },
];

const COMMIT_RE = /^[0-9a-f]{40}$/;
const REPO_ID_RE = /^[A-Za-z0-9][A-Za-z0-9._-]*\/[A-Za-z0-9._-]+$/;

function isTrue(v: string | undefined): boolean {
  return v !== undefined && ['1', 'true', 'yes', 'on'].includes(v.trim().toLowerCase());
}

/** The token `huggingface-cli login` saved ($HF_HOME/token), if any. */
function savedToken(file: string): string | undefined {
  try {
    return fs.readFileSync(file, 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}

interface Settings {
  readonly revision: string;
  readonly endpoint: string;
  readonly cacheDir: string;
  readonly token: string | undefined;
  readonly offline: boolean;
  readonly progress: boolean;
}

function settings(o: ResolveOptions): Settings {
  const env = o.env ?? process.env;
  const home = env.HF_HOME || path.join(env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache'), 'huggingface');
  return {
    revision: o.revision ?? 'main',
    endpoint: (o.endpoint ?? (env.HF_ENDPOINT || 'https://huggingface.co')).replace(/\/+$/, ''),
    cacheDir: o.cacheDir ?? (env.HF_HUB_CACHE || path.join(home, 'hub')),
    token: o.token ?? (env.HF_TOKEN || savedToken(env.HF_TOKEN_PATH || path.join(home, 'token'))),
    offline: o.offline ?? isTrue(env.HF_HUB_OFFLINE),
    progress: o.progress ?? (process.stderr.isTTY === true && !isTrue(env.HF_HUB_DISABLE_PROGRESS_BARS)),
  };
}

/** A path inside a repo: relative, no `..`, no empty segments. */
function checkRepoFile(file: string, where: string): void {
  const parts = file.split('/');
  if (file.startsWith('/') || file.includes('\\') || parts.some((p) => p === '' || p === '.' || p === '..'))
    throw new HubError(`${where}: '${file}' is not a valid file path inside a repository`, file);
}

/** The cache folder of a model repo: `<cacheDir>/models--owner--name`. */
export function repoCacheDir(repoId: string, options: ResolveOptions = {}): string {
  return path.join(settings(options).cacheDir, `models--${repoId.split('/').join('--')}`);
}

class Repo {
  readonly dir: string;
  constructor(
    readonly id: string,
    readonly s: Settings,
  ) {
    this.dir = path.join(s.cacheDir, `models--${id.split('/').join('--')}`);
  }

  url(file: string): string {
    return `${this.s.endpoint}/${this.id}/resolve/${encodeURIComponent(this.s.revision)}/${file.split('/').map(encodeURIComponent).join('/')}`;
  }

  /** The commit the revision points to in the cache, if known. */
  cachedCommit(): string | undefined {
    if (COMMIT_RE.test(this.s.revision)) return this.s.revision;
    try {
      const c = fs.readFileSync(path.join(this.dir, 'refs', this.s.revision), 'utf8').trim();
      return c || undefined;
    } catch {
      return undefined;
    }
  }

  snapshotPath(commit: string, file: string): string {
    return path.join(this.dir, 'snapshots', commit, ...file.split('/'));
  }

  /** 'present' / 'absent' (a .no_exist marker) / undefined (unknown) for a file in the cached snapshot. */
  cachedState(commit: string, file: string): 'present' | 'absent' | undefined {
    if (fs.existsSync(this.snapshotPath(commit, file))) return 'present';
    if (fs.existsSync(path.join(this.dir, '.no_exist', commit, ...file.split('/')))) return 'absent';
    return undefined;
  }

  headers(extra: Record<string, string> = {}): Record<string, string> {
    const h: Record<string, string> = { 'user-agent': 'opshift', 'accept-encoding': 'identity', ...extra };
    if (this.s.token) h.authorization = `Bearer ${this.s.token}`;
    return h;
  }
}

class NetworkError extends HubError {}

async function request(url: string, init: RequestInit): Promise<Response> {
  try {
    return await fetch(url, init);
  } catch (e) {
    const cause = (e as { cause?: { message?: string; code?: string } }).cause;
    throw new NetworkError(`network error fetching ${url}: ${cause?.code ?? ''} ${cause?.message ?? (e as Error).message}`.replace(/\s+/g, ' ').trim(), url);
  }
}

function httpError(repo: Repo, file: string, url: string, res: Response): HubError {
  const code = res.headers.get('x-error-code');
  const tokenHint = repo.s.token
    ? 'the token in HF_TOKEN has no access to it (for a gated model, accept its license on the model page)'
    : 'set HF_TOKEN to a Hugging Face access token (for a gated model, accept its license on the model page first)';
  switch (res.status) {
    case 401:
    case 403:
      if (code === 'RepoNotFound')
        return new HubError(`model '${repo.id}' was not found on ${repo.s.endpoint} (or it is private: ${tokenHint}) [${res.status} for ${url}]`, url, res.status);
      return new HubError(`access to '${repo.id}' denied (${res.status}): the model is gated or private; ${tokenHint} [${url}]`, url, res.status);
    case 404:
      if (code === 'RepoNotFound') return new HubError(`no such model '${repo.id}' on ${repo.s.endpoint} (404 for ${url})`, url, 404);
      if (code === 'RevisionNotFound') return new HubError(`model '${repo.id}' has no revision '${repo.s.revision}' (404 for ${url})`, url, 404);
      return new HubError(`model '${repo.id}' has no file '${file}' at revision '${repo.s.revision}' (404 for ${url})`, url, 404);
    default:
      return new HubError(`HTTP ${res.status} ${res.statusText} fetching ${url}`, url, res.status);
  }
}

function stripEtag(e: string | null): string | undefined {
  if (!e) return undefined;
  return e.replace(/^W\//, '').replace(/^"|"$/g, '');
}

interface Head {
  readonly commit: string;
  readonly etag: string;
  readonly size: number | undefined;
}

/** HEAD on the resolve URL, following only same-host (relative) redirects, e.g. a renamed repo. */
async function head(repo: Repo, file: string): Promise<Head | undefined> {
  let url = repo.url(file);
  for (let hops = 0; ; hops++) {
    const res = await request(url, { method: 'HEAD', headers: repo.headers(), redirect: 'manual' });
    if (res.status === 404 && res.headers.get('x-error-code') !== 'RepoNotFound' && res.headers.get('x-error-code') !== 'RevisionNotFound')
      return undefined; // EntryNotFound: the caller decides whether the file was optional
    if (res.status >= 300 && res.status < 400) {
      const loc = res.headers.get('location');
      // The hub answers LFS files with a redirect to its CDN: that response has everything we need.
      if (loc && loc.startsWith('/') && !res.headers.get('x-linked-etag') && hops < 5) {
        url = new URL(loc, url).toString();
        continue;
      }
    } else if (!res.ok) throw httpError(repo, file, url, res);
    const commit = res.headers.get('x-repo-commit') ?? (COMMIT_RE.test(repo.s.revision) ? repo.s.revision : null);
    const etag = stripEtag(res.headers.get('x-linked-etag')) ?? stripEtag(res.headers.get('etag'));
    if (!commit || !COMMIT_RE.test(commit)) throw new HubError(`${url}: the server sent no commit hash (x-repo-commit header); is ${repo.s.endpoint} a Hugging Face hub?`, url);
    if (!etag || !/^[\w.-]+$/.test(etag)) throw new HubError(`${url}: the server sent no usable ETag; is ${repo.s.endpoint} a Hugging Face hub?`, url);
    const sizeHeader = res.headers.get('x-linked-size') ?? (res.status >= 300 ? null : res.headers.get('content-length'));
    const size = sizeHeader !== null && /^\d+$/.test(sizeHeader) ? Number(sizeHeader) : undefined;
    return { commit, etag, size };
  }
}

/** A one-line progress bar on stderr, redrawn at most every 100 ms. */
class ProgressBar {
  private last = 0;
  private readonly start = Date.now();
  constructor(
    private readonly label: string,
    private readonly total: number | undefined,
    private readonly enabled: boolean,
  ) {}

  update(done: number, force = false): void {
    if (!this.enabled) return;
    const now = Date.now();
    if (!force && now - this.last < 100) return;
    this.last = now;
    const size = (b: number): string => (b >= 1e9 ? `${(b / 1e9).toFixed(2)} GB` : b >= 1e6 ? `${(b / 1e6).toFixed(1)} MB` : `${(b / 1e3).toFixed(1)} kB`);
    const rate = done / Math.max(1e-3, (now - this.start) / 1000);
    const width = 30;
    let bar = '';
    if (this.total) {
      const frac = Math.min(1, done / this.total);
      const fill = Math.round(frac * width);
      bar = `[${'='.repeat(fill)}${' '.repeat(width - fill)}] ${(frac * 100).toFixed(0).padStart(3)}% ${size(done)} / ${size(this.total)}`;
    } else bar = size(done);
    process.stderr.write(`\r${this.label} ${bar} ${size(rate)}/s\x1b[K`);
  }

  finish(done: number): void {
    if (!this.enabled) return;
    this.update(done, true);
    process.stderr.write('\n');
  }
}

/** GET the file into blobs/<etag>.incomplete (resuming it), verify its size, move it to blobs/<etag>. */
async function downloadBlob(repo: Repo, file: string, h: Head, blob: string): Promise<void> {
  const partial = `${blob}.incomplete`;
  fs.mkdirSync(path.dirname(blob), { recursive: true });
  let have = fs.existsSync(partial) ? fs.statSync(partial).size : 0;
  if (h.size !== undefined && have > h.size) {
    fs.rmSync(partial);
    have = 0;
  }
  const url = repo.url(file);
  const extra: Record<string, string> = have > 0 ? { range: `bytes=${have}-` } : {};
  let res = await request(url, { headers: repo.headers(extra), redirect: 'follow' });
  if (res.status === 416 && have > 0) {
    // The partial file is complete or stale: start over.
    await res.body?.cancel();
    fs.rmSync(partial);
    have = 0;
    res = await request(url, { headers: repo.headers(), redirect: 'follow' });
  }
  if (!res.ok) throw httpError(repo, file, url, res);
  if (have > 0 && res.status !== 206) have = 0; // the server ignored the Range header: rewrite from the start
  const fd = fs.openSync(partial, have > 0 ? 'a' : 'w');
  const bar = new ProgressBar(`${repo.id}/${file}`, h.size, repo.s.progress);
  let done = have;
  try {
    if (res.body) {
      try {
        for await (const chunk of res.body) {
          const bytes = chunk as Uint8Array;
          for (let off = 0; off < bytes.length; ) off += fs.writeSync(fd, bytes, off);
          done += bytes.length;
          bar.update(done);
        }
      } catch (e) {
        const cause = (e as { cause?: { message?: string } }).cause;
        throw new HubError(
          `network error downloading ${url} after ${done} bytes: ${cause?.message ?? (e as Error).message} (run again to resume from ${partial})`,
          url,
        );
      }
    }
  } finally {
    fs.closeSync(fd);
    bar.finish(done);
  }
  const size = fs.statSync(partial).size;
  if (h.size !== undefined && size !== h.size) {
    fs.rmSync(partial);
    throw new HubError(`size mismatch for ${url}: expected ${h.size} bytes (from the server's headers), got ${size}; the partial file was deleted, run again`, url);
  }
  fs.renameSync(partial, blob);
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Runs `fn` holding an exclusive lock file (created with O_EXCL, holding our pid), so that two processes, or
 * two calls in one process, never append to the same .incomplete file. A lock whose process is gone is stale
 * and taken over. Like huggingface_hub, locks live in <cache>/.locks/models--owner--name/<etag>.lock.
 */
async function withLock(lock: string, fn: () => Promise<void>): Promise<void> {
  fs.mkdirSync(path.dirname(lock), { recursive: true });
  for (;;) {
    try {
      fs.writeFileSync(lock, String(process.pid), { flag: 'wx' });
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      let owner = NaN;
      try {
        owner = Number(fs.readFileSync(lock, 'utf8'));
      } catch {
        continue; // released meanwhile
      }
      if (Number.isSafeInteger(owner) && owner > 0 && pidAlive(owner)) await new Promise((r) => setTimeout(r, 100));
      else fs.rmSync(lock, { force: true }); // stale (or being written this instant: the O_EXCL retry settles it)
    }
  }
  try {
    await fn();
  } finally {
    fs.rmSync(lock, { force: true });
  }
}

function link(blob: string, pointer: string): void {
  fs.mkdirSync(path.dirname(pointer), { recursive: true });
  fs.rmSync(pointer, { force: true });
  try {
    fs.symlinkSync(path.relative(path.dirname(pointer), blob), pointer);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return; // another process linked it meanwhile
    fs.copyFileSync(blob, pointer); // filesystems without symlinks: a copy, as huggingface_hub does
  }
}

function writeRef(repo: Repo, commit: string): void {
  if (COMMIT_RE.test(repo.s.revision)) return;
  const ref = path.join(repo.dir, 'refs', repo.s.revision);
  fs.mkdirSync(path.dirname(ref), { recursive: true });
  if (fs.existsSync(ref) && fs.readFileSync(ref, 'utf8') === commit) return;
  fs.writeFileSync(ref, commit);
}

/** Offline lookup; undefined when the file is known not to exist; throws when the cache cannot tell. */
function fromCache(repo: Repo, file: string, required: boolean, why: string): string | undefined {
  const commit = repo.cachedCommit();
  const state = commit ? repo.cachedState(commit, file) : undefined;
  if (state === 'present') return repo.snapshotPath(commit!, file);
  if (!required && (state === 'absent' || commit)) return undefined; // an optional file the cached snapshot lacks
  throw new HubError(
    `${why}, and '${file}' of '${repo.id}' (revision '${repo.s.revision}') is not in the cache at ${repo.dir}` +
      (commit ? '' : ` (no cached ref '${repo.s.revision}')`),
    repo.url(file),
  );
}

async function fetchFile(repo: Repo, file: string, required: boolean): Promise<string | undefined> {
  checkRepoFile(file, repo.id);
  if (repo.s.offline) return fromCache(repo, file, required, 'HF_HUB_OFFLINE is set');
  // A commit hash names immutable content: a cached file needs no request at all.
  if (COMMIT_RE.test(repo.s.revision)) {
    const state = repo.cachedState(repo.s.revision, file);
    if (state === 'present') return repo.snapshotPath(repo.s.revision, file);
    if (state === 'absent' && !required) return undefined;
  }
  let h: Head | undefined;
  try {
    h = await head(repo, file);
  } catch (e) {
    // No network: fall back to what the cache has for this ref, as huggingface_hub does.
    if (e instanceof NetworkError) {
      try {
        return fromCache(repo, file, required, e.message);
      } catch {
        throw e;
      }
    }
    throw e;
  }
  if (!h) {
    const url = repo.url(file);
    if (required) throw new HubError(`model '${repo.id}' has no file '${file}' at revision '${repo.s.revision}' (404 for ${url})`, url, 404);
    const commit = repo.cachedCommit();
    if (commit) {
      const marker = path.join(repo.dir, '.no_exist', commit, ...file.split('/'));
      fs.mkdirSync(path.dirname(marker), { recursive: true });
      fs.writeFileSync(marker, '');
    }
    return undefined;
  }
  const pointer = repo.snapshotPath(h.commit, file);
  const blob = path.join(repo.dir, 'blobs', h.etag);
  if (!fs.existsSync(blob)) {
    const lock = path.join(repo.s.cacheDir, '.locks', path.basename(repo.dir), `${h.etag}.lock`);
    await withLock(lock, async () => {
      if (!fs.existsSync(blob)) await downloadBlob(repo, file, h, blob); // another process may have finished it
    });
  }
  if (!fs.existsSync(pointer)) link(blob, pointer);
  writeRef(repo, h.commit);
  return pointer;
}

/**
 * Downloads one file of a model repo into the cache (or finds it there) and returns its snapshot path;
 * undefined when `required` is false and the repo has no such file.
 */
export async function downloadFile(repoId: string, file: string, options: ResolveOptions & { required?: boolean } = {}): Promise<string | undefined> {
  if (!REPO_ID_RE.test(repoId) || repoId.includes('..')) throw new HubError(`'${repoId}' is not a hub model id of the form owner/name`, repoId);
  return fetchFile(new Repo(repoId, settings(options)), file, options.required ?? true);
}

/**
 * A local model folder for `idOrPath`: an existing directory as is; otherwise a hub id `owner/name`, whose
 * config, tokenizer files and safetensors weights (single file, or the index and every shard) are downloaded
 * into the Hugging Face cache (vocab.json + merges.txt instead when there is no tokenizer.json). Returns the snapshot folder, which `openCheckpoint` and `loadTokenizer` read.
 */
export async function resolveModel(idOrPath: string, options: ResolveOptions = {}): Promise<string> {
  if (fs.existsSync(idOrPath)) {
    if (fs.statSync(idOrPath).isDirectory()) return path.resolve(idOrPath);
    throw new HubError(`'${idOrPath}' is a file, not a model folder`, idOrPath);
  }
  if (!REPO_ID_RE.test(idOrPath) || idOrPath.includes('..'))
    throw new HubError(`'${idOrPath}' is neither an existing folder nor a hub model id of the form owner/name`, idOrPath);
  const repo = new Repo(idOrPath, settings(options));
  let snapshot: string | undefined;
  let tokenizerJson: string | undefined;
  for (const { file, required } of MODEL_FILES) {
    const p = await fetchFile(repo, file, required);
    if (p && file === CONFIG_FILE) snapshot = path.dirname(p);
    if (file === 'tokenizer.json') tokenizerJson = p;
  }
  // GPT-2 style tokenizers (OPT) have no tokenizer.json; loadTokenizer builds one from these.
  if (!tokenizerJson) for (const file of ['vocab.json', 'merges.txt']) await fetchFile(repo, file, false);
  const single = await fetchFile(repo, WEIGHTS_FILE, false);
  if (!single) {
    const index = await fetchFile(repo, WEIGHTS_INDEX_FILE, false);
    if (!index)
      throw new HubError(`model '${repo.id}' has neither ${WEIGHTS_FILE} nor ${WEIGHTS_INDEX_FILE} at revision '${repo.s.revision}' (only safetensors weights are supported)`, repo.url(WEIGHTS_FILE), 404);
    let map: unknown;
    try {
      map = (JSON.parse(fs.readFileSync(index, 'utf8')) as { weight_map?: unknown }).weight_map;
    } catch (e) {
      throw new HubError(`${index}: not valid JSON: ${(e as Error).message}`, repo.url(WEIGHTS_INDEX_FILE));
    }
    if (typeof map !== 'object' || map === null) throw new HubError(`${index}: no 'weight_map' object`, repo.url(WEIGHTS_INDEX_FILE));
    const shards = [...new Set(Object.values(map as Record<string, unknown>))];
    for (const shard of shards) {
      if (typeof shard !== 'string') throw new HubError(`${index}: weight_map values must be file names`, repo.url(WEIGHTS_INDEX_FILE));
      await fetchFile(repo, shard, true);
    }
  }
  return snapshot!;
}
