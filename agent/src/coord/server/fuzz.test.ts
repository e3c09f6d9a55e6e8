/**
 * 100,000 mutated requests against the node API (in-process inject, one seeded PRNG so a failure
 * replays): every answer is a 2xx or a 4xx with the protocol's error body, never a 5xx, a hang or a
 * crash, and a real request works afterwards. Half the mutants are signed after mutation so they get
 * past the signature check into parsing, validation and the handlers.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { signRequest } from '../sign.ts';
import { testCoordinator } from './testing.ts';

const COUNT = Number(process.env.CG_FUZZ_COUNT ?? 100_000);

/** xorshift32: small, fast, fully determined by the seed. */
function prng(seed: number) {
  let x = seed >>> 0 || 1;
  const next = () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 0x1_0000_0000;
  };
  return { next, int: (n: number) => Math.floor(next() * n), pick: <T>(xs: readonly T[]): T => xs[Math.floor(next() * xs.length)]! };
}

const hex64 = 'ab'.repeat(32);
const SEEDS: { method: 'POST' | 'GET'; url: string; body?: unknown }[] = [
  { method: 'POST', url: '/v1/register', body: { authKey: 'cgk_x', nodeKey: hex64, discoKey: hex64, hostname: 'fuzz', advertiseRoutes: ['10.0.0.0/8'] } },
  { method: 'POST', url: '/v1/endpoints', body: { endpoints: [{ addr: '192.0.2.1:41641', type: 'stun' }, { addr: '[2001:db8::1]:1', type: 'local' }], homeRelay: 'r1' } },
  { method: 'POST', url: '/v1/routes', body: { advertise: ['192.168.0.0/16', '2001:db8::/32'] } },
  { method: 'POST', url: '/v1/route-health', body: { unhealthy: ['192.168.0.0/16'] } },
  { method: 'POST', url: '/v1/logout' },
  { method: 'GET', url: '/v1/map?since=5' },
];
const WEIRD: unknown[] = [null, true, -1, 1e308, 'x'.repeat(300), '', '\u0000', '__proto__', { __proto__: { polluted: 1 } }, [], [[[[[]]]]], { constructor: { prototype: 1 } }, 'é\ud800', 0.5, '192.0.2.1:99999', '::/0', '0.0.0.0/0'];
const PATHS = ['/v1/register', '/v1/endpoints', '/v1/routes', '/v1/route-health', '/v1/logout', '/v1/map', '/v1/map?since=-1', '/v1/map?since=abc', '/v1/map?since=99999999999999999999', '/v1/../admin/nodes', '/%00', '/v1/register?x=1', '//v1//register'];
const CTYPES = ['application/json', 'application/json; charset=utf-8', 'text/plain', 'application/x-www-form-urlencoded', 'application/json\u0000', ''];

function mutateValue(r: ReturnType<typeof prng>, v: unknown, depth = 0): unknown {
  if (depth > 4 || r.next() < 0.3) return r.pick(WEIRD);
  if (Array.isArray(v)) {
    const out = v.map((x) => (r.next() < 0.3 ? mutateValue(r, x, depth + 1) : x));
    if (r.next() < 0.2) out.push(r.pick(WEIRD));
    return out;
  }
  if (v && typeof v === 'object') {
    const out: Record<string, unknown> = { ...(v as Record<string, unknown>) };
    const keys = Object.keys(out);
    if (keys.length && r.next() < 0.7) out[r.pick(keys)] = mutateValue(r, out[r.pick(keys)], depth + 1);
    if (r.next() < 0.2) delete out[r.pick(keys.length ? keys : ['x'])];
    if (r.next() < 0.1) out[r.pick(['extra', '__proto__', 'constructor'])] = r.pick(WEIRD);
    return out;
  }
  return r.pick(WEIRD);
}

function mutateText(r: ReturnType<typeof prng>, s: string): string {
  const b = Buffer.from(s);
  switch (r.int(4)) {
    case 0:
      if (b.length) b[r.int(b.length)] = r.int(256);
      return b.toString('latin1');
    case 1:
      return s.slice(0, r.int(s.length + 1));
    case 2:
      return s + r.pick(['}', ']', ',', '"', '{"a":', '\n', '0'.repeat(50)]);
    default:
      return '['.repeat(r.int(2000)) + s;
  }
}

test(`${COUNT} mutated requests: never a 5xx or a crash, and a real request works after`, async () => {
  const t = await testCoordinator({ registerLimit: { burst: 1e9, perSec: 1e9, maxKeys: 10 } });
  const m = t.machine();
  const secret = await t.authKey({ reusable: true });
  assert.equal((await t.register(m, secret)).statusCode, 200);
  const r = prng(0xc0ffee);
  const statuses = new Map<number, number>();
  for (let i = 0; i < COUNT; i++) {
    const seed = r.pick(SEEDS);
    let url = r.next() < 0.15 ? r.pick(PATHS) : seed.url;
    const method: string = r.next() < 0.05 ? r.pick(['PUT', 'DELETE', 'PATCH', 'OPTIONS', 'HEAD', 'GET', 'POST']) : seed.method;
    let payload = seed.body === undefined ? '' : JSON.stringify(seed.body);
    if (r.next() < 0.6) payload = JSON.stringify(mutateValue(r, seed.body ?? {}));
    if (r.next() < 0.3) payload = mutateText(r, payload);
    const headers: Record<string, string> = {};
    if (payload !== '' || r.next() < 0.1) headers['content-type'] = r.next() < 0.9 ? 'application/json' : r.pick(CTYPES);
    const stream = method === 'GET' && url.startsWith('/v1/map');
    const good = signRequest(m, method, url, payload, t.wall.nowMs);
    if (r.next() < 0.5) headers.authorization = good;
    else if (r.next() < 0.5) headers.authorization = mutateText(r, good);
    // A validly signed GET /v1/map opens a stream that inject would wait on forever: never send one.
    if (stream && headers.authorization === good) delete headers.authorization;
    if (r.next() < 0.01) url = '/v1/endpoints?' + 'a'.repeat(r.int(9000));
    const res = await t.coord.app.inject({ method: method as 'GET', url, headers, payload: payload === '' ? undefined : payload });
    statuses.set(res.statusCode, (statuses.get(res.statusCode) ?? 0) + 1);
    if (res.statusCode >= 500) assert.fail(`#${i} ${method} ${url} ${JSON.stringify(headers)} ${payload.slice(0, 200)} -> ${res.statusCode} ${res.body}`);
    if (res.statusCode >= 400 && method !== 'HEAD') assert.equal(typeof res.json().error?.code, 'string', `#${i} ${res.body}`);
    // logout succeeded: come back as a new machine so the rest still reaches the handlers
    if (res.statusCode === 204 && url === '/v1/logout') {
      Object.assign(m, t.machine());
      assert.equal((await t.register(m, secret)).statusCode, 200);
    }
  }
  assert.ok((statuses.get(400) ?? 0) > 1000 && (statuses.get(401) ?? 0) > 1000, JSON.stringify([...statuses]));
  const fresh = t.machine();
  assert.equal((await t.register(fresh, secret, 'after-fuzz')).statusCode, 200);
  assert.equal((await t.request(fresh, 'POST', '/v1/endpoints', { endpoints: [{ addr: '198.51.100.1:41641', type: 'stun' }] })).statusCode, 204);
  await t.stop();
});
