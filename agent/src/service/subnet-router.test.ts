import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createLogger } from '../log/logger.ts';
import { MemoryForwarding } from '../fw/forwarding.ts';
import { MemorySubnetFirewall } from '../fw/subnet-firewall.ts';
import { interfaceAddresses, lanInterfaceFor, SubnetRouter } from './subnet-router.ts';

const ifs = {
  lo: [{ address: '127.0.0.1', family: 'IPv4' as const, internal: true }],
  wan0: [{ address: '203.0.113.102', family: 'IPv4' as const, internal: false }],
  lan0: [{ address: '10.2.0.1', family: 'IPv4' as const, internal: false }, { address: 'fd00:b::1', family: 'IPv6' as const, internal: false }],
  cg0: [{ address: '100.64.0.2', family: 'IPv4' as const, internal: false }],
};
const log = createLogger({ level: 'silent' });

function router(opts: { snat?: boolean; forwarding?: MemoryForwarding } = {}) {
  const firewall = new MemorySubnetFirewall();
  const forwarding = opts.forwarding ?? new MemoryForwarding();
  const r = new SubnetRouter({ meshIf: () => 'cg0', snat: opts.snat ?? true }, { firewall, forwarding, interfaces: () => ifs, log });
  return { r, firewall, forwarding };
}

test('the LAN interface of a prefix, and our own addresses without the mesh TUN', () => {
  assert.equal(lanInterfaceFor('10.2.0.0/24', ifs, 'cg0'), 'lan0');
  assert.equal(lanInterfaceFor('fd00:b::/64', ifs, 'cg0'), 'lan0');
  assert.equal(lanInterfaceFor('10.9.0.0/24', ifs, 'cg0'), undefined);
  assert.equal(lanInterfaceFor('100.64.0.0/10', ifs, 'cg0'), undefined, 'never the mesh TUN');
  assert.deepEqual(interfaceAddresses(ifs, 'cg0'), ['127.0.0.1', '203.0.113.102', '10.2.0.1', 'fd00:b::1']);
});

test('advertised prefixes: forwarding on for their families, rules loaded; a change replaces them; stop undoes only what it did', async () => {
  const { r, firewall, forwarding } = router();
  await r.apply(['10.2.0.0/24']);
  assert.deepEqual(forwarding.state, { 4: true, 6: false }, 'IPv6 forwarding untouched without an IPv6 prefix');
  assert.match(await firewall.show(), /10\.2\.0\.0\/24/);
  assert.match(await firewall.show(), /masquerade/);
  await r.apply(['fd00:b::/64', '10.2.0.0/24']);
  assert.deepEqual(forwarding.state, { 4: true, 6: true });
  assert.match(await firewall.show(), /fd00:b::\/64/);
  assert.deepEqual(r.status().routes, ['10.2.0.0/24', 'fd00:b::/64']);
  await r.stop();
  assert.equal(await firewall.show(), '');
  assert.deepEqual(forwarding.state, { 4: false, 6: false });
});

test('a router that forwarded before keeps forwarding after stop', async () => {
  const { r, forwarding } = router({ forwarding: new MemoryForwarding({ 4: true }) });
  await r.apply(['10.2.0.0/24', 'fd00:b::/64']);
  await r.stop();
  assert.deepEqual(forwarding.state, { 4: true, 6: false });
});

test('SNAT off: forwarding rules without source NAT', async () => {
  const { r, firewall } = router({ snat: false });
  await r.apply(['10.2.0.0/24']);
  assert.doesNotMatch(await firewall.show(), /masquerade/);
  assert.match(await firewall.show(), /iifname "cg0" drop/);
});

test('a refused load keeps the previous rules and is reported; no routes means no rules', async () => {
  const { r, firewall } = router();
  await r.apply(['10.2.0.0/24']);
  const before = await firewall.show();
  firewall.failNextLoad = true;
  await assert.rejects(r.apply(['10.3.0.0/24']));
  assert.equal(await firewall.show(), before);
  assert.match(r.status().error ?? '', /refuse/);
  assert.deepEqual(r.status().routes, ['10.2.0.0/24']);
  await r.apply([]);
  assert.equal(await firewall.show(), '');
  await r.stop();
  assert.equal(firewall.calls.clear, 1, 'nothing loaded: nothing to clear at stop');
});
