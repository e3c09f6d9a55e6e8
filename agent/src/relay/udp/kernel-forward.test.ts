import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Endpoint } from '../../wg/ports.ts';
import { counterNames } from './kernel-forward-plan.ts';
import { KernelForwarder, kernelForwardDecision, localRelayAddress } from './kernel-forward.ts';
import { MemoryKernelTable } from './kernel-table-memory.ts';

const RELAY: Endpoint = { address: '203.0.113.3', port: 41642 };
const S: [Endpoint, Endpoint] = [{ address: '192.0.2.1', port: 40000 }, { address: '198.51.100.2', port: 50000 }];
const S2: [Endpoint, Endpoint] = [{ address: '192.0.2.7', port: 1 }, { address: '198.51.100.7', port: 2 }];
const ON = { use: true, reason: 'kernel forwarding' };

function setup(relay: () => Endpoint | undefined = () => RELAY) {
  const table = new MemoryKernelTable();
  const logs: string[] = [];
  const f = new KernelForwarder({ table, mode: 'auto', decision: ON, relay, log: (m) => logs.push(m) });
  return { table, f, logs };
}

test('decision: off by config, off elsewhere than Linux, without libnftables, without ip_forward; else on', () => {
  const ok = { platform: 'linux', ipForward: true, nftAvailable: true };
  assert.deepEqual(kernelForwardDecision('auto', ok), ON);
  assert.match(kernelForwardDecision('off', ok).reason, /kernelForward is off/);
  assert.match(kernelForwardDecision('auto', { ...ok, platform: 'freebsd' }).reason, /freebsd/);
  assert.match(kernelForwardDecision('auto', { ...ok, nftAvailable: false }).reason, /libnftables/);
  assert.match(kernelForwardDecision('auto', { ...ok, ipForward: false }).reason, /ip_forward/);
  assert.equal(kernelForwardDecision('auto', { ...ok, ipForward: undefined }).use, false);
});

test('relay address: the listen address when local, else the advertised one when local, else none (port forward)', () => {
  const local = new Set(['203.0.113.3', '10.0.0.1']);
  assert.equal(localRelayAddress('10.0.0.1', '203.0.113.3', local), '10.0.0.1');
  assert.equal(localRelayAddress('0.0.0.0', '203.0.113.3', local), '203.0.113.3');
  assert.equal(localRelayAddress('0.0.0.0', '::ffff:203.0.113.3', local), '203.0.113.3');
  assert.equal(localRelayAddress('0.0.0.0', '198.51.100.1', local), undefined);
});

test('bound pairs are loaded, a rebind replaces, an end deletes; status counts them', async () => {
  const { table, f } = setup();
  f.setPair(7, S);
  f.setPair(8, S2);
  await f.settle();
  assert.deepEqual((await table.installed()).map((p) => p.vni), [7, 8]);
  const moved: [Endpoint, Endpoint] = [{ address: '192.0.2.1', port: 40001 }, S[1]];
  f.setPair(7, moved);
  f.setPair(8, undefined);
  await f.settle();
  assert.deepEqual(await table.installed(), [{ vni: 7, sources: moved }]);
  assert.equal(f.status().pairs, 1);
  assert.deepEqual(f.status().userspace, []);
});

test('a refused load leaves the new pair in userspace with the reason, keeps the loaded ones; a second refusal turns the path off', async () => {
  const { table, f, logs } = setup();
  f.setPair(7, S);
  await f.settle();
  table.refuseNext = 1;
  f.setPair(8, S2);
  await f.settle();
  assert.deepEqual((await table.installed()).map((p) => p.vni), [7]);
  assert.match(f.status().userspace.find((u) => u.vni === 8)!.reason, /nft refused/);
  assert.equal(logs.length, 1);
  table.refuseNext = 2;
  f.setPair(9, [{ address: '192.0.2.9', port: 9 }, { address: '198.51.100.9', port: 9 }]);
  await f.settle();
  const st = f.status();
  assert.equal(st.active, false);
  assert.match(st.reason, /off after a refused load/);
  assert.equal(table.closed, true, 'nothing of the table is left');
});

test('counters: a pair the kernel forwards is reported active; one whose packets never reach postrouting goes back to userspace', async () => {
  const { table, f } = setup();
  f.setPair(7, S);
  f.setPair(8, S2);
  await f.settle();
  const wg = (vni: number) => Uint8Array.from([0xcb, 0x10, 0x7a, 0x12, vni >> 16, (vni >> 8) & 0xff, vni & 0xff, 0, 1, 2]);
  assert.deepEqual(table.forward(wg(7), S[0], RELAY), S[1]);
  assert.equal(table.forward(wg(7), { address: '192.0.2.66', port: 40000 }, RELAY), undefined, 'not a bound source');
  assert.equal(table.forward(Uint8Array.from([0xcb, 0x11, 0x7a, 0x12, 0, 0, 7, 0]), S[0], RELAY), undefined, 'already relayed');
  assert.deepEqual((await f.poll())?.active, [7]);
  assert.equal(f.status().packets, 1);
  // Pair 8's packets matched in prerouting but were dropped before postrouting (a forward filter):
  const c = (table as unknown as { counters: Map<string, { packets: number; bytes: number }> }).counters;
  c.get(counterNames(8).pre[0])!.packets = 5;
  const act = await f.poll();
  assert.deepEqual(act?.blackholed, [8]);
  await f.settle();
  assert.deepEqual((await table.installed()).map((p) => p.vni), [7]);
  assert.match(f.status().userspace.find((u) => u.vni === 8)!.reason, /forward filter/);
});

test('pairs wait for the relay address (STUN not done yet) and load once it is known; IPv6 pairs stay in userspace', async () => {
  let relay: Endpoint | undefined;
  const { table, f } = setup(() => relay);
  f.setPair(7, S);
  f.setPair(9, [{ address: '2001:db8::1', port: 1 }, { address: '2001:db8::2', port: 2 }]);
  await f.settle();
  assert.deepEqual(await table.installed(), []);
  assert.match(f.status().userspace.find((u) => u.vni === 7)!.reason, /relay address/);
  relay = RELAY;
  await f.poll();
  await f.settle();
  assert.deepEqual((await table.installed()).map((p) => p.vni), [7]);
  assert.match(f.status().userspace.find((u) => u.vni === 9)!.reason, /ipv6/);
});

test('off: nothing is ever loaded and status says why', async () => {
  const table = new MemoryKernelTable();
  const f = new KernelForwarder({ table, mode: 'off', decision: kernelForwardDecision('off', { platform: 'linux', ipForward: true, nftAvailable: true }), relay: () => RELAY });
  f.setPair(7, S);
  await f.settle();
  assert.equal(table.loads, 0);
  assert.equal(f.status().active, false);
  assert.match(f.status().userspace[0]!.reason, /kernelForward is off/);
});
