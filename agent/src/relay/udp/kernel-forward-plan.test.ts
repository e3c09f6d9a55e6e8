import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DecodeError } from '../../errors.ts';
import { encodeData } from './codec.ts';
import { counterNames, KernelCounterTracker, pairIneligible, parseCounters, planBatch, WG_HEADER_WORD, type KernelPair } from './kernel-forward-plan.ts';

const PRM = { table: 'cgr', relayAddress: '203.0.113.3', relayPort: 41642 };
const P: KernelPair = { vni: 0x123456, sources: [{ address: '192.0.2.1', port: 40000 }, { address: '::ffff:198.51.100.2', port: 50000 }] };

test('the header word and VNI match what codec.ts writes for WireGuard (offsets of @th,64,32 and @th,96,32)', () => {
  const b = encodeData('wireguard', 0x123456, new Uint8Array(4));
  assert.equal(WG_HEADER_WORD, Buffer.from(b).readUInt32BE(0));
  assert.equal(0x12345600, Buffer.from(b).readUInt32BE(4));
  // A relayed packet (flag set), control and discovery never match the word.
  assert.notEqual(Buffer.from(encodeData('wireguard', 1, new Uint8Array(4), 1)).readUInt32BE(0), WG_HEADER_WORD);
  assert.notEqual(Buffer.from(encodeData('disco', 1, new Uint8Array(4))).readUInt32BE(0), WG_HEADER_WORD);
});

test('a bound pair: owned table with two dispatch maps; per direction a raw prerouting chain (notrack, new destination) and a postrouting chain (relay source)', () => {
  const batch = planBatch(PRM, [P], undefined);
  assert.ok(batch.startsWith([
    'add table ip cgr', 'delete table ip cgr', 'add table ip cgr { flags owner ; }',
    'add chain ip cgr pre { type filter hook prerouting priority raw ; policy accept ; }',
    'add chain ip cgr post { type filter hook postrouting priority srcnat ; policy accept ; }',
    'add map ip cgr pre_map { type ipv4_addr . inet_service : verdict ; }',
    'add map ip cgr post_map { type ipv4_addr . inet_service . ipv4_addr . inet_service : verdict ; }',
    'add rule ip cgr pre ip daddr 203.0.113.3 udp dport 41642 ip saddr . udp sport vmap @pre_map',
    'add rule ip cgr post ip saddr . udp sport . ip daddr . udp dport vmap @post_map',
  ].join(' ; ')), batch);
  const cmds = batch.split(' ; ');
  for (const c of [
    'add rule ip cgr v123456_pre0 @th,64,32 0xcb107a12 @th,96,32 0x12345600 notrack counter name "v123456_pre0" ip daddr set 198.51.100.2 udp dport set 50000',
    'add rule ip cgr v123456_post1 @th,64,32 0xcb107a12 @th,96,32 0x12345600 counter name "v123456_post1" ip saddr set 203.0.113.3 udp sport set 41642',
    'add element ip cgr pre_map { 192.0.2.1 . 40000 : goto v123456_pre0 }',
    'add element ip cgr pre_map { 198.51.100.2 . 50000 : goto v123456_pre1 }',
    'add element ip cgr post_map { 198.51.100.2 . 50000 . 192.0.2.1 . 40000 : goto v123456_post1 }',
    'add counter ip cgr v123456_pre0', 'add counter ip cgr v123456_post1',
  ]) assert.ok(cmds.includes(c), c);
  assert.equal(cmds.filter((c) => c.startsWith('add rule ip cgr v123456')).length, 4);
  assert.ok(!batch.includes('\n'), 'one line: one transaction');
});

test('changes touch only their pair: a rebind swaps elements and rules (counters kept), an end deletes all of the pair, nothing changed = empty batch', () => {
  const other: KernelPair = { vni: 7, sources: [{ address: '192.0.2.9', port: 9 }, { address: '198.51.100.9', port: 9 }] };
  const before = new Map([[P.vni, P], [other.vni, other]]);
  assert.equal(planBatch(PRM, [P, other], before), '');
  const moved: KernelPair = { vni: P.vni, sources: [{ address: '192.0.2.1', port: 40001 }, P.sources[1]] };
  const re = planBatch(PRM, [moved, other], before).split(' ; ');
  assert.ok(re.includes('delete element ip cgr pre_map { 192.0.2.1 . 40000 }'));
  assert.ok(re.includes('add element ip cgr pre_map { 192.0.2.1 . 40001 : goto v123456_pre0 }'));
  assert.ok(re.includes('flush chain ip cgr v123456_pre1'), 'the other direction\'s destination changed too');
  assert.ok(!re.some((c) => c.includes('counter ip cgr')), 'counters kept');
  assert.ok(!re.some((c) => c.includes('v000007')), 'the other pair untouched');
  const gone = planBatch(PRM, [other], before).split(' ; ');
  assert.deepEqual(gone.filter((c) => c.startsWith('delete counter')).sort(), [...counterNames(P.vni).pre, ...counterNames(P.vni).post].map((c) => `delete counter ip cgr ${c}`).sort());
  assert.ok(gone.indexOf('delete element ip cgr pre_map { 192.0.2.1 . 40000 }') < gone.indexOf('delete chain ip cgr v123456_pre0'), 'elements before chains');
  assert.ok(!gone.some((c) => c.startsWith('add')));
});

test('IPv6 pairs stay in userspace in this step', () => {
  assert.equal(pairIneligible(P), undefined);
  assert.match(pairIneligible({ vni: 1, sources: [{ address: '2001:db8::1', port: 1 }, P.sources[0]] })!, /ipv6/);
});

test('counters: parsed from nft text; nonsense is a DecodeError', () => {
  const text = 'table ip cgr {\n\tcounter v000007_pre0 {\n\t\tpackets 12 bytes 3400\n\t}\n\tcounter v000007_post0 {\n\t\tpackets 11 bytes 3100\n\t}\n}\n';
  assert.deepEqual(parseCounters(text), new Map([['v000007_pre0', { packets: 12, bytes: 3400 }], ['v000007_post0', { packets: 11, bytes: 3100 }]]));
  assert.equal(parseCounters('').size, 0);
  assert.throws(() => parseCounters('counter x { weird }'), DecodeError);
  assert.throws(() => parseCounters('counter x { packets 99999999999999999999 bytes 1 }'), DecodeError);
});

test('activity: pairs whose counters moved; totals count postrouting only and survive a counter restart; blackhole = prerouting only', () => {
  const t = new KernelCounterTracker();
  const n = counterNames(7);
  const m = counterNames(8);
  const read = (pre: number, post: number, pre8 = 0, post8 = 0) => new Map([
    [n.pre[0], { packets: pre, bytes: pre * 100 }], [n.post[0], { packets: post, bytes: post * 100 }],
    [m.pre[1], { packets: pre8, bytes: 0 }], [m.post[1], { packets: post8, bytes: 0 }],
  ]);
  assert.deepEqual(t.update([7, 8], read(5, 5)), { active: [7], blackholed: [], packets: 5, bytes: 500 });
  assert.deepEqual(t.update([7, 8], read(5, 5)).active, []);
  // The table was recreated: counters start again from zero; what they count now adds up.
  assert.deepEqual(t.update([7, 8], read(2, 2)), { active: [7], blackholed: [], packets: 7, bytes: 700 });
  assert.deepEqual(t.update([7, 8], read(2, 2, 9, 0)).blackholed, [8]);
});

test('the per-side data limit goes with the pair: above it the kernel drops, before the forwarding rule', () => {
  const batch = planBatch({ ...PRM, packetsPerSec: 100000, packetsBurst: 20000 }, [P], undefined);
  const rules = batch.split(' ; ').filter((c) => c.startsWith('add rule ip cgr v123456_pre0'));
  assert.equal(rules.length, 2);
  assert.match(rules[0]!, / limit rate over 100000\/second burst 20000 packets drop$/);
  assert.match(rules[1]!, / notrack counter name "v123456_pre0"/);
});
