/**
 * The local API's safety checks as pure functions (the server only wires them): Host allow-list
 * against DNS rebinding, same-origin writes (Origin, Sec-Fetch-Site), JSON-only writes (an HTML form can
 * send only urlencoded, multipart or text/plain, so none of them is ever accepted), the session
 * cookie, and the headers every answer carries.
 */
import { timingSafeEqual, createHash } from 'node:crypto';

/**
 * Strict CSP: nothing inline, nothing from elsewhere. The transport JSON in index.html is a
 * `type="application/json"` data block, which the browser never executes, so script-src 'self' holds.
 */
export const CSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

export const SECURITY_HEADERS: Record<string, string> = {
  'content-security-policy': CSP,
  'x-frame-options': 'DENY',
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
};

export const SESSION_COOKIE = 'cg_session';

/** `Host` without the port, lower case; `[::1]:8380` -> `[::1]`. undefined when malformed. */
export function hostName(host: string): string | undefined {
  const h = host.trim().toLowerCase();
  if (h === '' || h.length > 260) return undefined;
  if (h.startsWith('[')) {
    const end = h.indexOf(']');
    if (end < 0) return undefined;
    const rest = h.slice(end + 1);
    if (rest !== '' && !/^:\d{1,5}$/.test(rest)) return undefined;
    return h.slice(0, end + 1);
  }
  const parts = h.split(':');
  if (parts.length > 2 || (parts.length === 2 && !/^\d{1,5}$/.test(parts[1]!))) return undefined;
  return /^[a-z0-9.-]+$/.test(parts[0]!) ? parts[0] : undefined;
}

/**
 * The names a Host header may carry: localhost and the loopback addresses, the listen address (when it
 * is not a wildcard) and the configured ones. A name resolving to us through someone's DNS (rebinding)
 * arrives with that name in Host and is refused.
 */
export function allowedHostNames(listen: string, extra: readonly string[]): Set<string> {
  const names = new Set(['localhost', '127.0.0.1', '[::1]']);
  const l = hostName(listen);
  if (l && l !== '0.0.0.0' && l !== '[::]') names.add(l);
  for (const e of extra) {
    const n = hostName(e.includes(':') && !e.startsWith('[') && e.split(':').length > 2 ? `[${e}]` : e);
    if (n) names.add(n);
  }
  return names;
}

export function hostAllowed(host: string | undefined, allowed: ReadonlySet<string>): boolean {
  if (host === undefined) return false;
  const n = hostName(host);
  return n !== undefined && allowed.has(n);
}

export interface WriteRequest {
  method: string;
  host: string | undefined;
  origin: string | undefined;
  secFetchSite: string | undefined;
  contentType: string | undefined;
  /** http or https: what this server speaks, for the same-origin comparison. */
  scheme: 'http' | 'https';
}

export type Refusal = { status: number; code: string; message: string };

/**
 * A write (anything but GET/HEAD) must come from our own page: Sec-Fetch-Site same-origin (or none: a
 * script, curl) and, when an Origin is sent, exactly our origin; and a JSON body. A cross-site form
 * cannot send application/json without a CORS preflight, and we answer no CORS, so this also stops
 * CSRF where a browser sends no Sec-Fetch-Site.
 */
export function checkWrite(r: WriteRequest): Refusal | undefined {
  if (r.method === 'GET' || r.method === 'HEAD') return undefined;
  const site = r.secFetchSite?.toLowerCase();
  if (site !== undefined && site !== 'same-origin' && site !== 'none') return { status: 403, code: 'CG_CROSS_ORIGIN', message: `cross-origin write refused (Sec-Fetch-Site: ${site.slice(0, 20)})` };
  if (r.origin !== undefined) {
    if (r.origin === 'null' || r.host === undefined || r.origin.toLowerCase() !== `${r.scheme}://${r.host.toLowerCase()}`) return { status: 403, code: 'CG_CROSS_ORIGIN', message: 'cross-origin write refused (Origin is not this page)' };
  }
  const type = r.contentType?.split(';')[0]!.trim().toLowerCase();
  if (type !== 'application/json') return { status: 415, code: 'CG_NOT_JSON', message: 'writes take application/json only' };
  return undefined;
}

export function cookieValue(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

/** Compares secrets in constant time (hashes first, so different lengths leak nothing either). */
export function sameSecret(a: string, b: string): boolean {
  const h = (s: string) => createHash('sha256').update(s, 'utf8').digest();
  return timingSafeEqual(h(a), h(b)) && a.length === b.length;
}

export function bearerToken(header: string | undefined): string | undefined {
  const m = /^Bearer ([A-Za-z0-9_-]{16,128})$/.exec(header ?? '');
  return m?.[1];
}

export function sessionCookie(id: string, secure: boolean, maxAgeSec: number): string {
  return `${SESSION_COOKIE}=${id}; HttpOnly; SameSite=Strict; Path=/; Max-Age=${maxAgeSec}${secure ? '; Secure' : ''}`;
}

/** Sessions in memory with an absolute lifetime; nowMs passed in. A token rotation ends them all. */
export class Sessions {
  private readonly byId = new Map<string, number>();

  constructor(private readonly lifetimeMs: number, private readonly max = 64) {}

  add(id: string, nowMs: number): void {
    this.prune(nowMs);
    // Bounded: the oldest session goes first when a 65th signs in.
    if (this.byId.size >= this.max) this.byId.delete(this.byId.keys().next().value!);
    this.byId.set(id, nowMs + this.lifetimeMs);
  }

  valid(id: string | undefined, nowMs: number): boolean {
    if (id === undefined || !/^[A-Za-z0-9_-]{20,64}$/.test(id)) return false;
    const exp = this.byId.get(id);
    return exp !== undefined && exp > nowMs;
  }

  clear(): void {
    this.byId.clear();
  }

  private prune(nowMs: number): void {
    for (const [id, exp] of this.byId) if (exp <= nowMs) this.byId.delete(id);
  }
}
