/**
 * Which HTTP proxy a relay connection goes through (pure), and the CONNECT request and answer.
 *
 * Sources, first match wins: the config (`mesh.proxy`: a URL, or "none" to ignore the environment),
 * then HTTPS_PROXY / https_proxy. NO_PROXY / no_proxy lists hosts that are reached directly, as curl
 * reads it: comma or space separated; "*" = everything; "example.com" and ".example.com" match the
 * domain and its subdomains; an IP literal matches that address; "host:port" only that port;
 * "10.0.0.0/8" matches addresses inside (curl >= 7.86 does CIDR too).
 *
 * The proxy's user:password (RFC 7617 Basic, from the URL's userinfo) is a secret: it is kept apart
 * from the URL that status and logs show, which is always without it.
 */
import { bytesEqual, cidrContains, parseCidr, parseIp } from '../../net/ip.ts';
import { ConegateError } from '../../errors.ts';

export interface ProxyTarget {
  host: string;
  port: number;
  /** "user:password" for Basic authentication, never logged or shown. */
  credentials?: string;
  /** http://host:port, without the credentials: what status and logs may show. */
  display: string;
}

/** Parses `http://[user:password@]host:port`. The port is required: defaults differ between tools (curl 1080, squid 3128, tinyproxy 8888), so guessing one would fail in a confusing way. */
export function parseProxyUrl(text: string, source: string): ProxyTarget {
  let url: URL;
  try {
    // "host:port" alone would parse as a URL whose scheme is the host name.
    if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(text)) throw new TypeError('no scheme');
    url = new URL(text);
  } catch {
    throw new ConegateError('CG_CONFIG_INVALID', `${source}: "${redactUrl(text)}" is not a proxy URL (http://[user:password@]host:port)`);
  }
  if (url.protocol !== 'http:') throw new ConegateError('CG_CONFIG_INVALID', `${source}: only http:// proxies are supported (CONNECT), not ${url.protocol}`);
  if (!url.port) throw new ConegateError('CG_CONFIG_INVALID', `${source}: the proxy URL needs a port (e.g. http://proxy.example:3128)`);
  if ((url.pathname !== '/' && url.pathname !== '') || url.search || url.hash) throw new ConegateError('CG_CONFIG_INVALID', `${source}: a proxy URL has no path, query or fragment`);
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  const user = decodeURIComponent(url.username);
  const password = decodeURIComponent(url.password);
  return {
    host,
    port: Number(url.port),
    ...(user || password ? { credentials: `${user}:${password}` } : {}),
    display: `http://${url.host}`,
  };
}

/** The URL with any userinfo replaced, for error messages. */
export function redactUrl(text: string): string {
  return text.replace(/\/\/[^/@\s]*@/, '//***@');
}

export interface ProxySources {
  /** `mesh.proxy`: a URL, or "none"; absent = use the environment. */
  config?: string;
  env: Record<string, string | undefined>;
}

/** The proxy for host:port, or undefined to connect directly. Throws CG_CONFIG_INVALID for a malformed URL. */
export function resolveProxy(host: string, port: number, sources: ProxySources): ProxyTarget | undefined {
  if (sources.config === 'none') return undefined;
  const fromConfig = sources.config !== undefined;
  const text = sources.config ?? sources.env.HTTPS_PROXY ?? sources.env.https_proxy;
  if (!text) return undefined;
  const noProxy = sources.env.NO_PROXY ?? sources.env.no_proxy ?? '';
  // An explicit config setting is meant for this host; NO_PROXY still applies (it is the one place an
  // operator lists internal hosts), as curl applies it to --proxy too.
  if (bypassesProxy(host, port, noProxy)) return undefined;
  return parseProxyUrl(text, fromConfig ? 'mesh.proxy' : sources.env.HTTPS_PROXY ? 'HTTPS_PROXY' : 'https_proxy');
}

/** Whether NO_PROXY says host:port is reached directly. */
export function bypassesProxy(host: string, port: number, noProxy: string): boolean {
  const name = host.toLowerCase().replace(/^\[(.*)\]$/, '$1').replace(/\.$/, '');
  for (const raw of noProxy.split(/[\s,]+/)) {
    const entry = raw.trim().toLowerCase();
    if (!entry) continue;
    if (entry === '*') return true;
    if (entry.includes('/')) {
      if (inCidr(name, entry)) return true;
      continue;
    }
    const { pattern, entryPort } = splitPort(entry);
    if (entryPort !== undefined && entryPort !== port) continue;
    const domain = pattern.replace(/^\*?\./, '').replace(/\.$/, '');
    if (!domain) continue;
    if (parseIp(domain)) {
      if (parseIp(name) && sameIp(name, domain)) return true;
      continue;
    }
    if (name === domain || name.endsWith(`.${domain}`)) return true;
  }
  return false;
}

function splitPort(entry: string): { pattern: string; entryPort?: number } {
  const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(entry);
  if (bracketed) return { pattern: bracketed[1]!, ...(bracketed[2] ? { entryPort: Number(bracketed[2]) } : {}) };
  const m = /^([^:]+):(\d+)$/.exec(entry);
  return m ? { pattern: m[1]!, entryPort: Number(m[2]) } : { pattern: entry };
}

function sameIp(a: string, b: string): boolean {
  const x = parseIp(a);
  const y = parseIp(b);
  return x !== undefined && y !== undefined && bytesEqual(x.bytes, y.bytes);
}

function inCidr(host: string, cidr: string): boolean {
  const net = parseCidr(cidr, { loose: true });
  const ip = parseIp(host);
  return net !== undefined && ip !== undefined && cidrContains(net, ip.bytes);
}

/** The CONNECT request for host:port, with Basic authentication when credentials are given. */
export function connectRequest(host: string, port: number, credentials: string | undefined): string {
  const authority = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
  const lines = [`CONNECT ${authority} HTTP/1.1`, `Host: ${authority}`];
  if (credentials !== undefined) lines.push(`Proxy-Authorization: Basic ${Buffer.from(credentials, 'utf8').toString('base64')}`);
  return `${lines.join('\r\n')}\r\n\r\n`;
}

/** The error for a CONNECT answer that is not 2xx: 407 says the credentials, anything else the refusal. */
export function connectRefusal(status: number, reason: string, proxy: ProxyTarget, target: string): ConegateError {
  // RFC 9110 section 15.5.8 says 407; tinyproxy 1.11 (Debian 12) answers a CONNECT with missing or
  // wrong BasicAuth credentials with 401, so both mean "the credentials".
  if (status === 407 || status === 401) {
    const what = proxy.credentials === undefined ? 'requires authentication: put user:password in the proxy URL (http://user:password@host:port)' : `refused the credentials in the proxy URL (${status})`;
    return new ConegateError('CG_PROXY_REFUSED', `the HTTP proxy ${proxy.display} ${what}`, { context: { proxy: proxy.display, status } });
  }
  return new ConegateError('CG_PROXY_REFUSED', `the HTTP proxy ${proxy.display} refused CONNECT to ${target}: ${status} ${reason}`.trim(), { context: { proxy: proxy.display, status } });
}
