import { test } from 'node:test';
import assert from 'node:assert/strict';
import { acceptableRoute, acceptedRoutes } from './accept-routes.ts';

test('a prefix containing one of our own addresses is never accepted (second router on the site, LAN host)', () => {
  const own = ['10.2.0.11', '203.0.113.102', 'fd00:b::11', 'fe80::1%lan0', '100.64.0.3/32'];
  assert.equal(acceptableRoute('10.2.0.0/24', own), false, 'our own LAN');
  assert.equal(acceptableRoute('10.0.0.0/8', own), false, 'a wider prefix over our LAN');
  assert.equal(acceptableRoute('fd00:b::/64', own), false, 'our own IPv6 LAN');
  assert.equal(acceptableRoute('100.64.0.0/10', own), false, 'the mesh itself');
  assert.equal(acceptableRoute('0.0.0.0/0', []), false, 'never a default route');
  assert.equal(acceptableRoute('::/0', []), false);
  assert.equal(acceptableRoute('10.1.0.0/24', own), true);
  assert.equal(acceptableRoute('fd00:a::/64', own), true);
  assert.equal(acceptableRoute('10.2.0.0/25', ['10.2.0.200']), true, 'the other half of a split LAN');
  assert.equal(acceptableRoute('not a prefix', own), false);
  assert.deepEqual(acceptedRoutes(['10.1.0.0/24', '10.2.0.0/24', 'fd00:a::/64'], own), ['10.1.0.0/24', 'fd00:a::/64']);
});
