/**
 * HTTP for hub downloads, hardened against a stalled or hostile server: every request has a timeout that
 * also covers each wait for body data (a server that accepts the connection and then sends nothing fails
 * after `timeoutMs` instead of hanging), redirects are followed by hand with a hop limit and loop detection
 * (the token is dropped when a redirect leaves the hub's origin, as browsers and huggingface_hub do), and
 * bodies are streamed with a hard byte limit.
 */
import { HubError } from '../../core/errors.js';

/** A failure of the connection itself (refused, reset, timed out): the caller may retry or use the cache. */
export class NetworkError extends HubError {}

/** Aborts a request when `ms` pass without `touch()`: the connect timeout, then the read (idle) timeout. */
export class IdleTimer {
  readonly controller = new AbortController();
  timedOut = false;
  private timer: ReturnType<typeof setTimeout> | undefined;
  constructor(readonly ms: number) {
    this.touch();
  }

  touch(): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timedOut = true;
      this.controller.abort(new Error(`timed out after ${this.ms} ms`));
    }, this.ms);
  }

  stop(): void {
    clearTimeout(this.timer);
  }
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);

/** What a timeout says, and how to change it. */
export function timeoutText(ms: number): string {
  return `timed out after ${ms} ms without data (OPSHIFT_HUB_TIMEOUT_MS or the timeoutMs option sets the limit)`;
}

/** One request, no redirect following; the timer is running when it returns (stop it, or touch it per chunk). */
export async function send(url: string, init: { method: 'GET' | 'HEAD'; headers: Record<string, string> }, timeoutMs: number): Promise<{ res: Response; timer: IdleTimer }> {
  const timer = new IdleTimer(timeoutMs);
  try {
    const res = await fetch(url, { ...init, redirect: 'manual', signal: timer.controller.signal });
    timer.touch();
    return { res, timer };
  } catch (e) {
    timer.stop();
    if (timer.timedOut) throw new NetworkError(`network error fetching ${url}: ${timeoutText(timeoutMs)}`, url);
    const cause = (e as { cause?: { message?: string; code?: string } }).cause;
    throw new NetworkError(`network error fetching ${url}: ${cause?.code ?? ''} ${cause?.message ?? (e as Error).message}`.replace(/\s+/g, ' ').trim(), url);
  }
}

/** Drops the response body (and the connection, if the server keeps sending). */
export async function discard(res: Response, timer: IdleTimer): Promise<void> {
  timer.stop();
  try {
    await res.body?.cancel();
  } catch {
    // the connection is already gone: nothing to drop
  }
}

export interface FollowOptions {
  readonly headers: Record<string, string>;
  readonly timeoutMs: number;
  readonly maxRedirects: number;
  /** Which redirects to follow (HEAD follows only same-host ones); the response is returned as is otherwise. */
  readonly follow?: (res: Response, hop: number) => boolean;
}

/**
 * A request that follows redirects up to `maxRedirects` hops; a loop (a URL seen twice) or too many hops is a
 * HubError naming the first and last URLs. Only http(s) targets are followed.
 */
export async function requestFollowing(method: 'GET' | 'HEAD', start: string, o: FollowOptions): Promise<{ res: Response; timer: IdleTimer; url: string }> {
  const seen = new Set<string>([start]);
  const origin = new URL(start).origin;
  let url = start;
  for (let hop = 0; ; hop++) {
    // The token goes only to the hub's own origin: a CDN (or a hostile redirect) never sees it.
    const headers = { ...o.headers };
    if (new URL(url).origin !== origin) delete headers.authorization;
    const { res, timer } = await send(url, { method, headers }, o.timeoutMs);
    const loc = res.headers.get('location');
    if (!REDIRECTS.has(res.status) || loc === null || (o.follow && !o.follow(res, hop))) return { res, timer, url };
    await discard(res, timer);
    let next: URL;
    try {
      next = new URL(loc, url);
    } catch {
      throw new HubError(`${url} redirects to ${JSON.stringify(loc)}, which is not a URL`, url, res.status);
    }
    if (next.protocol !== 'http:' && next.protocol !== 'https:') throw new HubError(`${url} redirects to ${next.href}: only http and https are followed`, url, res.status);
    if (seen.has(next.href)) throw new HubError(`redirect loop fetching ${start}: ${url} redirects back to ${next.href}`, start, res.status);
    if (hop + 1 > o.maxRedirects) throw new HubError(`too many redirects fetching ${start}: more than ${o.maxRedirects} (last ${url} → ${next.href})`, start, res.status);
    seen.add(next.href);
    url = next.href;
  }
}

/**
 * Streams `res`'s body to `write`, touching the idle timer per chunk; throws a HubError as soon as the file
 * would pass `limit.bytes` (`offset` bytes of it are already on disk; `text` says where the limit comes
 * from), a NetworkError on a dropped connection or a timeout. Returns the number of body bytes written.
 */
export async function streamBody(
  res: Response,
  timer: IdleTimer,
  url: string,
  limit: { bytes: number; text: string; offset: number },
  write: (b: Uint8Array) => void,
): Promise<number> {
  let done = 0;
  let writeFailed = false;
  try {
    if (!res.body) return 0;
    for await (const chunk of res.body) {
      timer.touch();
      const bytes = chunk as Uint8Array;
      if (limit.offset + done + bytes.length > limit.bytes) {
        timer.controller.abort(new Error('over the size limit'));
        throw new HubError(`${url}: the server sent more than ${limit.bytes} bytes (${limit.text}); the download was stopped there`, url);
      }
      writeFailed = true;
      write(bytes);
      writeFailed = false;
      done += bytes.length;
    }
    return done;
  } catch (e) {
    if (e instanceof HubError || writeFailed) throw e; // a full disk is not a network error
    const cause = (e as { cause?: { message?: string } }).cause;
    const why = timer.timedOut ? timeoutText(timer.ms) : (cause?.message ?? (e as Error).message);
    throw new NetworkError(`network error downloading ${url} after ${limit.offset + done} bytes: ${why}`, url);
  } finally {
    timer.stop();
  }
}
