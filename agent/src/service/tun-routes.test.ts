import { test } from 'node:test';
import assert from 'node:assert/strict';
import { applyRoutes, routeBatch, routeChanges, routePlan } from './tun-routes.ts';

test('kernel routes follow the union of allowed IPs: a prefix moving between peers in two updates stays routed', () => {
  // Update 1: the new primary (router-2) gets the prefix while router-1 still has it in this node's view.
  let installed = new Set(['100.64.0.2/32', '100.64.0.3/32', '10.2.0.0/24']);
  let step = routeChanges(installed, new Set(['100.64.0.2/32', '100.64.0.3/32', '10.2.0.0/24']));
  assert.deepEqual(step, { add: [], del: [] });
  // Update 2: router-1 loses it; the prefix is still wanted (router-2), so it is not deleted.
  installed = new Set(['100.64.0.2/32', '100.64.0.3/32', '10.2.0.0/24']);
  step = routeChanges(installed, new Set(['100.64.0.2/32', '100.64.0.3/32', '10.2.0.0/24']));
  assert.deepEqual(step.del, []);
  // Gone from every peer: deleted; new: added.
  step = routeChanges(installed, new Set(['100.64.0.2/32', 'fd00:b::/64']));
  assert.deepEqual(step, { add: ['fd00:b::/64'], del: ['100.64.0.3/32', '10.2.0.0/24'] });
});

test('route plans per platform; never a default route through the mesh', () => {
  assert.deepEqual(routePlan('add', 'cg0', ['10.2.0.0/24', 'fd00:b::/64', '0.0.0.0/0'], 'linux'), [
    ['ip', 'route', 'replace', '10.2.0.0/24', 'dev', 'cg0'],
    ['ip', '-6', 'route', 'replace', 'fd00:b::/64', 'dev', 'cg0'],
  ]);
  assert.deepEqual(routePlan('del', 'tun0', ['10.2.0.0/24'], 'freebsd'), [['route', '-q', '-n', 'delete', '-inet', '10.2.0.0/24', '-interface', 'tun0']]);
});

test('Linux route plans go out as one ip -force -batch; after a failed batch every step runs on its own and each failure names its route', async () => {
  const plan = routePlan('add', 'cg0', ['100.64.0.2/32', 'fd7a:115c:a1e0::2/128', '10.2.0.0/24'], 'linux');
  assert.equal(routeBatch(plan), 'route replace 100.64.0.2/32 dev cg0\nroute replace fd7a:115c:a1e0::2/128 dev cg0\nroute replace 10.2.0.0/24 dev cg0\n');
  assert.equal(routeBatch(routePlan('del', 'tun0', ['10.2.0.0/24'], 'freebsd')), undefined);
  assert.equal(routeBatch([]), undefined);
  const calls: string[][] = [];
  const errors: Error[] = [];
  await applyRoutes(plan, (e) => errors.push(e), async (argv) => (calls.push(argv), { code: 0, stdout: '', stderr: '' }));
  assert.deepEqual(calls, [['ip', '-force', '-batch', '-']], 'one process when the batch goes through');
  calls.length = 0;
  await applyRoutes(plan, (e) => errors.push(e), async (argv) => {
    calls.push(argv);
    if (argv.includes('-batch')) return { code: 1, stdout: '', stderr: 'Command failed -:2\n' };
    return argv.includes('fd7a:115c:a1e0::2/128') ? { code: 2, stdout: '', stderr: 'RTNETLINK answers: No such device' } : { code: 0, stdout: '', stderr: '' };
  });
  assert.equal(calls.length, 4, 'the batch, then the three steps');
  assert.deepEqual(errors.map((e) => e.message), ['ip -6 route replace fd7a:115c:a1e0::2/128 dev cg0 failed: RTNETLINK answers: No such device']);
  await applyRoutes([], (e) => errors.push(e), async () => assert.fail('nothing to run'));
  // FreeBSD: step by step, no batch.
  calls.length = 0;
  await applyRoutes(routePlan('del', 'tun0', ['10.2.0.0/24'], 'freebsd'), (e) => errors.push(e), async (argv) => (calls.push(argv), { code: 0, stdout: '', stderr: '' }));
  assert.deepEqual(calls, [['route', '-q', '-n', 'delete', '-inet', '10.2.0.0/24', '-interface', 'tun0']]);
});
