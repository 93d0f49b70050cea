/**
 * The Host header allow-list that stops DNS rebinding: a web page on evil.example can make the browser resolve
 * its own name to 127.0.0.1 and call this server, but the browser still sends `Host: evil.example`. Only the
 * loopback names, the bound address and what `--allow-host` adds are answered; `*` turns the check off.
 */
import { networkInterfaces } from 'node:os';

export interface HostPolicy {
  /** Lower-case host names without port or brackets; undefined: every host is allowed. */
  readonly names: ReadonlySet<string> | undefined;
}

const WILDCARDS = new Set(['0.0.0.0', '::', '']);

/** The host part of a Host header: lower-cased, port and IPv6 brackets removed. */
export function hostName(header: string): string {
  const h = header.trim().toLowerCase();
  if (h.startsWith('[')) {
    const end = h.indexOf(']');
    return end < 0 ? h : h.slice(1, end);
  }
  const colon = h.indexOf(':');
  // More than one colon without brackets is a bare IPv6 address (no port).
  return colon >= 0 && h.indexOf(':', colon + 1) < 0 ? h.slice(0, colon) : h;
}

/**
 * Allowed names for a server bound to `bindHost`: localhost, 127.0.0.1, ::1, the bound address, and for a
 * wildcard bind (0.0.0.0, ::) this machine's interface addresses, plus `allow` (`*` = any).
 */
export function hostPolicy(bindHost: string, allow: readonly string[] = []): HostPolicy {
  if (allow.some((a) => a.trim() === '*')) return { names: undefined };
  const names = new Set(['localhost', '127.0.0.1', '::1']);
  const bound = hostName(bindHost);
  if (WILDCARDS.has(bound)) {
    for (const list of Object.values(networkInterfaces())) for (const a of list ?? []) names.add(a.address.toLowerCase());
  } else names.add(bound);
  for (const a of allow) if (a.trim()) names.add(hostName(a));
  return { names };
}

/**
 * A request with no Host header cannot come from a browser (every browser sends one), so it is no rebinding
 * risk and is allowed; otherwise the name must be on the list.
 */
export function hostAllowed(policy: HostPolicy, header: string | undefined): boolean {
  if (policy.names === undefined || header === undefined) return true;
  return policy.names.has(hostName(header));
}
