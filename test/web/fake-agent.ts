/**
 * A fake agent for developing the page and for the browser tests: serves the built bundle (dist/web/)
 * with the PageTransport injected and a strict CSP, and the /api/v1 routes of the agent's web server
 * (same paths, bodies and `{error: {code, message, field}}` answers) over an in-memory PageModel that a
 * test mutates. Settings are validated with the real config schema (agent/src/config).
 *
 *   node --import tsx test/web/fake-agent.ts [--port 8380] [--token TOKEN] [--poll] [--animate]
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ServerResponse } from 'node:http';
import Fastify, { type FastifyReply, type FastifyRequest } from 'fastify';
import { validateConfig } from '../../agent/src/config/load.ts';
import { ConegateError } from '../../agent/src/errors.ts';
import type { PageMapping, PageModel, PagePeer, PageTransport } from '../../agent/src/web/model.ts';
import { injectTransport } from '../../agent/web-ui/host.ts';
import { SAMPLE_CONFIG, sampleModel } from './sample-model.ts';

const ROOT = new URL('../..', import.meta.url).pathname;

/** The agent's page policy: nothing inline, nothing from elsewhere. */
export const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";
/** Sections the fake cannot change live (the real agent decides its own list). */
const RESTART_SECTIONS = ['wg', 'mesh'];

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
}

/** The CSRF header pfSense's pages send (its csrf-magic). */
export const APPLIANCE_CSRF_HEADER = 'X-CSRF-Token';
const APPLIANCE_BASE = '/conegate/api.php?r=';

export interface FakeAgent {
  url: string;
  model: PageModel;
  config: unknown;
  /** Requests per route, so a test can tell a write really reached the agent. */
  hits: Map<string, number>;
  /** Changes the model and pushes it to the open event streams. */
  update(change: (m: PageModel) => void): void;
  setPeer(id: string, patch: Partial<PagePeer>): void;
  addMapping(m: Omit<PageMapping, 'id'>): PageMapping;
  close(): Promise<void>;
}

function fail(reply: FastifyReply, status: number, code: string, message: string, field?: string) {
  return reply.code(status).send({ error: { code, message, ...(field ? { field } : {}) } });
}

/** `wg.listenPort: 70000 is out of range` -> `wg.listenPort`, the field the agent names first. */
function firstField(problems: string[]): { field: string | undefined; message: string } {
  const first = problems[0] ?? 'config is invalid';
  const m = /^([A-Za-z0-9_.[\]]+): /.exec(first);
  return { field: m?.[1], message: problems.join('; ') };
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
  const sessions = new Set<string>();
  const streams = new Set<ServerResponse>();
  const hits = new Map<string, number>();
  let settingsState = { pending: false, appliedAt: sampleModel(Date.now()).settings.appliedAt, restartNeeded: [] as string[] };

  const agent: FakeAgent = {
    url: '',
    model: sampleModel(Date.now()),
    config: structuredClone(SAMPLE_CONFIG),
    hits,
    update(change) {
      change(agent.model);
      push();
    },
    setPeer(id, patch) {
      agent.update((m) => {
        const p = m.peers.find((x) => x.id === id);
        if (!p) throw new Error(`fake agent: no peer ${id}`);
        Object.assign(p, patch);
      });
    },
    addMapping(m) {
      const mapping: PageMapping = { ...m, id: `${m.client}/${m.protocol}/${m.internalPort}` };
      agent.update((model) => model.mappings?.items.push(mapping));
      return mapping;
    },
    close: async () => {
      clearInterval(ticker);
      for (const s of streams) s.end();
      await app.close();
    },
  };

  const snapshot = (): PageModel => ({ ...agent.model, generatedAt: new Date().toISOString(), settings: { ...settingsState } });
  const send = (s: ServerResponse) => s.write(`event: page\ndata: ${JSON.stringify(snapshot())}\n\n`);
  const push = () => streams.forEach(send);
  // The real agent pushes on change at most every second; time on path moves every second anyway.
  const ticker = setInterval(() => {
    for (const p of agent.model.peers) if (p.forSec !== null) p.forSec += 1;
    push();
  }, 1000);

  const app = Fastify({ logger: false, forceCloseConnections: true });
  app.addHook('onRequest', async (req, reply) => {
    const route = req.routeOptions.url ?? req.url;
    hits.set(`${req.method} ${route}`, (hits.get(`${req.method} ${route}`) ?? 0) + 1);
    reply.header('content-security-policy', CSP).header('x-frame-options', 'DENY').header('x-content-type-options', 'nosniff').header('cache-control', 'no-store');
    if (!req.url.startsWith('/api/v1/') || req.url === '/api/v1/session' || opts.token === undefined) return;
    const cookie = /(?:^|;\s*)cg_session=([A-Za-z0-9_-]+)/.exec(req.headers.cookie ?? '')?.[1];
    const bearer = req.headers.authorization === `Bearer ${opts.token}`;
    if (!bearer && (cookie === undefined || !sessions.has(cookie))) return fail(reply, 401, 'CG_AUTH', 'sign in with the token first');
  });

  app.get('/', async (_req, reply) => reply.type('text/html; charset=utf-8').send(index));
  for (const [path, [type, body]] of Object.entries(files)) app.get(path, async (_req, reply) => reply.type(type).send(body));

  app.post<{ Body: { token?: unknown } }>('/api/v1/session', async (req, reply) => {
    if (opts.token !== undefined && req.body?.token !== opts.token) return fail(reply, 401, 'CG_AUTH', 'wrong token');
    const sid = randomBytes(24).toString('base64url');
    sessions.add(sid);
    return reply.header('set-cookie', `cg_session=${sid}; HttpOnly; SameSite=Strict; Path=/`).send({ ok: true });
  });
  app.get('/api/v1/page', async () => snapshot());
  app.get('/api/v1/events', (req: FastifyRequest, reply: FastifyReply) => {
    reply.hijack();
    reply.raw.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store', 'content-security-policy': CSP });
    streams.add(reply.raw);
    send(reply.raw);
    req.raw.on('close', () => streams.delete(reply.raw));
  });
  app.post<{ Body: { client?: unknown; protocol?: unknown; internalPort?: unknown } }>('/api/v1/pmp/delete', async (req, reply) => {
    const { client, protocol, internalPort } = req.body ?? {};
    const items = agent.model.mappings?.items ?? [];
    const at = items.findIndex((m) => m.client === client && m.protocol === protocol && m.internalPort === internalPort);
    if (at < 0) return fail(reply, 404, 'CG_NOT_FOUND', `no mapping ${String(client)} ${String(protocol)} ${String(internalPort)}`);
    agent.update(() => items.splice(at, 1));
    return { deleted: 1 };
  });
  app.get('/api/v1/settings', async () => ({ config: agent.config, ...settingsState }));
  app.post<{ Body: { config?: unknown } }>('/api/v1/settings', async (req, reply) => {
    const config = req.body?.config;
    try {
      validateConfig(config, 'settings');
    } catch (e) {
      if (!(e instanceof ConegateError)) throw e;
      const { field, message } = firstField((e.context.problems as string[] | undefined) ?? [e.message]);
      return fail(reply, 400, e.code, message, field);
    }
    const old = agent.config as Record<string, unknown>;
    const next = config as Record<string, unknown>;
    const restartNeeded = RESTART_SECTIONS.filter((s) => JSON.stringify(old[s]) !== JSON.stringify(next[s]));
    agent.config = structuredClone(config);
    settingsState = { pending: restartNeeded.length > 0, appliedAt: restartNeeded.length > 0 ? settingsState.appliedAt : new Date().toISOString(), restartNeeded };
    push();
    return { config: agent.config, ...settingsState };
  });
  app.post<{ Body: { confirmSeconds?: unknown } }>('/api/v1/nat/apply', async (req, reply) => {
    const sec = req.body?.confirmSeconds ?? 60;
    if (typeof sec !== 'number' || !Number.isInteger(sec) || sec < 10 || sec > 3600) return fail(reply, 400, 'CG_INPUT_INVALID', 'confirmSeconds: expected a whole number from 10 to 3600', 'confirmSeconds');
    agent.update((m) => (m.nat = { ...m.nat, pending: { revertAt: new Date(Date.now() + sec * 1000).toISOString() }, appliedAt: new Date().toISOString() }));
    return { ok: true };
  });
  app.post('/api/v1/nat/confirm', async (_req, reply) => {
    if (agent.model.nat.pending === null) return fail(reply, 409, 'CG_NAT_NOTHING_PENDING', 'nothing to confirm: no change is waiting');
    agent.update((m) => (m.nat = { ...m.nat, pending: null }));
    return { ok: true };
  });
  app.post('/api/v1/nat/revert', async () => {
    agent.update((m) => (m.nat = { ...m.nat, pending: null }));
    return { ok: true };
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

  agent.url = await app.listen({ host: '127.0.0.1', port: opts.port ?? 0 });
  return agent;
}

async function main(argv: string[]): Promise<void> {
  const arg = (name: string) => {
    const at = argv.indexOf(name);
    return at >= 0 ? argv[at + 1] : undefined;
  };
  const port = Number(arg('--port') ?? '8380');
  const agent = await startFakeAgent({ port, token: arg('--token'), live: argv.includes('--poll') ? 'poll' : 'sse' });
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
