import { test } from 'node:test';
import assert from 'node:assert/strict';
import { testCoordinator } from './testing.ts';

const SECRET = 'r'.repeat(43);

test('relay admit: live node keys admitted; unknown and revoked keys not; wrong or missing secret 401', async () => {
  const t = await testCoordinator({ relaySecret: SECRET });
  const a = (await t.register(t.machine(), await t.authKey(), 'a')).json().self;
  const b = (await t.register(t.machine(), await t.authKey(), 'b')).json().self;
  const unknown = 'cd'.repeat(32);
  const admit = async (keys: string[], secret = SECRET) =>
    t.coord.app.inject({ method: 'POST', url: '/v1/relay/admit', headers: { authorization: `Bearer ${secret}`, 'content-type': 'application/json' }, payload: JSON.stringify({ nodeKeys: keys }) });
  assert.deepEqual((await admit([a.nodeKey, b.nodeKey, unknown])).json(), { admitted: [a.nodeKey, b.nodeKey] });
  assert.equal((await t.admin('POST', `/admin/nodes/${b.id}/revoke`)).statusCode, 200);
  assert.deepEqual((await admit([a.nodeKey, b.nodeKey])).json(), { admitted: [a.nodeKey] });
  const wrong = await admit([a.nodeKey], 'x'.repeat(43));
  assert.equal(wrong.statusCode, 401);
  assert.equal(wrong.json().error.code, 'relay-unauthorized');
  const none = await t.coord.app.inject({ method: 'POST', url: '/v1/relay/admit', headers: { 'content-type': 'application/json' }, payload: JSON.stringify({ nodeKeys: [a.nodeKey] }) });
  assert.equal(none.statusCode, 401);
  assert.equal((await admit(['nothex'])).statusCode, 400);
  assert.equal((await admit([])).statusCode, 400);
  await t.stop();
});

test('relay admit does not exist without a relay secret (relays asking this coordinator admit no one)', async () => {
  const t = await testCoordinator();
  const r = await t.coord.app.inject({ method: 'POST', url: '/v1/relay/admit', headers: { authorization: `Bearer ${SECRET}`, 'content-type': 'application/json' }, payload: '{"nodeKeys":[]}' });
  assert.equal(r.statusCode, 404);
  await t.stop();
});

test('--relay-secret-file: made 0600 with a random secret when missing, read back the same, junk refused', async () => {
  const { mkdtempSync, statSync, writeFileSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const { relaySecretFrom } = await import('./serve.ts');
  const dir = mkdtempSync(join(tmpdir(), 'cg-relay-secret-'));
  try {
    const file = join(dir, 'sub', 'relay.secret');
    const made = await relaySecretFrom(file);
    assert.match(made, /^[A-Za-z0-9_-]{43}$/);
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.equal(await relaySecretFrom(file), made);
    const bad = join(dir, 'bad');
    writeFileSync(bad, 'short\n', { mode: 0o600 });
    await assert.rejects(relaySecretFrom(bad), (e: any) => e.code === 'CG_CONFIG_INVALID');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
