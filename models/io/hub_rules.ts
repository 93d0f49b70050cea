/**
 * What the hub (or anything pretending to be one) may name, checked before a name becomes a URL or a path in
 * the cache: revisions, ETags, commit hashes, repo ids and file names. A revision `../../x` or an ETag `..`
 * would otherwise write outside the cache or alias every blob to one file; every path written is also
 * checked to be inside the cache root.
 */
import * as path from 'node:path';
import { HubError } from '../../core/errors.js';

export const COMMIT_RE = /^[0-9a-f]{40}$/;
const REPO_ID_RE = /^[A-Za-z0-9][A-Za-z0-9._-]*\/[A-Za-z0-9._-]+$/;
/** Control characters (NUL included): never part of a name. */
// eslint-disable-next-line no-control-regex
const CONTROL_RE = /[\x00-\x1f\x7f]/;

/** A hub model id `owner/name` (no `..`, no `.` segment). */
export function isRepoId(id: string): boolean {
  return REPO_ID_RE.test(id) && !id.includes('..') && !id.split('/').includes('.');
}

/**
 * A revision is a 40-hex commit or a branch/tag name as git's check-ref-format allows it (`refs/pr/1`
 * included): no `..`, no leading or trailing `/`, no empty or dot-leading segment, no backslash, control
 * character or any of ` ~^:?*[`, no `@{`, not ending in `.lock` or `.`. It becomes `refs/<revision>` in
 * the cache and a URL segment.
 */
export function revisionProblem(rev: string): string | undefined {
  if (COMMIT_RE.test(rev)) return undefined;
  if (rev.length === 0) return 'is empty';
  if (rev.length > 255) return `is ${rev.length} characters long (at most 255)`;
  if (CONTROL_RE.test(rev)) return 'contains a control character';
  if (/[\\ ~^:?*[]/.test(rev)) return 'contains one of \\ ~ ^ : ? * [ or a space';
  if (rev.includes('..')) return "contains '..'";
  if (rev.includes('@{')) return "contains '@{'";
  if (rev.startsWith('/') || rev.endsWith('/')) return "begins or ends with '/'";
  if (rev.split('/').some((s) => s === '' || s.startsWith('.'))) return "has an empty segment or one starting with '.'";
  if (rev.endsWith('.lock') || rev.endsWith('.')) return "ends in '.lock' or '.'";
  return undefined;
}

export function checkRevision(rev: string, repoId: string): void {
  const p = revisionProblem(rev);
  if (p) throw new HubError(`revision ${JSON.stringify(rev)} of '${repoId}' ${p}: not a commit hash, branch or tag name`, repoId);
}

/**
 * An ETag names the blob file in the cache: after removing `W/` and quotes, 1 to 255 of [A-Za-z0-9._-], not
 * starting with '.' (so never `.` or `..`) and not ending in `.incomplete` (a partial download's name).
 */
export function checkEtag(raw: string | null, url: string): string {
  const e = raw?.replace(/^W\//, '').replace(/^"(.*)"$/, '$1') ?? '';
  if (!/^[A-Za-z0-9_-][A-Za-z0-9._-]{0,254}$/.test(e) || e.endsWith('.incomplete'))
    throw new HubError(
      `${url}: the server's ETag ${JSON.stringify(raw)} is not usable as a blob name (1-255 of A-Z a-z 0-9 . _ -, not starting with '.'); is it a Hugging Face hub?`,
      url,
    );
  return e;
}

/** A path inside a repo: relative, `/`-separated, no `.`/`..`/empty segments, no backslash or control character. */
export function checkRepoFile(file: string, where: string): void {
  const parts = file.split('/');
  if (file.length === 0 || file.length > 1024 || file.startsWith('/') || file.includes('\\') || CONTROL_RE.test(file) || parts.some((p) => p === '' || p === '.' || p === '..'))
    throw new HubError(`${where}: ${JSON.stringify(file)} is not a valid file path inside a repository (relative, no '.', '..' or empty segments, no backslash)`, file);
}

/** `p`, after checking that it resolves to a path strictly inside `root` (the cache folder). */
export function insideCache(root: string, p: string): string {
  const rel = path.relative(path.resolve(root), path.resolve(p));
  if (rel === '' || rel === '..' || rel.startsWith(`..${path.sep}`) || path.isAbsolute(rel))
    throw new HubError(`refusing to write ${p}: it is outside the hub cache ${root}`, p);
  return p;
}
