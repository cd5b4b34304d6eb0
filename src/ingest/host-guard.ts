/**
 * Which hosts the ffmpeg of one http(s) source may reach. ffmpeg's
 * protocol whitelist tells protocols apart, not hosts: an HLS playlist on
 * an allowed camera could send it to any host for its segments or variant
 * playlists. Every request of such an ffmpeg goes through the host guard
 * proxy (host-guard-proxy.ts), which asks these rules. Pure: no I/O.
 */

export interface HostTarget {
  /** Lower case, no brackets around an IPv6 address, no trailing dot. */
  host: string;
  port: number;
}

export interface HostGuardRules {
  /** host:port pairs allowed as they are: the source URL's own. */
  exact: readonly HostTarget[];
  /** Host names or IPs allowed on any port ('*.example.com' matches subdomains): the allowlist's hosts. */
  patterns: readonly string[];
}

const DEFAULT_PORTS: Record<string, number> = { 'http:': 80, 'https:': 443 };

/** A host as the rules compare it: `[::1]` -> `::1`, `Cam.Local.` -> `cam.local`. */
export function normalizeHost(host: string): string {
  return host.replace(/^\[|\]$/g, '').replace(/\.$/, '').toLowerCase();
}

/** True when `host` is `pattern`, or a subdomain of it for a `*.domain` pattern. */
export function hostMatches(host: string, pattern: string): boolean {
  const h = normalizeHost(host);
  const p = normalizeHost(pattern);
  if (p === h) return true;
  if (p.startsWith('*.')) return h.endsWith(p.slice(1)) && h.length > p.length - 1;
  return false;
}

/** The host and port an http(s) URL reaches (default port filled in); undefined for anything else. */
export function targetOfUrl(url: string): HostTarget | undefined {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return undefined;
  }
  const defaultPort = DEFAULT_PORTS[u.protocol];
  if (defaultPort === undefined || u.hostname === '') return undefined;
  return { host: normalizeHost(u.hostname), port: u.port === '' ? defaultPort : Number(u.port) };
}

/** The target of a CONNECT request line (`host:port`, `[v6]:port`); undefined when malformed. */
export function parseAuthority(authority: string): HostTarget | undefined {
  const m = /^(\[[0-9a-fA-F:.]+\]|[^\s:/[\]@]+):(\d{1,5})$/.exec(authority);
  if (!m) return undefined;
  const port = Number(m[2]);
  if (port < 1 || port > 65535) return undefined;
  return { host: normalizeHost(m[1]!), port };
}

/** The rules of a source: its own host:port, plus `patterns` (the allowlist's hosts) on any port. */
export function hostGuardRulesFor(sourceUrl: string, patterns: readonly string[] = []): HostGuardRules {
  const own = targetOfUrl(sourceUrl);
  return { exact: own ? [own] : [], patterns: [...patterns] };
}

export function isTargetAllowed(rules: HostGuardRules, target: HostTarget): boolean {
  const host = normalizeHost(target.host);
  if (rules.exact.some((t) => normalizeHost(t.host) === host && t.port === target.port)) return true;
  return rules.patterns.some((p) => hostMatches(host, p));
}

/** `host:port` as shown in messages (IPv6 in brackets). */
export function formatTarget(t: HostTarget): string {
  return t.host.includes(':') ? `[${t.host}]:${t.port}` : `${t.host}:${t.port}`;
}
