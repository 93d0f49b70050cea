/**
 * A malicious (or just broken) hub on loopback, for test/hub.test.ts and test/fuzz_hub.test.ts. Each repo
 * `owner/name` serves its files with a `Behavior` that can lie about sizes, ETags and commits, stall, send
 * forever, redirect in loops or to other hosts. Everything it sends is bounded: an "endless" body stops
 * after `ENDLESS_BYTES` or when the client goes away, a stall ends when the server closes.
 */
import { createHash } from 'node:crypto';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';

/** The most an "endless" body sends before giving up (the client must stop long before). */
export const ENDLESS_BYTES = 64 * 1024 * 1024;

export interface Behavior {
  /** x-repo-commit value (null: none). Default a valid 40-hex commit. */
  commit?: string | null;
  /** ETag value for a file (null: none). Default `"<sha1 of the body>"`, or the sha256 for LFS files. */
  etag?: (file: string, body: Buffer) => string | null;
  /** Answer like an LFS file: 302 to /cdn/... with x-linked-etag / x-linked-size. */
  lfs?: (file: string) => boolean;
  /** The declared size (x-linked-size or content-length; null: none). Default the body's length. */
  declaredSize?: (file: string, body: Buffer) => string | null;
  /** What the GET actually sends after the body: extra bytes, or (endless) bytes until the client leaves. */
  extra?: number | 'endless';
  /** Never answer the HEAD (true), or send part of the GET body and then nothing (the fraction sent). */
  stallHead?: boolean;
  stallBody?: number;
  /** Redirect every HEAD: to itself (loop), through n hops (chain), or to another host absolute URL. */
  redirect?: { kind: 'loop' } | { kind: 'chain'; hops: number } | { kind: 'cdn-loop' };
  /** HTTP status for every HEAD (e.g. 500); retried once by the client. */
  status?: number;
  /** Cut the GET connection half way through this many times, then serve normally. */
  drops?: number;
  /** The files `extra`, `stallBody` and `drops` apply to (default all). */
  target?: (file: string) => boolean;
}

export interface EvilRepo {
  files: Map<string, Buffer>;
  behavior: Behavior;
}

export const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
export const sha1 = (b: Buffer): string => createHash('sha1').update(b).digest('hex');
export const COMMIT = sha1(Buffer.from('evil hub commit'));

export interface EvilHub {
  readonly endpoint: string;
  readonly repos: Map<string, EvilRepo>;
  /** Requests seen: method and path. */
  readonly log: { method: string; path: string; range?: string }[];
  close(): Promise<void>;
}

function headersFor(repo: EvilRepo, file: string, body: Buffer): Record<string, string> {
  const b = repo.behavior;
  const h: Record<string, string> = {};
  const commit = b.commit === undefined ? COMMIT : b.commit;
  if (commit !== null) h['x-repo-commit'] = commit;
  const lfs = b.lfs?.(file) ?? false;
  const etag = b.etag ? b.etag(file, body) : `"${lfs ? sha256(body) : sha1(body)}"`;
  const size = b.declaredSize ? b.declaredSize(file, body) : String(body.length);
  if (lfs) {
    if (etag !== null) h['x-linked-etag'] = etag;
    if (size !== null) h['x-linked-size'] = size;
  } else {
    if (etag !== null) h.etag = etag;
    if (size !== null) h['content-length'] = size;
  }
  return h;
}

/** Sends `body`, then what the behavior adds; honours a `bytes=N-` range. */
function sendBody(req: http.IncomingMessage, res: http.ServerResponse, repo: EvilRepo, file: string, body: Buffer, dropsLeft: Map<string, number>): void {
  const b = (repo.behavior.target?.(file) ?? true) ? repo.behavior : {};
  const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
  const start = m ? Math.min(Number(m[1]), body.length) : 0;
  const part = body.subarray(start);
  const head: Record<string, string> = {};
  // A declared length only when the body is what it says (chunked otherwise, so lies are in the HEAD only).
  if (b.extra === undefined && b.stallBody === undefined) head['content-length'] = String(part.length);
  if (m) head['content-range'] = `bytes ${start}-${body.length - 1}/${body.length}`;
  res.writeHead(m ? 206 : 200, head);
  const key = file;
  const drops = dropsLeft.get(key) ?? b.drops ?? 0;
  if (drops > 0) {
    dropsLeft.set(key, drops - 1);
    res.write(part.subarray(0, part.length >> 1), () => setTimeout(() => res.destroy(), 10));
    return;
  }
  if (b.stallBody !== undefined) {
    res.write(part.subarray(0, Math.floor(part.length * b.stallBody))); // and nothing more until the client leaves
    return;
  }
  if (b.extra === 'endless') {
    let sent = 0;
    const chunk = Buffer.alloc(64 * 1024, 0x41);
    res.write(part);
    const pump = (): void => {
      while (sent < ENDLESS_BYTES && !res.destroyed) {
        sent += chunk.length;
        if (!res.write(chunk)) return void res.once('drain', pump);
      }
      res.end();
    };
    pump();
    return;
  }
  res.end(b.extra ? Buffer.concat([part, Buffer.alloc(b.extra, 0x42)]) : part);
}

export async function startEvilHub(): Promise<EvilHub> {
  const repos = new Map<string, EvilRepo>();
  const log: EvilHub['log'] = [];
  const dropsLeft = new Map<string, number>();
  let endpoint = '';
  const server = http.createServer((req, res) => {
    const url = new URL(req.url!, endpoint);
    log.push({ method: req.method!, path: url.pathname, ...(req.headers.range ? { range: req.headers.range } : {}) });
    const cdn = /^\/cdn\/([^/]+)\/([^/]+)\/(.+)$/.exec(url.pathname);
    if (cdn) {
      const repo = repos.get(`${cdn[1]}/${cdn[2]}`);
      const file = decodeURIComponent(cdn[3]!);
      const body = repo?.files.get(file);
      if (!repo || !body) return void res.writeHead(404).end();
      if (repo.behavior.redirect?.kind === 'cdn-loop') return void res.writeHead(302, { location: url.pathname }).end();
      return sendBody(req, res, repo, file, body, dropsLeft);
    }
    const m = /^\/([^/]+\/[^/]+)\/resolve\/([^/]+)\/(.+)$/.exec(url.pathname);
    if (!m) return void res.writeHead(404).end();
    const repo = repos.get(m[1]!);
    if (!repo) return void res.writeHead(401, { 'x-error-code': 'RepoNotFound' }).end();
    const file = decodeURIComponent(m[3]!);
    const b = repo.behavior;
    if (req.method === 'HEAD' && b.stallHead) return; // never answers
    const r = b.redirect;
    if (req.method === 'HEAD' && r?.kind === 'loop') return void res.writeHead(307, { location: url.pathname }).end();
    if (req.method === 'HEAD' && r?.kind === 'chain') {
      const hop = Number(url.searchParams.get('hop') ?? '0');
      if (hop < r.hops) return void res.writeHead(307, { location: `${url.pathname}?hop=${hop + 1}` }).end();
    }
    if (req.method === 'HEAD' && b.status) return void res.writeHead(b.status).end();
    const body = repo.files.get(file);
    if (!body) return void res.writeHead(404, { 'x-error-code': 'EntryNotFound', 'x-repo-commit': COMMIT }).end();
    const h = headersFor(repo, file, body);
    if (b.lfs?.(file)) {
      const cdnPath = `/cdn/${m[1]}/${encodeURIComponent(file)}`;
      return void res.writeHead(302, { ...h, location: `${endpoint}${cdnPath}`, 'content-length': '0' }).end();
    }
    if (req.method === 'HEAD') return void res.writeHead(200, h).end();
    sendBody(req, res, repo, file, body, dropsLeft);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    endpoint,
    repos,
    log,
    close: async () => {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
}
