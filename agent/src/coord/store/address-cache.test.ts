import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AddressCache } from './address-cache.ts';

const P4 = '192.0.2.0/24';

test('address cache: loads once per node count, extends on its own commit, reloads when another writer added nodes', async () => {
  const c = new AddressCache();
  let loads = 0;
  const db = ['192.0.2.1'];
  const load = async (): Promise<string[]> => (loads++, [...db]);
  await c.sync(1, load);
  assert.equal(c.lowestFree(P4), '192.0.2.2');
  db.push('192.0.2.2');
  c.committed(1, ['192.0.2.2']);
  await c.sync(2, load);
  assert.equal(loads, 1, 'its own commit kept the cache valid');
  assert.equal(c.lowestFree(P4), '192.0.2.3');
  db.push('192.0.2.3'); // another replica's registration
  await c.sync(3, load);
  assert.equal(loads, 2);
  assert.equal(c.lowestFree(P4), '192.0.2.4');
});

test('address cache: a late commit notice after a newer rebuild changes nothing; a stale cache is dropped', async () => {
  const c = new AddressCache();
  await c.sync(5, async () => ['192.0.2.1', '192.0.2.2', '192.0.2.3', '192.0.2.4', '192.0.2.5']);
  c.committed(4, ['192.0.2.5']); // its transaction saw 4 nodes; the rebuild at 5 already holds it
  assert.equal(c.lowestFree(P4), '192.0.2.6');
  c.committed(6, ['192.0.2.7']); // the cache is older than what that transaction saw
  let loaded = false;
  await c.sync(5, async () => ((loaded = true), []));
  assert.ok(loaded, 'dropped, so the next sync reloads');
});
