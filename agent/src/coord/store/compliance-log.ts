/**
 * Compliance, second half: the change log (order, limits, trimming, seq never reused), onChange
 * (after commit, across connections) and what a restart keeps. Called by storeCompliance().
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { CoordStore } from './types.ts';
import { authKey, okNode, regInput, T0, withStore, type StoreHarness } from './compliance-kit.ts';

/** Resolves with the first seq `store` reports that satisfies `pred`; rejects after `timeoutMs`. */
export function nextChange(store: CoordStore, pred: (seq: number) => boolean = () => true, timeoutMs = 10_000): Promise<number> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(new Error(`no change notification within ${timeoutMs} ms`));
    }, timeoutMs);
    const off = store.onChange((seq) => {
      if (!pred(seq)) return;
      clearTimeout(timer);
      off();
      resolve(seq);
    });
  });
}

async function seedThree(s: CoordStore): Promise<string[]> {
  await s.createAuthKey(authKey('ak_1', 'k', { reusable: true }));
  const ids = [];
  for (let i = 1; i <= 3; i++) ids.push(okNode(await s.registerNode(regInput(i, 'k'))).id);
  return ids;
}

export function changeLogCompliance(label: string, make: () => Promise<StoreHarness>): void {
  test(`${label}: change log: seq order, limit, trim, and a seq is never reused`, () =>
    withStore(make, async (s, h) => {
      assert.deepEqual([await s.latestSeq(), await s.oldestSeq(), await s.changesSince(0, 10)], [0, 1, []]);
      const ids = await seedThree(s);
      await s.updateNode(ids[0]!, { homeRelay: 'r9' }, T0 + 50);
      const all = await s.changesSince(0, 100);
      assert.deepEqual(all.map((c) => c.seq), [1, 2, 3, 4]);
      assert.deepEqual(all.map((c) => [c.nodeId, c.kind, c.fields, c.atMs]), [
        [ids[0], 'node-upsert', [], T0 + 1],
        [ids[1], 'node-upsert', [], T0 + 2],
        [ids[2], 'node-upsert', [], T0 + 3],
        [ids[0], 'node-patch', ['homeRelay'], T0 + 50],
      ]);
      assert.deepEqual((await s.changesSince(1, 2)).map((c) => c.seq), [2, 3]);
      assert.deepEqual(await s.changesSince(4, 10), []);
      assert.equal(await s.latestSeq(), 4);

      await s.trimChanges(10);
      assert.equal(await s.oldestSeq(), 1);
      await s.trimChanges(2);
      assert.deepEqual([await s.oldestSeq(), await s.latestSeq()], [3, 4]);
      assert.deepEqual((await s.changesSince(0, 10)).map((c) => c.seq), [3, 4]);
      await s.trimChanges(0);
      assert.deepEqual([await s.oldestSeq(), await s.latestSeq(), await s.changesSince(0, 10)], [5, 4, []]);
      await s.close();
      const s2 = await h.open();
      assert.deepEqual([await s2.oldestSeq(), await s2.latestSeq()], [5, 4], 'trim state survives a restart');
      await s2.revokeNode(ids[2]!, T0 + 60);
      assert.deepEqual((await s2.changesSince(0, 10)).map((c) => [c.seq, c.kind]), [[5, 'node-remove']]);
    }));

  test(`${label}: auth key changes append nothing (no map shows them)`, () =>
    withStore(make, async (s) => {
      await s.createAuthKey(authKey('ak_1', 'k'));
      await s.expireAuthKey('ak_1', T0);
      assert.equal(await s.latestSeq(), 0);
    }));

  test(`${label}: onChange fires after commit, with the change readable, and stops when unsubscribed`, () =>
    withStore(make, async (s) => {
      await s.createAuthKey(authKey('ak_1', 'k', { reusable: true }));
      const seen: { seq: number; node: unknown }[] = [];
      const reads: Promise<void>[] = [];
      const off = s.onChange((seq) => {
        reads.push(s.changesSince(seq - 1, 1).then(async ([c]) => void seen.push({ seq, node: c && (await s.nodeById(c.nodeId))?.name })));
      });
      const offThrowing = s.onChange(() => {
        throw new Error('a listener that throws');
      });
      const fired = nextChange(s);
      const a = okNode(await s.registerNode(regInput(1, 'k')));
      assert.equal(await fired, 1);
      await Promise.all(reads);
      assert.deepEqual(seen, [{ seq: 1, node: a.name }]);
      off();
      offThrowing();
      const again = nextChange(s);
      await s.updateNode(a.id, { name: 'later' }, T0 + 5);
      assert.equal(await again, 2);
      await Promise.all(reads);
      assert.equal(seen.length, 1);
    }));

  test(`${label}: a commit on one connection reaches onChange on another`, () =>
    withStore(make, async (s, h) => {
      const other = await h.open();
      await s.createAuthKey(authKey('ak_1', 'k', { reusable: true }));
      const heard = nextChange(other, (seq) => seq >= 1);
      const a = okNode(await s.registerNode(regInput(1, 'k')));
      assert.equal(await heard, 1);
      const back = nextChange(s, (seq) => seq >= 2);
      await other.setAdvertisedRoutes(a.id, ['10.0.0.0/8'], T0 + 3);
      assert.equal(await back, 2);
    }));

  test(`${label}: settings: the first value stored wins, on every connection and after a restart`, () =>
    withStore(make, async (s, h) => {
      const other = await h.open();
      const got = await Promise.all([s.initSetting('prefix6', 'fd11::/48'), other.initSetting('prefix6', 'fd22::/48')]);
      assert.equal(new Set(got).size, 1);
      assert.equal(await s.initSetting('prefix6', 'fd33::/48'), got[0]);
      assert.equal(await s.initSetting('other', 'x'), 'x');
      assert.equal(await s.latestSeq(), 0, 'settings are not map changes');
      await s.close();
      await other.close();
      const again = await h.open();
      assert.equal(await again.initSetting('prefix6', 'fd44::/48'), got[0]);
    }));

  test(`${label}: a restart keeps keys, nodes, routes, approvals, addresses and the log`, () =>
    withStore(make, async (s, h) => {
      await s.createAuthKey(authKey('ak_1', 'once', { tags: ['tag:a'], expiresAtMs: T0 + 1e9 }));
      await s.createAuthKey(authKey('ak_2', 'k', { reusable: true }));
      const a = okNode(await s.registerNode(regInput(1, 'once', { advertiseRoutes: ['10.1.0.0/16', '10.2.0.0/16'] })));
      const b = okNode(await s.registerNode(regInput(2, 'k')));
      await s.setRouteApproval(a.id, '10.2.0.0/16', true, T0 + 10);
      await s.updateNode(a.id, { endpoints: [{ addr: '198.51.100.4:1', type: 'portmap' }], homeRelay: 'r2' }, T0 + 11);
      await s.revokeNode(b.id, T0 + 12);
      const before = {
        keys: await s.listAuthKeys(),
        nodes: await s.listNodes({ includeRevoked: true }),
        routes: await s.listRoutes(),
        log: await s.changesSince(0, 100),
        seq: [await s.latestSeq(), await s.oldestSeq()],
      };
      await s.close();
      const s2 = await h.open();
      await s2.migrate();
      const after = {
        keys: await s2.listAuthKeys(),
        nodes: await s2.listNodes({ includeRevoked: true }),
        routes: await s2.listRoutes(),
        log: await s2.changesSince(0, 100),
        seq: [await s2.latestSeq(), await s2.oldestSeq()],
      };
      assert.deepEqual(after, before);
      assert.deepEqual(await s2.registerNode(regInput(3, 'once')), { ok: false, reason: 'auth-key-used' });
      assert.equal(okNode(await s2.registerNode(regInput(4, 'k'))).ipv4, '100.64.0.3');
    }));
}
