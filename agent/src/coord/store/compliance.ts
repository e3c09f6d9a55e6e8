/**
 * The one behaviour every CoordStore must have, as node:test cases, run against the memory twin, the
 * SQLite file and a real PostgreSQL server (compliance*.test.ts beside this file). A harness owns one
 * empty database; each open() is another connection to it: after close() it is a restart, while
 * another instance is open it is a second process or replica.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isConegateError } from '../../errors.ts';
import { changeLogCompliance } from './compliance-log.ts';
import { appended, authKey, hexKey, okNode, regInput, T0, withStore, type StoreHarness } from './compliance-kit.ts';

export type { StoreHarness } from './compliance-kit.ts';

export function storeCompliance(label: string, make: () => Promise<StoreHarness>): void {
  test(`${label}: auth keys: single-use, reusable, expired, revoked, unknown`, () =>
    withStore(make, async (s) => {
      await s.createAuthKey(authKey('ak_1', 'once'));
      await s.createAuthKey(authKey('ak_2', 'many', { reusable: true, tags: ['tag:router'] }));
      await s.createAuthKey(authKey('ak_3', 'old', { expiresAtMs: T0 }));
      await s.createAuthKey(authKey('ak_4', 'gone', { reusable: true }));
      await assert.rejects(s.createAuthKey(authKey('ak_1', 'other')), isConegateError);
      assert.equal(await s.expireAuthKey('ak_4', T0 - 1), true);
      assert.equal(await s.expireAuthKey('ak_nope', T0), false);

      okNode(await s.registerNode(regInput(1, 'once')));
      assert.deepEqual(await s.registerNode(regInput(2, 'once')), { ok: false, reason: 'auth-key-used' });
      const a = okNode(await s.registerNode(regInput(3, 'many')));
      okNode(await s.registerNode(regInput(4, 'many')));
      assert.deepEqual(a.tags, ['tag:router']);
      assert.equal(a.authKeyId, 'ak_2');
      assert.deepEqual(await s.registerNode(regInput(5, 'old', { nowMs: T0 })), { ok: false, reason: 'auth-key-expired' });
      assert.deepEqual(await s.registerNode(regInput(6, 'gone')), { ok: false, reason: 'auth-key-expired' });
      assert.deepEqual(await s.registerNode(regInput(7, 'never-issued')), { ok: false, reason: 'auth-key-unknown' });

      const keys = await s.listAuthKeys();
      assert.deepEqual(keys.map((k) => k.id), ['ak_1', 'ak_2', 'ak_3', 'ak_4']);
      const [k1, k2, k3, k4] = keys;
      assert.deepEqual([k1!.uses, k1!.usedAtMs], [1, T0 + 1]);
      assert.deepEqual([k2!.uses, k2!.usedAtMs, k2!.tags], [2, null, ['tag:router']]);
      assert.deepEqual([k3!.uses, k3!.expiresAtMs, k3!.revokedAtMs], [0, T0, null]);
      assert.equal(k4!.revokedAtMs, T0 - 1);
      // Expiring twice keeps the first time; the secret itself is never stored.
      assert.equal(await s.expireAuthKey('ak_4', T0 + 99), true);
      assert.equal((await s.listAuthKeys())[3]!.revokedAtMs, T0 - 1);
      assert.ok(!JSON.stringify(keys).includes('"once"'));
    }));

  test(`${label}: a known machine key gets its node back; keys update; a revoked one is refused`, () =>
    withStore(make, async (s) => {
      await s.createAuthKey(authKey('ak_1', 'once'));
      const first = okNode(await s.registerNode(regInput(1, 'once', { advertiseRoutes: ['10.1.0.0/16'] })));
      // Retry after a crash: the single-use key is spent, but the machine key is known, so no key is needed.
      const same = { advertiseRoutes: ['10.1.0.0/16'] };
      const again = await s.registerNode(regInput(1, '', { ...same, hostname: 'renamed' }));
      assert.deepEqual(again, { ok: true, node: first, created: false });
      assert.deepEqual(await appended(s, () => s.registerNode(regInput(1, '', same))), [], 'an unchanged retry appends nothing');
      const rotated = regInput(1, '', { ...same, nodeKey: hexKey(9, 'node'), discoKey: hexKey(9, 'disco') });
      assert.deepEqual(await appended(s, () => s.registerNode(rotated)), [{ nodeId: first.id, kind: 'node-upsert', fields: ['discoKey', 'nodeKey'] }]);
      const now = await s.nodeById(first.id);
      assert.deepEqual([now!.nodeKey, now!.discoKey, now!.ipv4, now!.name], [hexKey(9, 'node'), hexKey(9, 'disco'), first.ipv4, 'host1']);
      assert.deepEqual(await appended(s, () => s.registerNode({ ...rotated, advertiseRoutes: [] })), [{ nodeId: first.id, kind: 'routes', fields: [] }]);
      assert.equal((await s.listAuthKeys())[0]!.uses, 1);
      assert.equal(await s.revokeNode(first.id, T0 + 50), true);
      assert.deepEqual(await s.registerNode(regInput(1, 'once')), { ok: false, reason: 'node-revoked' });
    }));

  test(`${label}: addresses are the lowest free, never reused after revoke, and run out cleanly`, () =>
    withStore(make, async (s, h) => {
      await s.createAuthKey(authKey('ak_1', 'k', { reusable: true }));
      const a = okNode(await s.registerNode(regInput(1, 'k')));
      const b = okNode(await s.registerNode(regInput(2, 'k')));
      assert.deepEqual([a.ipv4, a.ipv6, b.ipv4, b.ipv6], ['100.64.0.1', 'fd7a:115c:a1e0::1', '100.64.0.2', 'fd7a:115c:a1e0::2']);
      assert.equal(await s.revokeNode(a.id, T0 + 10), true);
      assert.equal(await s.revokeNode(a.id, T0 + 11), false);
      assert.equal(await s.revokeNode('nd_unknown', T0 + 11), false);
      await s.close();
      const s2 = await h.open();
      const c = okNode(await s2.registerNode(regInput(3, 'k')));
      assert.deepEqual([c.ipv4, c.ipv6], ['100.64.0.3', 'fd7a:115c:a1e0::3']);
      const small = { prefix4: '192.0.2.0/30', prefix6: '2001:db8::/126' };
      assert.equal(okNode(await s2.registerNode(regInput(4, 'k', small))).ipv4, '192.0.2.1');
      assert.equal(okNode(await s2.registerNode(regInput(5, 'k', small))).ipv4, '192.0.2.2');
      assert.deepEqual(await s2.registerNode(regInput(6, 'k', small)), { ok: false, reason: 'no-address' });
      assert.equal((await s2.listAuthKeys())[0]!.uses, 5, 'a refused registration does not count a use');
    }));

  test(`${label}: concurrent registrations on two connections never share an address`, () =>
    withStore(make, async (s, h) => {
      const other = await h.open();
      await s.createAuthKey(authKey('ak_1', 'k', { reusable: true }));
      await s.createAuthKey(authKey('ak_2', 'once'));
      const n = 24;
      const results = await Promise.all(Array.from({ length: n }, (_, i) => (i % 2 ? other : s).registerNode(regInput(i, 'k'))));
      const nodes = results.map(okNode);
      for (const field of ['id', 'ipv4', 'ipv6', 'name'] as const) {
        assert.equal(new Set(nodes.map((x) => x[field])).size, n, `distinct ${field}`);
      }
      const v4 = nodes.map((x) => Number(x.ipv4.split('.')[3])).sort((x, y) => x - y);
      assert.deepEqual(v4, Array.from({ length: n }, (_, i) => i + 1), 'no gaps: each took the lowest free');
      // A single-use key raced from both connections is consumed exactly once.
      const race = await Promise.all(Array.from({ length: 8 }, (_, i) => (i % 2 ? other : s).registerNode(regInput(100 + i, 'once'))));
      assert.equal(race.filter((r) => r.ok).length, 1);
      assert.ok(race.every((r) => r.ok || r.reason === 'auth-key-used'));
      assert.deepEqual((await s.listAuthKeys()).map((k) => k.uses), [n, 1]);
      // The same machine key registered twice at once is still one node.
      const twice = await Promise.all([s.registerNode(regInput(200, 'k')), other.registerNode(regInput(200, 'k'))]);
      assert.equal(new Set(twice.map((r) => okNode(r).id)).size, 1);
      assert.equal((await s.listNodes()).length, n + 2);
    }));

  test(`${label}: routes: advertise, approve, reject; approval kept for routes still advertised`, () =>
    withStore(make, async (s) => {
      await s.createAuthKey(authKey('ak_1', 'k', { reusable: true }));
      const a = okNode(await s.registerNode(regInput(1, 'k', { advertiseRoutes: ['10.2.0.0/16', '10.1.0.0/16', '10.1.0.0/16'] })));
      const b = okNode(await s.registerNode(regInput(2, 'k', { advertiseRoutes: ['2001:db8:1::/48'] })));
      assert.deepEqual(await s.listRoutes(), [
        { nodeId: a.id, cidr: '10.1.0.0/16', approved: false },
        { nodeId: a.id, cidr: '10.2.0.0/16', approved: false },
        { nodeId: b.id, cidr: '2001:db8:1::/48', approved: false },
      ].sort((x, y) => (x.nodeId + x.cidr < y.nodeId + y.cidr ? -1 : 1)));
      const route = { nodeId: a.id, kind: 'routes', fields: [] };
      assert.deepEqual(await appended(s, () => s.setRouteApproval(a.id, '10.1.0.0/16', true, T0 + 5)), [route]);
      assert.deepEqual(await appended(s, () => s.setRouteApproval(a.id, '10.2.0.0/16', true, T0 + 5)), [route]);
      assert.deepEqual(await appended(s, () => s.setRouteApproval(a.id, '10.1.0.0/16', true, T0 + 6)), [], 'no change, no entry');
      assert.equal(await s.setRouteApproval(a.id, '10.9.0.0/16', true, T0), false);
      assert.equal(await s.setRouteApproval('nd_unknown', '10.1.0.0/16', true, T0), false);
      assert.deepEqual(await appended(s, () => s.setAdvertisedRoutes(a.id, ['10.1.0.0/16', '10.3.0.0/16'], T0 + 7)), [route]);
      assert.deepEqual(await appended(s, () => s.setAdvertisedRoutes(a.id, ['10.3.0.0/16', '10.1.0.0/16'], T0 + 8)), []);
      const mine = (await s.listRoutes()).filter((r) => r.nodeId === a.id);
      assert.deepEqual(mine, [
        { nodeId: a.id, cidr: '10.1.0.0/16', approved: true },
        { nodeId: a.id, cidr: '10.3.0.0/16', approved: false },
      ]);
      assert.deepEqual(await appended(s, () => s.setRouteApproval(a.id, '10.1.0.0/16', false, T0 + 9)), [route]);
      assert.deepEqual(await appended(s, () => s.noteRoutesMoved([a.id, 'nd_unknown', a.id], T0 + 9)), [route], 'a failover move: one entry per live node, no row changed');
      assert.deepEqual(await appended(s, () => s.noteRoutesMoved([], T0 + 9)), []);
      await assert.rejects(s.setAdvertisedRoutes(a.id, ['10.1.0.1/16'], T0), (e) => isConegateError(e) && e.code === 'CG_INPUT_INVALID');
      await assert.rejects(s.setAdvertisedRoutes('nd_unknown', [], T0), isConegateError);
      assert.equal(await s.revokeNode(b.id, T0 + 10), true);
      assert.deepEqual((await s.listRoutes()).map((r) => r.nodeId), [a.id, a.id], 'a revoked node advertises nothing');
      assert.equal(await s.setRouteApproval(b.id, '2001:db8:1::/48', true, T0 + 11), false);
    }));

  test(`${label}: node updates round-trip every field and append one change`, () =>
    withStore(make, async (s) => {
      await s.createAuthKey(authKey('ak_1', 'k', { reusable: true }));
      const a = okNode(await s.registerNode(regInput(1, 'k')));
      const endpoints = [
        { addr: '203.0.113.7:41641', type: 'stun' as const },
        { addr: '[2001:db8::7]:41641', type: 'local' as const },
      ];
      const patch = { endpoints, homeRelay: 'r1', name: 'gw-ü "quoted"', lastSeenMs: T0 + 77, tags: ['tag:x', 'tag:y'] };
      let got;
      assert.deepEqual(await appended(s, async () => (got = await s.updateNode(a.id, patch, T0 + 77))), [
        { nodeId: a.id, kind: 'node-patch', fields: ['endpoints', 'homeRelay', 'lastSeenMs', 'name', 'tags'] },
      ]);
      const want = { ...a, ...patch };
      assert.deepEqual(got, want);
      assert.deepEqual(await s.nodeById(a.id), want);
      assert.deepEqual(await s.nodeByMachineKey(a.machineKey), want);
      assert.deepEqual(await appended(s, () => s.updateNode(a.id, { homeRelay: 'r1' }, T0 + 78)), [], 'an unchanged field appends nothing');
      assert.deepEqual(await appended(s, () => s.updateNode(a.id, { homeRelay: null, nodeKey: hexKey(5) }, T0 + 79)), [
        { nodeId: a.id, kind: 'node-upsert', fields: ['homeRelay', 'nodeKey'] },
      ]);
      assert.equal(await s.updateNode('nd_unknown', { name: 'x' }, T0), undefined);
      assert.deepEqual(await appended(s, () => s.revokeNode(a.id, T0 + 80)), [{ nodeId: a.id, kind: 'node-remove', fields: [] }]);
      assert.equal(await s.updateNode(a.id, { name: 'x' }, T0 + 81), undefined);
      assert.deepEqual(await s.listNodes(), []);
      assert.deepEqual((await s.listNodes({ includeRevoked: true })).map((n) => [n.id, n.revokedAtMs]), [[a.id, T0 + 80]]);
      assert.equal(await s.nodeByMachineKey(hexKey(1, 'nobody')), undefined);
    }));

  test(`${label}: names are unique among live nodes`, () =>
    withStore(make, async (s) => {
      await s.createAuthKey(authKey('ak_1', 'k', { reusable: true }));
      const names = [];
      for (let i = 1; i <= 3; i++) names.push(okNode(await s.registerNode(regInput(i, 'k', { hostname: 'gw' }))));
      assert.deepEqual(names.map((n) => n.name), ['gw', 'gw-2', 'gw-3']);
      await s.revokeNode(names[0]!.id, T0 + 9);
      assert.equal(okNode(await s.registerNode(regInput(4, 'k', { hostname: 'GW' }))).name, 'GW');
    }));

  test(`${label}: bad input is refused with CG_INPUT_INVALID and changes nothing`, () =>
    withStore(make, async (s) => {
      await s.createAuthKey(authKey('ak_1', 'once'));
      const invalid = (e: unknown): boolean => isConegateError(e) && e.code === 'CG_INPUT_INVALID';
      await assert.rejects(s.registerNode(regInput(1, 'once', { advertiseRoutes: ['10.0.0.0/33'] })), invalid);
      await assert.rejects(s.registerNode(regInput(1, 'once', { prefix4: '100.64.0.0' + '/99' })), invalid);
      await assert.rejects(s.registerNode(regInput(1, 'once', { prefix6: 'not-a-prefix' })), invalid);
      assert.deepEqual([(await s.listAuthKeys())[0]!.uses, (await s.listNodes()).length, await s.latestSeq()], [0, 0, 0]);
      const a = okNode(await s.registerNode(regInput(1, 'once', { advertiseRoutes: ['10.1.0.0/16'] })));
      await assert.rejects(s.registerNode(regInput(1, '', { nodeKey: hexKey(7), advertiseRoutes: ['10.1.0.0/16', 'junk'] })), invalid);
      assert.equal((await s.nodeById(a.id))!.nodeKey, a.nodeKey, 'a refused re-registration keeps the old key');
      assert.deepEqual((await s.listRoutes()).map((r) => r.cidr), ['10.1.0.0/16']);
      assert.equal(await s.latestSeq(), 1);
    }));

  changeLogCompliance(label, make);
}
