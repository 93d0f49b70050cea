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
 *
 * A hostile or broken server cannot hurt the machine: revisions, ETags, commits and file names are checked
 * against the hub's rules before they become paths (hub_rules.ts) and every path written must lie inside the
 * cache; downloads stop at the declared size (or `maxBytes` without one); every request has a timeout with
 * one retry (hub_http.ts); redirects are limited; LFS files are checked against their sha256 ETag.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CheckpointError, HubError } from '../../core/index.js';
import { CONFIG_FILE, GENERATION_CONFIG_FILE, readJson, WEIGHTS_FILE, WEIGHTS_INDEX_FILE } from './checkpoint.js';
import { discard, NetworkError, requestFollowing, streamBody, type IdleTimer } from './hub_http.js';
import { checkEtag, checkRepoFile, checkRevision, COMMIT_RE, insideCache, isRepoId } from './hub_rules.js';

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
  /** Connect and read timeout of every request, in ms (one retry follows a timeout). Default `OPSHIFT_HUB_TIMEOUT_MS`, else 10000, as huggingface_hub. */
  timeoutMs?: number;
  /**
   * The largest file downloaded, declared or not: a server that declares more, or sends more than it declared
   * (or than this when it declares nothing), is stopped. Default `OPSHIFT_HUB_MAX_BYTES`, else 50 GB (the
   * hub's own limit per file).
   */
  maxBytes?: number;
  /** Where the defaults above are read from. Default process.env. */
  env?: Readonly<Record<string, string | undefined>>;
}

/** huggingface_hub's HF_HUB_ETAG_TIMEOUT / HF_HUB_DOWNLOAD_TIMEOUT default. */
export const DEFAULT_TIMEOUT_MS = 10_000;
/** The hub refuses files over 50 GB, so no real download is larger. */
export const DEFAULT_MAX_BYTES = 50_000_000_000;
/** Redirect hops: HEAD follows only same-host renames, GET the CDN hop (and a few more for mirrors). */
const HEAD_REDIRECTS = 5;
const GET_REDIRECTS = 10;

/** The files a model folder needs besides the weights; `required` ones fail the resolve when missing. */
export const MODEL_FILES: readonly { readonly file: string; readonly required: boolean }[] = [
  { file: CONFIG_FILE, required: true },
  { file: GENERATION_CONFIG_FILE, required: false },
  { file: 'tokenizer.json', required: false },
  { file: 'tokenizer_config.json', required: false },
  { file: 'special_tokens_map.json', required: false },
];


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
  readonly timeoutMs: number;
  readonly maxBytes: number;
}

/** A positive integer option, else its environment variable, else the default; a bad value names its source. */
function positiveSetting(option: number | undefined, optionName: string, envValue: string | undefined, envName: string, fallback: number): number {
  const ok = (v: number): boolean => Number.isSafeInteger(v) && v > 0;
  if (option !== undefined) {
    if (!ok(option)) throw new HubError(`option ${optionName} must be a positive integer, got ${option}`, '');
    return option;
  }
  if (envValue !== undefined && envValue.trim() !== '') {
    const v = Number(envValue.trim());
    if (!ok(v)) throw new HubError(`${envName} must be a positive integer, got ${JSON.stringify(envValue)}`, '');
    return v;
  }
  return fallback;
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
    timeoutMs: positiveSetting(o.timeoutMs, 'timeoutMs', env.OPSHIFT_HUB_TIMEOUT_MS, 'OPSHIFT_HUB_TIMEOUT_MS', DEFAULT_TIMEOUT_MS),
    maxBytes: positiveSetting(o.maxBytes, 'maxBytes', env.OPSHIFT_HUB_MAX_BYTES, 'OPSHIFT_HUB_MAX_BYTES', DEFAULT_MAX_BYTES),
  };
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
    // The revision becomes refs/<revision> in the cache and a URL segment: checked before either exists.
    checkRevision(s.revision, id);
    this.dir = path.join(s.cacheDir, `models--${id.split('/').join('--')}`);
  }

  /** `p` if it lies inside the cache root (every path written goes through this). */
  inCache(p: string): string {
    return insideCache(this.s.cacheDir, p);
  }

  url(file: string): string {
    return `${this.s.endpoint}/${this.id}/resolve/${encodeURIComponent(this.s.revision)}/${file.split('/').map(encodeURIComponent).join('/')}`;
  }

  /** The commit the revision points to in the cache, if known. */
  cachedCommit(): string | undefined {
    if (COMMIT_RE.test(this.s.revision)) return this.s.revision;
    try {
      // A ref file holds a commit hash; anything else (edited, corrupt) is ignored rather than used in a path.
      const c = fs.readFileSync(path.join(this.dir, 'refs', this.s.revision), 'utf8').trim();
      return COMMIT_RE.test(c) ? c : undefined;
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

interface Head {
  readonly commit: string;
  readonly etag: string;
  readonly size: number | undefined;
  /** An LFS file: its ETag is the sha256 of its contents, checked after the download. */
  readonly sha256: boolean;
}

/** Runs `fn` once more after a network failure or a 5xx answer (a stalled or briefly overloaded server). */
async function withRetry<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    if (e instanceof NetworkError || (e instanceof HubError && e.status !== undefined && e.status >= 500)) return fn();
    throw e;
  }
}

/** HEAD on the resolve URL, following only same-host (relative) redirects, e.g. a renamed repo. */
async function head(repo: Repo, file: string): Promise<Head | undefined> {
  const start = repo.url(file);
  // The hub answers LFS files with a redirect to its CDN: that response has everything we need.
  const follow = (r: Response): boolean => (r.headers.get('location') ?? '').startsWith('/') && !r.headers.get('x-linked-etag');
  const { res, timer, url } = await requestFollowing('HEAD', start, { headers: repo.headers(), timeoutMs: repo.s.timeoutMs, maxRedirects: HEAD_REDIRECTS, follow });
  await discard(res, timer);
  if (res.status === 404 && res.headers.get('x-error-code') !== 'RepoNotFound' && res.headers.get('x-error-code') !== 'RevisionNotFound')
    return undefined; // EntryNotFound: the caller decides whether the file was optional
  if (!(res.status >= 300 && res.status < 400) && !res.ok) throw httpError(repo, file, url, res);
  const commit = res.headers.get('x-repo-commit') ?? (COMMIT_RE.test(repo.s.revision) ? repo.s.revision : null);
  if (!commit || !COMMIT_RE.test(commit))
    throw new HubError(`${url}: the server sent no usable commit hash (x-repo-commit ${JSON.stringify(commit)}, want 40 hex digits); is ${repo.s.endpoint} a Hugging Face hub?`, url);
  const linked = res.headers.get('x-linked-etag');
  const etag = checkEtag(linked ?? res.headers.get('etag'), url);
  const sizeHeader = res.headers.get('x-linked-size') ?? (res.status >= 300 ? null : res.headers.get('content-length'));
  const size = sizeHeader !== null && /^\d{1,16}$/.test(sizeHeader.trim()) ? Number(sizeHeader.trim()) : undefined;
  if (size !== undefined && size > repo.s.maxBytes)
    throw new HubError(`${url}: the server declares ${size} bytes, more than the ${repo.s.maxBytes}-byte limit (maxBytes / OPSHIFT_HUB_MAX_BYTES)`, url);
  return { commit, etag, size, sha256: linked !== null && /^[0-9a-f]{64}$/.test(etag) };
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

/** Free bytes on the filesystem holding `dir`, or undefined where statfs is not available. */
function freeBytes(dir: string): number | undefined {
  try {
    const st = fs.statfsSync(dir);
    return st.bavail * st.bsize;
  } catch {
    return undefined;
  }
}

async function sha256Of(file: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of fs.createReadStream(file)) h.update(chunk as Buffer);
  return h.digest('hex');
}

/**
 * One GET of the file into `partial`, resuming from its current size with a Range request. Stops at the
 * declared size (or maxBytes without one). Throws NetworkError when the connection fails (the caller retries).
 */
async function downloadOnce(repo: Repo, file: string, h: Head, partial: string): Promise<void> {
  let have = fs.existsSync(partial) ? fs.statSync(partial).size : 0;
  if (h.size !== undefined && have > h.size) {
    fs.rmSync(partial);
    have = 0;
  }
  const start = repo.url(file);
  const get = (range: boolean): Promise<{ res: Response; timer: IdleTimer; url: string }> =>
    requestFollowing('GET', start, { headers: repo.headers(range ? { range: `bytes=${have}-` } : {}), timeoutMs: repo.s.timeoutMs, maxRedirects: GET_REDIRECTS });
  let { res, timer, url } = await get(have > 0);
  if (res.status === 416 && have > 0) {
    // The partial file is complete or stale: start over.
    await discard(res, timer);
    fs.rmSync(partial);
    have = 0;
    ({ res, timer, url } = await get(false));
  }
  if (!res.ok) {
    await discard(res, timer);
    throw httpError(repo, file, url, res);
  }
  if (have > 0 && res.status !== 206) have = 0; // the server ignored the Range header: rewrite from the start
  if (have > 0) {
    // A 206 for some other range would splice the wrong bytes in: start over instead.
    const from = /^bytes (\d+)-/.exec(res.headers.get('content-range') ?? '');
    if (!from || Number(from[1]) !== have) {
      await discard(res, timer);
      fs.rmSync(partial);
      throw new NetworkError(`${url}: asked for bytes ${have}- and got content-range ${JSON.stringify(res.headers.get('content-range'))}; the partial file was deleted`, url);
    }
  }
  const free = freeBytes(path.dirname(partial));
  if (h.size !== undefined && free !== undefined && h.size - have > free) {
    await discard(res, timer);
    throw new HubError(`${url}: needs ${h.size - have} more bytes but only ${free} are free in ${path.dirname(partial)}`, url);
  }
  const limit =
    h.size !== undefined
      ? { bytes: h.size, text: 'the size the server declared', offset: have }
      : { bytes: repo.s.maxBytes, text: 'no size was declared; maxBytes / OPSHIFT_HUB_MAX_BYTES is the limit', offset: have };
  const fd = fs.openSync(partial, have > 0 ? 'a' : 'w');
  const bar = new ProgressBar(`${repo.id}/${file}`, h.size, repo.s.progress);
  let done = have;
  try {
    await streamBody(res, timer, url, limit, (bytes) => {
      for (let off = 0; off < bytes.length; ) off += fs.writeSync(fd, bytes, off);
      done += bytes.length;
      bar.update(done);
    });
  } catch (e) {
    if (!(e instanceof NetworkError)) fs.rmSync(partial, { force: true }); // over the limit: nothing worth resuming
    throw e;
  } finally {
    fs.closeSync(fd);
    bar.finish(done);
  }
}

/** GET the file into blobs/<etag>.incomplete (resuming it, one retry), verify size and sha256, move it to blobs/<etag>. */
async function downloadBlob(repo: Repo, file: string, h: Head, blob: string): Promise<void> {
  const partial = repo.inCache(`${blob}.incomplete`);
  fs.mkdirSync(path.dirname(blob), { recursive: true });
  const url = repo.url(file);
  try {
    await withRetry(() => downloadOnce(repo, file, h, partial));
  } catch (e) {
    // The URL may be a CDN's: the message names the repo file too.
    if (e instanceof NetworkError) throw new HubError(`'${file}' of '${repo.id}': ${e.message} (tried twice; run again to resume from ${partial})`, e.url);
    if (e instanceof HubError) throw new HubError(`'${file}' of '${repo.id}': ${e.message}`, e.url, e.status);
    throw e;
  }
  const size = fs.statSync(partial).size;
  if (h.size !== undefined && size !== h.size) {
    fs.rmSync(partial);
    throw new HubError(`size mismatch for ${url}: expected ${h.size} bytes (from the server's headers), got ${size}; the partial file was deleted, run again`, url);
  }
  if (h.sha256) {
    const sum = await sha256Of(partial);
    if (sum !== h.etag) {
      fs.rmSync(partial);
      throw new HubError(`checksum mismatch for ${url}: the ETag says sha256 ${h.etag}, the ${size} bytes received hash to ${sum}; the file was deleted, run again`, url);
    }
  }
  fs.renameSync(partial, repo.inCache(blob));
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
  const ref = repo.inCache(path.join(repo.dir, 'refs', ...repo.s.revision.split('/')));
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
    h = await withRetry(() => head(repo, file));
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
      const marker = repo.inCache(path.join(repo.dir, '.no_exist', commit, ...file.split('/')));
      fs.mkdirSync(path.dirname(marker), { recursive: true });
      fs.writeFileSync(marker, '');
    }
    return undefined;
  }
  const pointer = repo.inCache(repo.snapshotPath(h.commit, file));
  const blob = repo.inCache(path.join(repo.dir, 'blobs', h.etag));
  if (!fs.existsSync(blob)) {
    const lock = repo.inCache(path.join(repo.s.cacheDir, '.locks', path.basename(repo.dir), `${h.etag}.lock`));
    await withLock(lock, async () => {
      if (!fs.existsSync(blob)) await downloadBlob(repo, file, h, blob); // another process may have finished it
    });
  }
  // Blobs are named by ETag: a cached one of another size means the server gave different files one ETag.
  const cached = fs.statSync(blob);
  if (!cached.isFile()) throw new HubError(`${blob}: the cached blob of '${file}' is not a regular file (only regular files are read); delete it and run again`, repo.url(file));
  if (h.size !== undefined && cached.size !== h.size)
    throw new HubError(`${repo.url(file)}: the ETag ${h.etag} names a cached blob of ${cached.size} bytes, but the server declares ${h.size} bytes for '${file}': one ETag for different contents`, repo.url(file));
  if (!fs.existsSync(pointer)) link(blob, pointer);
  writeRef(repo, h.commit);
  return pointer;
}

/**
 * Downloads one file of a model repo into the cache (or finds it there) and returns its snapshot path;
 * undefined when `required` is false and the repo has no such file.
 */
export async function downloadFile(repoId: string, file: string, options: ResolveOptions & { required?: boolean } = {}): Promise<string | undefined> {
  if (!isRepoId(repoId)) throw new HubError(`'${repoId}' is not a hub model id of the form owner/name`, repoId);
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
  if (!isRepoId(idOrPath))
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
    // Bounded and regular-file-only, like every JSON file a checkpoint reads (a CheckpointError names the file).
    const map = readJson(index, 'the weight index').weight_map;
    if (typeof map !== 'object' || map === null || Array.isArray(map)) throw new CheckpointError(index, "'weight_map' must be an object mapping tensor names to shard files");
    const shards = [...new Set(Object.values(map as Record<string, unknown>))];
    for (const shard of shards) {
      if (typeof shard !== 'string') throw new CheckpointError(index, `weight_map values must be file names, got ${JSON.stringify(shard)}`);
      await fetchFile(repo, shard, true);
    }
  }
  return snapshot!;
}
