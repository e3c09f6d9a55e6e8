/**
 * The front-end's side of PageTransport (agent/src/web/model.ts), pure: reading the block the host wrote
 * into the page, composing API URLs for each host, and turning an error answer into one message that
 * names the field. The fetch/EventSource edge is app/api.ts.
 */
import type { PageTransport } from '../src/web/model.ts';

/** The id of the JSON data block every host writes into the page. */
export const TRANSPORT_ELEMENT_ID = 'conegate-transport';

/** What the agent's own page uses when it serves the bare template (development, or no block). */
export const AGENT_TRANSPORT: PageTransport = { host: 'agent', base: '/api/v1', live: 'sse', pollMs: 2000, platform: 'linux' };

/** The issue asks for a refresh at least every 2 s; a host asking for a slower poll still gets 2 s. */
export const MAX_POLL_MS = 2000;
const MIN_POLL_MS = 250;

export type Route = 'page' | 'events' | 'session' | 'settings' | 'pmp/delete' | 'nat/apply' | 'nat/confirm' | 'nat/revert';

/**
 * `${base}/${route}`, by concatenation, never URL resolution: pfSense's base is a query string
 * (`/conegate/api.php?r=`), which `new URL(route, base)` would drop.
 */
export function apiUrl(transport: Pick<PageTransport, 'base'>, route: Route): string {
  const base = transport.base.endsWith('/') ? transport.base.slice(0, -1) : transport.base;
  return `${base}/${route}`;
}

/** Parses and checks the host's block; throws an Error saying what is wrong (shown on the page). */
export function parseTransport(text: string | null): PageTransport {
  if (text === null || text.trim() === '') return AGENT_TRANSPORT;
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    throw new Error(`the page's #${TRANSPORT_ELEMENT_ID} block is not valid JSON`);
  }
  if (data === null || typeof data !== 'object' || Array.isArray(data)) throw new Error(`the page's #${TRANSPORT_ELEMENT_ID} block is not a JSON object`);
  const t = data as Record<string, unknown>;
  const host = oneOf(t.host, ['agent', 'opnsense', 'pfsense'] as const, 'host');
  const platform = oneOf(t.platform, ['opnsense', 'pfsense', 'unifi', 'linux'] as const, 'platform');
  const live = oneOf(t.live ?? 'poll', ['sse', 'poll'] as const, 'live');
  if (typeof t.base !== 'string' || t.base === '') throw new Error('transport.base: expected a non-empty string');
  const pollMs = typeof t.pollMs === 'number' && Number.isFinite(t.pollMs) ? Math.min(MAX_POLL_MS, Math.max(MIN_POLL_MS, t.pollMs)) : MAX_POLL_MS;
  const out: PageTransport = { host, base: t.base, live, pollMs, platform };
  if (t.csrf !== undefined) {
    const c = t.csrf as Record<string, unknown> | null;
    if (c === null || typeof c.header !== 'string' || typeof c.token !== 'string' || !/^[A-Za-z0-9-]+$/.test(c.header)) {
      throw new Error('transport.csrf: expected {header, token} strings');
    }
    out.csrf = { header: c.header, token: c.token };
  }
  return out;
}

function oneOf<T extends string>(value: unknown, allowed: readonly T[], name: string): T {
  if (typeof value === 'string' && (allowed as readonly string[]).includes(value)) return value as T;
  throw new Error(`transport.${name}: ${JSON.stringify(value)} is not one of ${allowed.join(', ')}`);
}

/** An API failure as the page shows it. `field` is the settings key the agent refused, when it says. */
export interface ApiProblem {
  status: number;
  code: string;
  message: string;
  field: string | null;
}

/** The error shape of every host: `{error: {code, message, field?}}`; anything else becomes a plain HTTP error. */
export function problemFromAnswer(status: number, body: unknown): ApiProblem {
  const err = body !== null && typeof body === 'object' ? (body as { error?: unknown }).error : undefined;
  if (err !== null && typeof err === 'object') {
    const e = err as Record<string, unknown>;
    const message = typeof e.message === 'string' && e.message !== '' ? e.message : `HTTP ${status}`;
    return { status, code: typeof e.code === 'string' ? e.code : 'CG_HTTP', message, field: typeof e.field === 'string' && e.field !== '' ? e.field : null };
  }
  return { status, code: 'CG_HTTP', message: status === 0 ? 'the agent did not answer' : `the agent answered HTTP ${status}`, field: null };
}

/** One line for the page: the field first when the agent named it, unless the message already starts with it. */
export function problemText(p: ApiProblem): string {
  if (p.field === null || p.message.startsWith(`${p.field}:`) || p.message.startsWith(`${p.field} `)) return p.message;
  return `${p.field}: ${p.message}`;
}
