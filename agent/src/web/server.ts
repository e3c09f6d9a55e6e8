/**
 * The agent's own web server (UniFi OS, Linux): the page's files and /api/v1, each API route a
 * control command (the same handlers and schemas as the unix control socket). fastify with a JSON
 * Schema on every body. Safety (security.ts): Host allow-list, token -> HttpOnly SameSite=Strict
 * session cookie (or Bearer for scripts), same-origin JSON-only writes, strict CSP, no framing, no CORS.
 *
 *   GET  /                       index.html with the PageTransport block
 *   POST /api/v1/session         {token} -> Set-Cookie cg_session
 *   GET  /api/v1/page            PageModel                GET /api/v1/events   SSE "page" events
 *   POST /api/v1/pmp/delete      {client, protocol, internalPort}
 *   GET  /api/v1/settings        {config, pending, appliedAt, restartNeeded}   POST {config}
 *   POST /api/v1/nat/apply       {confirmSeconds?}        POST /api/v1/nat/confirm, /nat/revert  {}
 * Errors: {error: {code, message, field?}} with an HTTP status from the code.
 */
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Clock, CancelTimer } from '../clock/clock.ts';
import { isConegateError } from '../errors.ts';
import type { Logger } from '../log/logger.ts';
import type { ControlCommand } from '../service/control-protocol.ts';
import type { PageModel, PageTransport } from './model.ts';
import { pageFingerprint } from './page-model.ts';
import { SECURITY_HEADERS, SESSION_COOKIE, Sessions, allowedHostNames, bearerToken, checkWrite, cookieValue, hostAllowed, sameSecret, sessionCookie, type Refusal } from './security.ts';
import { loadPageFiles } from './static.ts';

export interface WebServerOptions {
  /** host:port; port 0 picks one (tests). */
  listen: string;
  tls?: { cert: string; key: string };
  tokenFile: string;
  /** Read at each request: web.allowedHosts can change live from the settings. */
  allowedHosts: () => readonly string[];
  call: (cmd: ControlCommand, params: Record<string, unknown>) => Promise<unknown>;
  bundleDir: string | undefined;
  platform: PageTransport['platform'];
  clock: Clock;
  log: Logger;
  sessionLifetimeMs?: number;
  /** SSE: how often the model is checked for a change (at most one push per period). */
  eventsEveryMs?: number;
}

export interface WebServer {
  url: string;
  port: number;
  close(): Promise<void>;
}

const SESSION_LIFETIME_MS = 12 * 3600_000;
const MAX_STREAMS = 16;

/** The HTTP status of an error code from a control command. */
export function httpStatusOf(code: string): number {
  if (code === 'CG_INPUT_INVALID' || code === 'CG_CONFIG_INVALID' || code === 'CG_USAGE') return 400;
  if (code === 'CG_NOT_FOUND') return 404;
  if (code === 'CG_BUSY' || code === 'CG_NOTHING_PENDING' || code === 'CG_FIREWALL_ROLLED_BACK') return 409;
  if (code === 'CG_UNSUPPORTED' || code === 'CG_NOT_RUNNING') return 501;
  return 500;
}

/** `wg.listenPort: 70000 is out of range` -> `wg.listenPort`: the field the form marks. */
export function fieldOf(problem: string): string | undefined {
  return /^([A-Za-z0-9_.[\]$]+): /.exec(problem)?.[1];
}

const obj = (properties: Record<string, unknown>, required: string[] = []) => ({ type: 'object', additionalProperties: false, properties, required });
const BODIES = {
  session: obj({ token: { type: 'string', minLength: 1, maxLength: 256 } }, ['token']),
  pmpDelete: obj(
    { client: { type: 'string', minLength: 7, maxLength: 15, pattern: '^[0-9]{1,3}(\\.[0-9]{1,3}){3}$' }, protocol: { enum: ['udp', 'tcp'] }, internalPort: { type: 'integer', minimum: 1, maximum: 65535 } },
    ['client', 'protocol', 'internalPort'],
  ),
  settings: obj({ config: { type: 'object' } }, ['config']),
  natApply: obj({ confirmSeconds: { type: 'integer', minimum: 10, maximum: 3600 } }),
  empty: obj({}),
};

function fail(reply: FastifyReply, r: Refusal & { field?: string }) {
  return reply.code(r.status).send({ error: { code: r.code, message: r.message, ...(r.field ? { field: r.field } : {}) } });
}

export async function startWebServer(o: WebServerOptions): Promise<WebServer> {
  const [host, portText] = splitListen(o.listen);
  const scheme = o.tls ? 'https' : 'http';
  const transport: PageTransport = { host: 'agent', base: '/api/v1', live: 'sse', pollMs: 2000, platform: o.platform };
  const page = await loadPageFiles(o.bundleDir, transport);
  const sessions = new Sessions(o.sessionLifetimeMs ?? SESSION_LIFETIME_MS);
  let tokenSeen: string | undefined;
  const token = async (): Promise<string | undefined> => {
    const t = (await readFile(o.tokenFile, 'utf8').catch(() => undefined))?.trim() || undefined;
    // A rotated token ends every session the old one gave.
    if (tokenSeen !== undefined && t !== tokenSeen) sessions.clear();
    tokenSeen = t;
    return t;
  };

  // What let each request in, so a live event stream can be ended when that stops being valid
  // (token rotated, session expired) instead of streaming to a signed-out browser until it closes.
  const admittedBy = new WeakMap<IncomingMessage, Admitted>();
  const stillAdmitted = (a: Admitted | undefined, t: string | undefined): boolean => {
    if (a === undefined || t === undefined) return false;
    return 'bearer' in a ? sameSecret(a.bearer, t) : sessions.valid(a.session, o.clock.nowMs());
  };

  const app: FastifyInstance = Fastify({
    logger: false,
    forceCloseConnections: true,
    bodyLimit: 64 * 1024,
    ...(o.tls ? { https: { cert: o.tls.cert, key: o.tls.key } } : {}),
    // Extra keys are refused (not silently dropped) and nothing is coerced: the body is what was sent.
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false, useDefaults: false, allErrors: false } },
  } as Parameters<typeof Fastify>[0]) as unknown as FastifyInstance;

  app.addHook('onRequest', async (req, reply) => {
    for (const [k, v] of Object.entries(SECURITY_HEADERS)) reply.header(k, v);
    const hostHeader = req.headers.host;
    if (!hostAllowed(hostHeader, allowedHostNames(o.listen, o.allowedHosts()))) return fail(reply, { status: 403, code: 'CG_HOST', message: 'this Host is not allowed (web.allowedHosts)' });
    const refusal = checkWrite({ method: req.method, host: hostHeader, origin: header(req, 'origin'), secFetchSite: header(req, 'sec-fetch-site'), contentType: header(req, 'content-type'), scheme });
    if (refusal) return fail(reply, refusal);
    const path = req.url.split('?')[0]!;
    if (!path.startsWith('/api/') || path === '/api/v1/session') return;
    const t = await token();
    const bearer = bearerToken(header(req, 'authorization'));
    if (t !== undefined && bearer !== undefined && sameSecret(bearer, t)) return void admittedBy.set(req.raw, { bearer });
    const session = cookieValue(req.headers.cookie, SESSION_COOKIE);
    if (t !== undefined && session !== undefined && sessions.valid(session, o.clock.nowMs())) return void admittedBy.set(req.raw, { session });
    return fail(reply, { status: 401, code: 'CG_AUTH', message: 'sign in with the token first (conegate web token prints it)' });
  });

  app.setErrorHandler((err: Error & { validation?: unknown; statusCode?: number; code?: string }, _req, reply) => {
    if (err.validation) return fail(reply, { status: 400, code: 'CG_INPUT_INVALID', message: err.message });
    if (isConegateError(err)) {
      const problems = (err.context?.problems as string[] | undefined) ?? [err.message];
      const field = fieldOf(problems[0] ?? '');
      return fail(reply, { status: httpStatusOf(err.code), code: err.code, message: problems.join('; '), ...(field ? { field } : {}) });
    }
    if (err.statusCode && err.statusCode < 500) return fail(reply, { status: err.statusCode, code: 'CG_INPUT_INVALID', message: err.message });
    o.log.error({ err: err.message }, 'web: request failed');
    return fail(reply, { status: 500, code: 'CG_INTERNAL', message: 'internal error' });
  });

  app.get('/', async (_req, reply) => reply.type('text/html; charset=utf-8').send(page.index));
  app.get('/index.html', async (_req, reply) => reply.type('text/html; charset=utf-8').send(page.index));
  for (const [path, f] of page.files) app.get(path, async (_req, reply) => reply.type(f.type).send(f.body));

  app.post<{ Body: { token: string } }>('/api/v1/session', { schema: { body: BODIES.session } }, async (req, reply) => {
    const t = await token();
    if (t === undefined || !sameSecret(req.body.token, t)) return fail(reply, { status: 401, code: 'CG_AUTH', message: 'wrong token' });
    const id = randomBytes(24).toString('base64url');
    sessions.add(id, o.clock.nowMs());
    return reply.header('set-cookie', sessionCookie(id, scheme === 'https', Math.round((o.sessionLifetimeMs ?? SESSION_LIFETIME_MS) / 1000))).send({ ok: true });
  });
  app.get('/api/v1/page', async () => o.call('page', {}));
  app.post<{ Body: Record<string, unknown> }>('/api/v1/pmp/delete', { schema: { body: BODIES.pmpDelete } }, async (req) => o.call('pmp-delete', req.body));
  app.get('/api/v1/settings', async () => o.call('settings-get', {}));
  app.post<{ Body: Record<string, unknown> }>('/api/v1/settings', { schema: { body: BODIES.settings } }, async (req) => o.call('settings-set', req.body));
  app.post<{ Body: Record<string, unknown> }>('/api/v1/nat/apply', { schema: { body: BODIES.natApply } }, async (req) => o.call('nat-apply', req.body));
  app.post('/api/v1/nat/confirm', { schema: { body: BODIES.empty } }, async () => o.call('nat-confirm', {}));
  app.post('/api/v1/nat/revert', { schema: { body: BODIES.empty } }, async () => o.call('nat-revert', {}));

  const events = eventStream(o, (cmd) => o.call(cmd, {}) as Promise<PageModel>, token);
  app.get('/api/v1/events', (req: FastifyRequest, reply: FastifyReply) => {
    if (!events.canAdd()) return fail(reply, { status: 503, code: 'CG_BUSY', message: `at most ${MAX_STREAMS} live pages at once` });
    reply.hijack();
    reply.raw.writeHead(200, { ...SECURITY_HEADERS, 'content-type': 'text/event-stream; charset=utf-8', connection: 'keep-alive' });
    const admitted = admittedBy.get(req.raw);
    events.add(reply.raw, (t) => stillAdmitted(admitted, t));
    req.raw.on('close', () => events.remove(reply.raw));
  });

  const url = await app.listen({ host, port: Number(portText) });
  const port = (app.server.address() as { port: number }).port;
  return {
    url: `${scheme}://${host.includes(':') ? `[${host}]` : host}:${port}`,
    port,
    close: async () => {
      events.close();
      await app.close();
      void url;
    },
  };
}

/** The credential a request came in with: a Bearer token or a session cookie. */
type Admitted = { bearer: string } | { session: string };

function header(req: FastifyRequest, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

function splitListen(listen: string): [string, string] {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(listen) ?? /^([^:]+):(\d+)$/.exec(listen);
  if (!m) throw new Error(`web.listen ${listen}: expected host:port`);
  return [m[1]!, m[2]!];
}

/**
 * Server-sent events: one shared check every eventsEveryMs while a page is open; a model that
 * changed (pageFingerprint: not just the clock) is pushed to every stream, so at most one push per
 * period. A new stream gets the current model at once. The token file is read once per tick for all
 * streams, and each stream whose sign-in no longer holds against it is ended.
 */
function eventStream(o: WebServerOptions, get: (cmd: 'page') => Promise<PageModel>, token: () => Promise<string | undefined>) {
  /** Each open stream and the check that its sign-in still holds against the current token. */
  const streams = new Map<ServerResponse, (token: string | undefined) => boolean>();
  let timer: CancelTimer | undefined;
  let last = '';
  let closed = false;
  const send = (s: ServerResponse, m: PageModel) => s.write(`event: page\ndata: ${JSON.stringify(m)}\n\n`);
  const tick = async () => {
    timer = undefined;
    if (closed || streams.size === 0) return;
    try {
      await dropSignedOut();
      if (streams.size === 0) return;
      const m = await get('page');
      const fp = pageFingerprint(m);
      if (fp !== last) {
        last = fp;
        for (const s of streams.keys()) send(s, m);
      }
    } catch (err) {
      o.log.warn({ err: (err as Error).message }, 'web: page for the event stream failed');
    }
    if (!closed && streams.size > 0) timer = o.clock.setTimer(o.eventsEveryMs ?? 1000, () => void tick());
  };
  const dropSignedOut = async () => {
    const t = await token();
    for (const [s, admitted] of [...streams]) {
      if (admitted(t)) continue;
      streams.delete(s);
      s.end();
    }
  };
  return {
    canAdd: () => streams.size < MAX_STREAMS,
    add(s: ServerResponse, admitted: (token: string | undefined) => boolean) {
      streams.set(s, admitted);
      void get('page').then((m) => send(s, m), () => undefined);
      if (!timer) timer = o.clock.setTimer(o.eventsEveryMs ?? 1000, () => void tick());
    },
    remove(s: ServerResponse) {
      streams.delete(s);
      if (streams.size === 0) {
        timer?.();
        timer = undefined;
        last = '';
      }
    },
    close() {
      closed = true;
      timer?.();
      for (const s of streams.keys()) s.end();
      streams.clear();
    },
  };
}
