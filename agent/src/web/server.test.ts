/**
 * The web server over real HTTP (a running server on loopback, plain node:http requests): every way in
 * without the token, from a foreign Host, or cross-origin is refused with its status; a good session
 * works; the page is served with the transport block and the strict headers.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { mkdtemp, readFile, rm, writeFile, chmod } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { realClock } from '../clock/clock.ts';
import { ConegateError } from '../errors.ts';
import { silentLogger } from '../log/logger.ts';
import { validateConfig } from '../config/load.ts';
import type { ControlCommand } from '../service/control-protocol.ts';
import { startWebServer, type WebServer } from './server.ts';
import { rotateToken } from './token.ts';

const TOKEN = 'T'.repeat(43);
let dir: string;
let server: WebServer;
const calls: { cmd: ControlCommand; params: Record<string, unknown> }[] = [];
let pageVersion = 1;

async function call(cmd: ControlCommand, params: Record<string, unknown>): Promise<unknown> {
  calls.push({ cmd, params });
  if (cmd === 'page') return { version: String(pageVersion), generatedAt: new Date().toISOString(), peers: [{ id: 'p1', name: '<img src=x onerror=alert(1)>', rttHistory: [] }], mappings: null };
  if (cmd === 'settings-set') {
    validateConfig(params.config, 'settings');
    return { ok: true };
  }
  if (cmd === 'pmp-delete') throw new ConegateError('CG_NOT_FOUND', 'no such mapping');
  return { ok: cmd };
}

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cg-web-'));
  await writeFile(join(dir, 'web.token'), TOKEN + '\n', { mode: 0o600 });
  await chmod(join(dir, 'web.token'), 0o600);
  server = await startWebServer({ listen: '127.0.0.1:0', tokenFile: join(dir, 'web.token'), allowedHosts: () => ['router.lan'], call, bundleDir: undefined, platform: 'linux', clock: realClock, log: silentLogger(), eventsEveryMs: 50 });
});
after(async () => {
  await server.close();
  await rm(dir, { recursive: true, force: true });
});

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

function http(method: string, path: string, o: { headers?: Record<string, string>; body?: string } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: server.port, method, path, headers: { host: `127.0.0.1:${server.port}`, ...o.headers } }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end(o.body);
  });
}

const json = (value: unknown, extra: Record<string, string> = {}) => ({ headers: { 'content-type': 'application/json', ...extra }, body: JSON.stringify(value) });
const code = (a: Answer) => (JSON.parse(a.body) as { error: { code: string } }).error.code;

async function login(): Promise<string> {
  const a = await http('POST', '/api/v1/session', json({ token: TOKEN }, { origin: `http://127.0.0.1:${server.port}`, 'sec-fetch-site': 'same-origin' }));
  assert.equal(a.status, 200, a.body);
  const cookie = String(a.headers['set-cookie']);
  assert.match(cookie, /^cg_session=[A-Za-z0-9_-]+; HttpOnly; SameSite=Strict; Path=\//);
  assert.doesNotMatch(cookie, /Secure/, 'plain HTTP on loopback: no Secure flag');
  return cookie.split(';')[0]!;
}

test('no token, a wrong token, a forged cookie: 401; nothing reached the agent', async () => {
  const before = calls.length;
  assert.equal((await http('GET', '/api/v1/page')).status, 401);
  assert.equal(code(await http('GET', '/api/v1/page')), 'CG_AUTH');
  assert.equal((await http('GET', '/api/v1/page', { headers: { authorization: `Bearer ${'x'.repeat(43)}` } })).status, 401);
  assert.equal((await http('GET', '/api/v1/page', { headers: { cookie: `cg_session=${'a'.repeat(32)}` } })).status, 401);
  assert.equal((await http('POST', '/api/v1/session', json({ token: 'wrong-token-wrong-token' }))).status, 401);
  assert.equal((await http('GET', '/api/v1/events')).status, 401);
  assert.equal((await http('POST', '/api/v1/nat/apply', json({}))).status, 401);
  assert.equal(calls.length, before);
});

test('a good session works (cookie or Bearer); answers carry CSP, no framing, no CORS', async () => {
  const cookie = await login();
  const a = await http('GET', '/api/v1/page', { headers: { cookie } });
  assert.equal(a.status, 200);
  assert.equal((JSON.parse(a.body) as { peers: { name: string }[] }).peers[0]!.name, '<img src=x onerror=alert(1)>');
  assert.match(String(a.headers['content-security-policy']), /default-src 'self'; script-src 'self';.*frame-ancestors 'none'/);
  assert.doesNotMatch(String(a.headers['content-security-policy']), /unsafe-inline|unsafe-eval/);
  assert.equal(a.headers['x-frame-options'], 'DENY');
  assert.equal(a.headers['access-control-allow-origin'], undefined);
  assert.equal((await http('GET', '/api/v1/page', { headers: { authorization: `Bearer ${TOKEN}` } })).status, 200);
  const w = await http('POST', '/api/v1/nat/apply', json({ confirmSeconds: 30 }, { cookie, origin: `http://127.0.0.1:${server.port}`, 'sec-fetch-site': 'same-origin' }));
  assert.equal(w.status, 200, w.body);
  assert.deepEqual(calls.at(-1), { cmd: 'nat-apply', params: { confirmSeconds: 30 } });
  // A preflight finds no CORS route.
  const pre = await http('OPTIONS', '/api/v1/settings', { headers: { origin: 'http://evil.example', 'access-control-request-method': 'POST' } });
  assert.notEqual(pre.status, 204);
  assert.equal(pre.headers['access-control-allow-origin'], undefined);
});

test('a foreign Host header is refused, even with a valid session (DNS rebinding)', async () => {
  const cookie = await login();
  for (const host of ['evil.example', `evil.example:${server.port}`, `127.0.0.2:${server.port}`]) {
    const a = await http('GET', '/api/v1/page', { headers: { cookie, host } });
    assert.equal(a.status, 403, host);
    assert.equal(code(a), 'CG_HOST');
    assert.equal((await http('GET', '/', { headers: { host } })).status, 403);
  }
  assert.equal((await http('GET', '/api/v1/page', { headers: { cookie, host: `router.lan:${server.port}` } })).status, 200, 'web.allowedHosts');
});

test('cross-origin writes and form posts from another origin are refused, with a session', async () => {
  const cookie = await login();
  const before = calls.length;
  const evil = { cookie, origin: 'http://evil.example' };
  assert.equal((await http('POST', '/api/v1/nat/revert', json({}, evil))).status, 403);
  assert.equal((await http('POST', '/api/v1/nat/revert', json({}, { cookie, 'sec-fetch-site': 'cross-site' }))).status, 403);
  assert.equal((await http('POST', '/api/v1/session', json({ token: TOKEN }, { origin: 'http://evil.example' }))).status, 403, 'no login CSRF');
  const forms: [string, string][] = [
    ['application/x-www-form-urlencoded', 'confirmSeconds=30'],
    ['multipart/form-data; boundary=XX', '--XX\r\nContent-Disposition: form-data; name="confirmSeconds"\r\n\r\n30\r\n--XX--\r\n'],
    ['text/plain', '{"confirmSeconds":30}'],
  ];
  for (const [type, body] of forms) {
    const cross = await http('POST', '/api/v1/nat/apply', { headers: { ...evil, 'content-type': type, 'sec-fetch-site': 'cross-site' }, body });
    assert.equal(cross.status, 403, type);
    // Even same-origin, a form body is not JSON: refused.
    const same = await http('POST', '/api/v1/nat/apply', { headers: { cookie, 'content-type': type }, body });
    assert.equal(same.status, 415, type);
  }
  assert.equal(calls.length, before, 'no write reached the agent');
});

test('bodies are checked by their schema; errors name the field; the agent\'s codes map to statuses', async () => {
  const cookie = await login();
  const h = { cookie };
  const bad = await http('POST', '/api/v1/pmp/delete', json({ client: '192.168.1.10', protocol: 'udp', internalPort: '5555' }, h));
  assert.equal(bad.status, 400);
  assert.equal((await http('POST', '/api/v1/pmp/delete', json({ client: '192.168.1.10', protocol: 'udp', internalPort: 5555, extra: 1 }, h))).status, 400, 'extra keys refused');
  assert.equal((await http('POST', '/api/v1/pmp/delete', json({ client: '192.168.1.10', protocol: 'udp', internalPort: 5555 }, h))).status, 404);
  const s = await http('POST', '/api/v1/settings', json({ config: { wg: { listenPort: 70000 } } }, h));
  assert.equal(s.status, 400);
  const e = JSON.parse(s.body) as { error: { code: string; field: string; message: string } };
  assert.equal(e.error.code, 'CG_CONFIG_INVALID');
  assert.equal(e.error.field, 'wg.listenPort');
  assert.equal((await http('POST', '/api/v1/nat/apply', { headers: { ...h, 'content-type': 'application/json' }, body: '{not json' })).status, 400);
});

test('the page: index with the transport block (a data block, never executed), placeholder until the bundle is built', async () => {
  const a = await http('GET', '/');
  assert.equal(a.status, 200);
  assert.match(a.body, /<script type="application\/json" id="conegate-transport">\{"host":"agent","base":"\/api\/v1","live":"sse"/);
  assert.match(String(a.headers['content-type']), /text\/html/);
  assert.match(String(a.headers['content-security-policy']), /script-src 'self'/);
});

test('server-sent events: the model at once, then pushes on change', { timeout: 20_000 }, async () => {
  const cookie = await login();
  const got: string[] = [];
  await new Promise<void>((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: server.port, path: '/api/v1/events', headers: { host: `127.0.0.1:${server.port}`, cookie } }, (res) => {
      assert.equal(res.statusCode, 200);
      assert.match(String(res.headers['content-type']), /text\/event-stream/);
      res.on('data', (c: Buffer) => {
        for (const m of c.toString().matchAll(/event: page\ndata: (.*)\n\n/g)) got.push((JSON.parse(m[1]!) as { version: string }).version);
        if (got.length === 1) pageVersion = 2;
        if (got.includes('2')) {
          req.destroy();
          resolve();
        }
      });
    });
    req.on('error', reject);
    req.end();
  });
  assert.equal(got[0], '1');
  assert.ok(got.includes('2'));
});

test('a rotated token ends the sessions the old one gave', async () => {
  const cookie = await login();
  assert.equal((await http('GET', '/api/v1/page', { headers: { cookie } })).status, 200);
  const fresh = await rotateToken(join(dir, 'web.token'));
  assert.equal((await http('GET', '/api/v1/page', { headers: { cookie } })).status, 401);
  assert.equal((await http('GET', '/api/v1/page', { headers: { authorization: `Bearer ${TOKEN}` } })).status, 401);
  assert.equal((await http('GET', '/api/v1/page', { headers: { authorization: `Bearer ${fresh}` } })).status, 200);
});

test('a rotated token also ends a live event stream opened with the old sign-in', { timeout: 20_000 }, async () => {
  const current = (await readFile(join(dir, 'web.token'), 'utf8')).trim();
  const a = await http('POST', '/api/v1/session', json({ token: current }, { origin: `http://127.0.0.1:${server.port}`, 'sec-fetch-site': 'same-origin' }));
  assert.equal(a.status, 200, a.body);
  const cookie = String(a.headers['set-cookie']).split(';')[0]!;
  let pages = 0;
  const ended = await new Promise<boolean>((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: server.port, path: '/api/v1/events', headers: { host: `127.0.0.1:${server.port}`, cookie } }, (res) => {
      assert.equal(res.statusCode, 200);
      res.on('data', (c: Buffer) => {
        pages += [...c.toString().matchAll(/event: page\n/g)].length;
        // Rotate once the stream is live; the server must then close it on its own.
        if (pages === 1) void rotateToken(join(dir, 'web.token'));
      });
      res.on('end', () => resolve(true));
    });
    req.on('error', reject);
    req.end();
  });
  assert.ok(ended);
  assert.equal(pages, 1, 'nothing was pushed after the rotation');
});
