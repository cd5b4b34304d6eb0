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
  /**
   * The allowlist's host entries (parseHostEntry): a host name or IP
   * ('*.example.com' matches subdomains), on any port, or with `:port` on
   * that port only.
   */
  patterns: readonly string[];
}

const DEFAULT_PORTS: Record<string, number> = { 'http:': 80, 'https:': 443 };

/** An allowlist host entry, parsed: `cam.local`, `*.cams.example`, `10.0.0.5:554`, `[fe80::1]:8554`, `::1`. */
export interface HostEntry {
  /** As normalizeHost gives it; may start with `*.`. */
  host: string;
  /** The only port allowed; undefined: every port. */
  port?: number | undefined;
}

const ENTRY_NAME_RE = /^(?:\*\.)?[a-z0-9_](?:[a-z0-9_.-]*[a-z0-9_])?\.?$/i;
const ENTRY_V6_RE = /^[0-9a-f:.]+$/i;

/**
 * Parses an allowlist host entry; undefined when malformed. A port is
 * written after a colon (`host:554`); an IPv6 address with a port goes in
 * brackets (`[::1]:554`); a bare IPv6 address (two colons or more) has none.
 */
export function parseHostEntry(entry: string): HostEntry | undefined {
  const text = entry.trim();
  let host = text;
  let portText: string | undefined;
  const bracketed = /^\[([0-9a-f:.]+)\](?::(\d{1,5}))?$/i.exec(text);
  if (bracketed) {
    host = bracketed[1]!;
    portText = bracketed[2];
  } else if ((text.match(/:/g) ?? []).length === 1) {
    [host, portText] = text.split(':') as [string, string];
    if (!/^\d{1,5}$/.test(portText)) return undefined;
  }
  const isV6 = host.includes(':');
  if (isV6 ? !ENTRY_V6_RE.test(host) : !ENTRY_NAME_RE.test(host)) return undefined;
  if (portText === undefined) return { host: normalizeHost(host) };
  const port = Number(portText);
  if (port < 1 || port > 65535) return undefined;
  return { host: normalizeHost(host), port };
}

/**
 * True when an allowlist entry allows `host` on `port`: the host matches
 * (hostMatches) and the entry names no port or this one. `port` undefined
 * (a URL with no port and a scheme without a default one) matches only an
 * entry without a port. A malformed entry matches nothing.
 */
export function hostEntryAllows(entry: string, host: string, port: number | undefined): boolean {
  const parsed = parseHostEntry(entry);
  if (!parsed || !hostMatches(host, parsed.host)) return false;
  return parsed.port === undefined || parsed.port === port;
}

/** A host as the rules compare it: `[::1]` -> `::1`, `Cam.Local.` -> `cam.local`. */
export function normalizeHost(host: string): string {
  return host
    .replace(/^\[|\]$/g, '')
    .replace(/\.$/, '')
    .toLowerCase();
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

/** The rules of a source: its own host:port, plus `patterns` (the allowlist's host entries, each on any port or on its own). */
export function hostGuardRulesFor(sourceUrl: string, patterns: readonly string[] = []): HostGuardRules {
  const own = targetOfUrl(sourceUrl);
  return { exact: own ? [own] : [], patterns: [...patterns] };
}

export function isTargetAllowed(rules: HostGuardRules, target: HostTarget): boolean {
  const host = normalizeHost(target.host);
  if (rules.exact.some((t) => normalizeHost(t.host) === host && t.port === target.port)) return true;
  return rules.patterns.some((p) => hostEntryAllows(p, host, target.port));
}

/** `host:port` as shown in messages (IPv6 in brackets). */
export function formatTarget(t: HostTarget): string {
  return t.host.includes(':') ? `[${t.host}]:${t.port}` : `${t.host}:${t.port}`;
}

/** `https://[userinfo@]authority` in a playlist or a Location header, up to the path. */
const HTTPS_AUTHORITY_RE = /https:\/\/([^\s/?#"'<>]+)/gi;

/** `host:port` of a target, as a key of a set. */
export function targetKey(t: HostTarget): string {
  return formatTarget({ host: normalizeHost(t.host), port: t.port });
}

/**
 * An https source as its guarded ffmpeg opens it: the same URL over plain
 * http with the port spelled out (`https://cam/x` -> `http://cam:443/x`),
 * so that ffmpeg needs neither tls nor its `httpproxy` protocol (which a
 * playlist could name to reach any host directly). The proxy speaks TLS
 * to the camera. Undefined for a URL that is not https.
 */
export function downgradeHttpsUrl(url: string): { url: string; tls: HostTarget } | undefined {
  if (!/^https:\/\//i.test(url)) return undefined;
  const tls = targetOfUrl(url);
  if (!tls) return undefined;
  const rest = url.slice('https://'.length);
  const cut = rest.search(/[/?#]/);
  const authority = cut < 0 ? rest : rest.slice(0, cut);
  const at = authority.lastIndexOf('@');
  const userinfo = at < 0 ? '' : authority.slice(0, at + 1);
  const tail = cut < 0 ? '/' : rest[cut] === '/' ? rest.slice(cut) : `/${rest.slice(cut)}`;
  return { url: `http://${userinfo}${formatTarget(tls)}${tail}`, tls };
}

/**
 * Every https:// URL of a playlist (or a Location header) rewritten as
 * downgradeHttpsUrl does, so that ffmpeg asks the proxy for it in the clear
 * and the proxy decides: the targets returned (allowed ones only) are then
 * reached over TLS; the others are refused like any other host. Pure.
 */
export function downgradeHttpsUrls(text: string, rules: HostGuardRules): { text: string; tls: HostTarget[] } {
  const tls: HostTarget[] = [];
  const out = text.replace(HTTPS_AUTHORITY_RE, (match: string) => {
    const d = downgradeHttpsUrl(`${match}/`);
    if (!d) return match;
    if (isTargetAllowed(rules, d.tls)) tls.push(d.tls);
    return d.url.slice(0, -1);
  });
  return { text: out, tls };
}
