import { test } from 'node:test';
import assert from 'node:assert/strict';
import { testCoordinator } from './testing.ts';

test('register with an auth key: addresses from the pools, the same node back on re-register without a key', async () => {
  const t = await testCoordinator({ prefix4: '100.64.0.0/24' });
  const m = t.machine();
  const r = await t.register(m, await t.authKey(), 'Router-A', { advertiseRoutes: ['192.168.10.0/24'] });
  assert.equal(r.statusCode, 200, JSON.stringify(r.json()));
  const self = r.json().self;
  assert.equal(self.machineKey, m.publicKeyHex);
  assert.equal(self.name, 'router-a');
  assert.deepEqual(self.advertisedRoutes, ['192.168.10.0/24']);
  assert.deepEqual(self.approvedRoutes, []);
  assert.match(self.addresses[0], /^100\.64\.0\.\d+\/32$/);
  assert.match(self.addresses[1], /^fd7a:115c:a1e0:.*\/128$/);
  const again = await t.register(m, undefined, 'router-a');
  assert.equal(again.statusCode, 200);
  assert.equal(again.json().self.id, self.id);
  await t.stop();
});

test('auth key refusals: unknown, used, expired, required, and a revoked node', async () => {
  const t = await testCoordinator();
  const code = async (p: Promise<{ statusCode: number; json: () => any }>) => {
    const r = await p;
    return `${r.statusCode} ${r.json().error?.code}`;
  };
  assert.equal(await code(t.register(t.machine(), 'cgk_nope')), '401 auth-key-unknown');
  assert.equal(await code(t.register(t.machine(), undefined)), '401 auth-key-required');
  const single = await t.authKey();
  assert.equal((await t.register(t.machine(), single)).statusCode, 200);
  assert.equal(await code(t.register(t.machine(), single)), '403 auth-key-used');
  const shortLived = await t.authKey({ reusable: true, expiresInSec: 60 });
  assert.equal((await t.register(t.machine(), shortLived)).statusCode, 200);
  t.wall.nowMs += 61_000;
  assert.equal(await code(t.register(t.machine(), shortLived)), '403 auth-key-expired');
  // revoked: by the admin, then the same machine key tries again (with or without a valid key)
  const m = t.machine();
  const id = (await t.register(m, await t.authKey())).json().self.id;
  assert.equal((await t.admin('POST', `/admin/nodes/${id}/revoke`)).statusCode, 200);
  assert.equal(await code(t.register(m, undefined)), '403 node-revoked');
  assert.equal(await code(t.register(m, await t.authKey())), '403 node-revoked');
  assert.equal(await code(t.request(m, 'POST', '/v1/endpoints', { endpoints: [] })), '403 node-revoked');
  await t.stop();
});

test('signature and skew failures are 401 with their codes; an unregistered key is node-unknown', async () => {
  const t = await testCoordinator();
  const m = t.machine();
  await t.register(m, await t.authKey());
  const skewed = await t.request(m, 'POST', '/v1/endpoints', { endpoints: [] }, { timeMs: t.wall.nowMs - 6 * 60_000 });
  assert.equal(skewed.statusCode, 401);
  assert.equal(skewed.json().error.code, 'clock-skew');
  // signed for one body, sent with another
  const { signRequest } = await import('../sign.ts');
  const auth = signRequest(m, 'POST', '/v1/endpoints', '{"endpoints":[]}', t.wall.nowMs);
  const res = await t.coord.app.inject({ method: 'POST', url: '/v1/endpoints', headers: { authorization: auth, 'content-type': 'application/json' }, payload: '{"endpoints":[{"addr":"192.0.2.1:41641","type":"stun"}]}' });
  assert.equal(res.statusCode, 401);
  assert.equal(res.json().error.code, 'bad-signature');
  const none = await t.coord.app.inject({ method: 'GET', url: '/v1/map' });
  assert.equal(none.json().error.code, 'bad-signature');
  const stranger = await t.request(t.machine(), 'POST', '/v1/routes', { advertise: [] });
  assert.equal(`${stranger.statusCode} ${stranger.json().error.code}`, '401 node-unknown');
  await t.stop();
});

test('malformed JSON, wrong types, unknown fields and bad values are 400; oversized bodies 413', async () => {
  const t = await testCoordinator();
  const m = t.machine();
  await t.register(m, await t.authKey());
  const cases: [unknown, string | undefined][] = [
    [undefined, '{"endpoints": ['],
    [{ endpoints: 'x' }, undefined],
    [{ endpoints: [], extra: 1 }, undefined],
    [{ endpoints: [{ addr: 'example.com:1', type: 'stun' }] }, undefined],
    [{ endpoints: [{ addr: '192.0.2.1:0', type: 'stun' }] }, undefined],
    [{ endpoints: [{ addr: '192.0.2.1:1', type: 'magic' }] }, undefined],
    [{ endpoints: Array.from({ length: 33 }, () => ({ addr: '192.0.2.1:1', type: 'stun' })) }, undefined],
    [{ endpoints: [], homeRelay: 7 }, undefined],
  ];
  for (const [body, raw] of cases) {
    const r = await t.request(m, 'POST', '/v1/endpoints', body, raw === undefined ? {} : { rawBody: raw });
    assert.equal(r.statusCode, 400, `${raw ?? JSON.stringify(body)} -> ${r.body}`);
    assert.equal(r.json().error.code, 'bad-request');
  }
  const routes = await t.request(m, 'POST', '/v1/routes', { advertise: ['192.168.1.1/24'] });
  assert.equal(routes.statusCode, 400, 'host bits set');
  // found by the fuzz test: a bare address passed the schema and the store's refusal became a 500
  const bare = await t.request(m, 'POST', '/v1/routes', { advertise: ['192.168.0.0/16', '2001:db8::632'] });
  assert.equal(bare.statusCode, 400, bare.body);
  const big = await t.request(m, 'POST', '/v1/endpoints', undefined, { rawBody: JSON.stringify({ endpoints: [], pad: 'x'.repeat(70_000) }) });
  assert.equal(big.statusCode, 413);
  assert.equal(big.json().error.code, 'too-large');
  const bad = await t.register(m, undefined, 'bad name!');
  assert.equal(bad.statusCode, 400);
  const nf = await t.request(m, 'GET', '/v1/nothing');
  assert.equal(nf.statusCode, 404);
  await t.stop();
});

test('registration is rate limited per source address (token bucket on the injected clock)', async () => {
  const t = await testCoordinator({ registerLimit: { burst: 3, perSec: 1, maxKeys: 100 } });
  const codes: number[] = [];
  for (let i = 0; i < 4; i++) codes.push((await t.register(t.machine(), 'cgk_nope')).statusCode);
  assert.deepEqual(codes, [401, 401, 401, 429]);
  t.clock.advance(1000);
  assert.equal((await t.register(t.machine(), 'cgk_nope')).statusCode, 401);
  await t.stop();
});

test('endpoints and routes reports land in the store', async () => {
  const t = await testCoordinator();
  const m = t.machine();
  const id = (await t.register(m, await t.authKey())).json().self.id;
  const ep = [{ addr: '203.0.113.5:41641', type: 'stun' }, { addr: '[2001:db8::5]:41641', type: 'local' }];
  assert.equal((await t.request(m, 'POST', '/v1/endpoints', { endpoints: ep, homeRelay: 'fra' })).statusCode, 204);
  assert.equal((await t.request(m, 'POST', '/v1/routes', { advertise: ['10.1.0.0/16'] })).statusCode, 204);
  const n = await t.store.nodeById(id);
  assert.deepEqual(n?.endpoints, ep);
  assert.equal(n?.homeRelay, 'fra');
  assert.deepEqual((await t.store.listRoutes()).map((r) => r.cidr), ['10.1.0.0/16']);
  assert.equal((await t.request(m, 'POST', '/v1/logout')).statusCode, 204);
  assert.notEqual((await t.store.nodeById(id))?.revokedAtMs, null);
  await t.stop();
});
