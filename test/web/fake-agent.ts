/**
 * A fake agent for developing the page and for the browser tests: serves the built bundle (dist/web/)
 * with the PageTransport injected and a strict CSP, and the /api/v1 routes of the agent's web server
 * (same paths, bodies and `{error: {code, message, field}}` answers) over FakePageState, which a test
 * mutates. Optionally the pfSense package's shape instead (api.php?r=, polling, CSRF header).
 *
 *   node --import tsx test/web/fake-agent.ts [--port 8380] [--token TOKEN] [--poll] [--animate]
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ServerResponse } from 'node:http';
import Fastify, { type FastifyReply, type FastifyRequest } from 'fastify';
import { ConegateError } from '../../agent/src/errors.ts';
import type { PageMapping, PageModel, PagePeer, PageTransport } from '../../agent/src/web/model.ts';
import { injectTransport } from '../../agent/src/web/static.ts';
import { FakePageState, type PageCommand } from './fake-state.ts';

const ROOT = new URL('../..', import.meta.url).pathname;

/** The agent's page policy: nothing inline, nothing from elsewhere. */
export const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";
/** The CSRF header pfSense's pages send (its csrf-magic). */
export const APPLIANCE_CSRF_HEADER = 'X-CSRF-Token';
const APPLIANCE_BASE = '/conegate/api.php?r=';

export interface FakeAgentOptions {
  /** When set, every API route needs the session cookie that POST /api/v1/session {token} gives. */
  token?: string;
  live?: 'sse' | 'poll';
  port?: number;
  webDir?: string;
  /**
   * Behave like the pfSense package page instead: transport {host: 'pfsense', base: '/conegate/api.php?r=',
   * live: 'poll'}, every write must carry the CSRF header, and api.php hands each call to the /api/v1 route.
   */
  appliance?: { csrfToken: string };
  /** The event stream answers 503 (the agent's limit of open pages reached): the page must fall back to polling. */
  eventsRefused?: boolean;
  /** Push only on a change, like the agent (whose pushes leave out the ageing counters); default: every second. */
  quiet?: boolean;
}

export interface FakeAgent {
  url: string;
  state: FakePageState;
  readonly model: PageModel;
  /** Requests per route, so a test can tell a write really reached the agent. */
  hits: Map<string, number>;
  /** Ends every session (as a token rotation does): the next API call answers 401. */
  endSessions(): void;
  update(change: (m: PageModel) => void): void;
  setPeer(id: string, patch: Partial<PagePeer>): void;
  addMapping(m: Omit<PageMapping, 'id'>): PageMapping;
  close(): Promise<void>;
}

/** HTTP status per error code, as the agent's server maps them. */
const STATUS: Record<string, number> = { CG_INPUT_INVALID: 400, CG_CONFIG_INVALID: 400, CG_USAGE: 400, CG_NOT_FOUND: 404, CG_NOTHING_PENDING: 409 };

function fail(reply: FastifyReply, status: number, code: string, message: string, field?: string) {
  return reply.code(status).send({ error: { code, message, ...(field ? { field } : {}) } });
}

export async function startFakeAgent(opts: FakeAgentOptions = {}): Promise<FakeAgent> {
  const webDir = opts.webDir ?? join(ROOT, 'dist/web');
  const transport: PageTransport = opts.appliance
    ? { host: 'pfsense', base: APPLIANCE_BASE, live: 'poll', pollMs: 2000, platform: 'pfsense', csrf: { header: APPLIANCE_CSRF_HEADER, token: opts.appliance.csrfToken } }
    : { host: 'agent', base: '/api/v1', live: opts.live ?? 'sse', pollMs: 1000, platform: 'linux' };
  const index = injectTransport(readFileSync(join(webDir, 'index.html'), 'utf8'), transport);
  const files: Record<string, [string, Buffer]> = {
    '/app.js': ['text/javascript; charset=utf-8', readFileSync(join(webDir, 'app.js'))],
    '/app.css': ['text/css; charset=utf-8', readFileSync(join(webDir, 'app.css'))],
    '/favicon.svg': ['image/svg+xml', readFileSync(join(webDir, 'favicon.svg'))],
  };
  const state = new FakePageState();
  const sessions = new Set<string>();
  const streams = new Set<ServerResponse>();
  const hits = new Map<string, number>();
  const send = (s: ServerResponse) => s.write(`event: page\ndata: ${JSON.stringify(state.snapshot())}\n\n`);
  state.onChange(() => streams.forEach(send));
  // Time on path moves every second; the real agent pushes at most once a second.
  const ticker = opts.quiet ? undefined : setInterval(() => state.update((m) => m.peers.forEach((p) => p.forSec !== null && (p.forSec += 1))), 1000);

  const app = Fastify({ logger: false, forceCloseConnections: true });
  app.addHook('onRequest', async (req, reply) => {
    const key = `${req.method} ${req.routeOptions.url ?? req.url}`;
    hits.set(key, (hits.get(key) ?? 0) + 1);
    reply.header('content-security-policy', CSP).header('x-frame-options', 'DENY').header('x-content-type-options', 'nosniff').header('cache-control', 'no-store');
    if (!req.url.startsWith('/api/v1/') || req.url === '/api/v1/session' || opts.token === undefined) return;
    const cookie = /(?:^|;\s*)cg_session=([A-Za-z0-9_-]+)/.exec(req.headers.cookie ?? '')?.[1];
    const bearer = req.headers.authorization === `Bearer ${opts.token}`;
    if (!bearer && (cookie === undefined || !sessions.has(cookie))) return fail(reply, 401, 'CG_AUTH', 'sign in with the token first');
  });
  app.setErrorHandler((err, _req, reply) => {
    if (!(err instanceof ConegateError)) return fail(reply, 500, 'CG_INTERNAL', 'internal error');
    const problems = (err.context.problems as string[] | undefined) ?? [err.message];
    const field = /^([A-Za-z0-9_.[\]]+): /.exec(problems[0] ?? '')?.[1];
    return fail(reply, STATUS[err.code] ?? 500, err.code, problems.join('; '), field);
  });

  app.get('/', async (_req, reply) => reply.type('text/html; charset=utf-8').send(index));
  for (const [path, [type, body]] of Object.entries(files)) app.get(path, async (_req, reply) => reply.type(type).send(body));
  app.post<{ Body: { token?: unknown } }>('/api/v1/session', async (req, reply) => {
    if (opts.token !== undefined && req.body?.token !== opts.token) return fail(reply, 401, 'CG_AUTH', 'wrong token');
    const sid = randomBytes(24).toString('base64url');
    sessions.add(sid);
    return reply.header('set-cookie', `cg_session=${sid}; HttpOnly; SameSite=Strict; Path=/`).send({ ok: true });
  });
  const routes: [string, string, PageCommand][] = [
    ['GET', '/api/v1/page', 'page'],
    ['POST', '/api/v1/pmp/delete', 'pmp-delete'],
    ['GET', '/api/v1/settings', 'settings-get'],
    ['POST', '/api/v1/settings', 'settings-set'],
    ['POST', '/api/v1/nat/apply', 'nat-apply'],
    ['POST', '/api/v1/nat/confirm', 'nat-confirm'],
    ['POST', '/api/v1/nat/revert', 'nat-revert'],
  ];
  for (const [method, url, cmd] of routes) {
    app.route<{ Body: Record<string, unknown> }>({ method: method as 'GET' | 'POST', url, handler: async (req) => state.call(cmd, req.body ?? {}) });
  }
  app.get('/api/v1/events', (req: FastifyRequest, reply: FastifyReply) => {
    if (opts.eventsRefused) return fail(reply, 503, 'CG_BUSY', 'too many live pages');
    reply.hijack();
    reply.raw.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store', 'content-security-policy': CSP });
    streams.add(reply.raw);
    send(reply.raw);
    req.raw.on('close', () => streams.delete(reply.raw));
  });
  if (opts.appliance) {
    const csrf = opts.appliance.csrfToken;
    // The package's PHP: the appliance session is the auth; the route is in the query string.
    app.route<{ Querystring: { r?: string } }>({
      method: ['GET', 'POST'],
      url: '/conegate/api.php',
      handler: async (req, reply) => {
        if (req.method === 'POST' && req.headers[APPLIANCE_CSRF_HEADER.toLowerCase()] !== csrf) return fail(reply, 403, 'CG_CSRF', 'CSRF check failed');
        const r = req.query.r ?? '';
        if (!/^\/[a-z/]+$/.test(r) || r === '/events' || r === '/session') return fail(reply, 404, 'CG_NOT_FOUND', `no route ${r}`);
        const headers: Record<string, string> = { 'content-type': 'application/json', ...(opts.token ? { authorization: `Bearer ${opts.token}` } : {}) };
        const res = await app.inject({ method: req.method as 'GET' | 'POST', url: `/api/v1${r}`, headers, ...(req.method === 'POST' ? { payload: JSON.stringify(req.body ?? {}) } : {}) });
        return reply.code(res.statusCode).type('application/json').send(res.body);
      },
    });
  }

  const url = await app.listen({ host: '127.0.0.1', port: opts.port ?? 0 });
  return {
    url,
    state,
    get model() {
      return state.model;
    },
    hits,
    endSessions: () => sessions.clear(),
    update: (change) => state.update(change),
    setPeer: (id, patch) => state.setPeer(id, patch),
    addMapping: (m) => state.addMapping(m),
    close: async () => {
      clearInterval(ticker);
      for (const s of streams) s.end();
      await app.close();
    },
  };
}

async function main(argv: string[]): Promise<void> {
  const arg = (name: string) => {
    const at = argv.indexOf(name);
    return at >= 0 ? argv[at + 1] : undefined;
  };
  const agent = await startFakeAgent({ port: Number(arg('--port') ?? '8380'), token: arg('--token'), live: argv.includes('--poll') ? 'poll' : 'sse' });
  process.stdout.write(`fake agent: ${agent.url}/\n`);
  if (argv.includes('--animate')) {
    // Flip the relayed peer between relay and direct, so a developer sees live updates.
    let direct = false;
    setInterval(() => {
      direct = !direct;
      agent.setPeer('n-branch', direct ? { path: 'direct', endpoint: '198.51.100.20:41641', relay: null, reason: null, forSec: 0 } : { path: 'tcp-relay', endpoint: null, relay: { region: 'lab', server: 'relay-1' }, reason: { code: 'hard-nat-both', text: 'both sides map per destination' }, forSec: 0 });
    }, 10_000).unref();
  }
  const stop = () => void agent.close().then(() => process.exit(0));
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

if (import.meta.url === `file://${process.argv[1]}`) await main(process.argv.slice(2));
