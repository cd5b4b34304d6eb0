/**
 * Credentials never leave the process in text: camera URLs carry them
 * (`rtsp://user:pass@cam/...`, `?password=...`), and ffmpeg repeats the URL
 * in its own messages. Everything shown (logs, status details, error
 * reports, metrics) goes through here first. Pure.
 */

/** What replaces a secret. */
export const REDACTED = '***';

/** `scheme://userinfo@`: userinfo is everything up to the last '@' before the host's end. */
const USERINFO_RE = /([a-z][a-z0-9+.-]*:\/\/)[^\s/?#@:'"]*(?::[^\s/?#'"]*)?@/gi;
/** Query parameter names (decoded) whose value is a secret. */
const SECRET_NAME_RE = /pass|pwd|token|secret|auth|key|sig|credential/i;
/** Query parameters whose value is a secret, by name. */
const SECRET_PARAM_RE = /([?&;](?:[a-z0-9_.-]*(?:pass|pwd|token|secret|auth|key|sig|credential)[a-z0-9_.-]*)=)[^&#\s'"]*/gi;

/**
 * The URL with its user name and password replaced (`rtsp://***@cam/x`) and
 * the values of secret-looking query parameters (`password`, `token`, `key`,
 * `auth`, ...) too. Anything that is not a URL comes back unchanged.
 */
export function redactUrl(url: string): string {
  return redactText(url);
}

/**
 * An HTTP request target (`/api/streams?token=T`) fit for a log: the value
 * of every query parameter whose name, once decoded as the server decodes
 * it (`t%6Fken`, `access_token`), looks secret is replaced, and URL forms in
 * the rest are redacted as by `redactText`. Never throws, malformed escapes
 * included.
 */
export function redactRequestTarget(target: string): string {
  const q = target.indexOf('?');
  if (q < 0) return redactText(target);
  const hash = target.indexOf('#', q);
  const query = target.slice(q + 1, hash < 0 ? undefined : hash);
  const pairs = query.split('&').map((pair) => {
    const eq = pair.indexOf('=');
    if (eq < 0) return pair;
    // Decoded as the server decodes it (URLSearchParams: `+`, escapes, a malformed one kept as is).
    const decoded = new URLSearchParams(pair).keys().next().value ?? '';
    return SECRET_NAME_RE.test(decoded) ? `${pair.slice(0, eq)}=${REDACTED}` : pair;
  });
  return redactText(`${target.slice(0, q)}?${pairs.join('&')}${hash < 0 ? '' : target.slice(hash)}`);
}

/**
 * Every `scheme://user:pass@` and secret query value in free text (an
 * ffmpeg log line, an error message) redacted, and every string in
 * `secrets` (such as the decoded password of the stream's URL, which
 * ffmpeg may print on its own) replaced wherever it appears.
 */
export function redactText(text: string, secrets: readonly string[] = []): string {
  let out = text.replace(USERINFO_RE, `$1${REDACTED}@`).replace(SECRET_PARAM_RE, `$1${REDACTED}`);
  for (const secret of secrets) {
    // Short secrets (a one-letter user name) would redact half of every line: URL forms above cover them.
    if (secret.length >= 4) out = out.split(secret).join(REDACTED);
  }
  return out;
}

/**
 * The secrets a URL carries, raw and percent-decoded: user name, password,
 * secret query values. Empty for a path or a URL without any.
 */
export function urlSecrets(input: string): string[] {
  let url: URL;
  try {
    url = new URL(input);
  } catch {
    return [];
  }
  const found = new Set<string>();
  const add = (value: string): void => {
    if (value === '') return;
    found.add(value);
    try {
      found.add(decodeURIComponent(value));
    } catch {
      // A malformed escape: the raw form is still redacted.
    }
  };
  add(url.username);
  add(url.password);
  for (const [name, value] of url.searchParams) {
    if (SECRET_NAME_RE.test(name)) {
      add(value);
      add(encodeURIComponent(value));
    }
  }
  return [...found].sort((a, b) => b.length - a.length);
}

/**
 * A redactor bound to one source: redacts URL forms and that source's own
 * secrets. Cheap to call on every log line.
 */
export function redactorFor(input: string): (text: string) => string {
  const secrets = urlSecrets(input);
  return (text) => redactText(text, secrets);
}
