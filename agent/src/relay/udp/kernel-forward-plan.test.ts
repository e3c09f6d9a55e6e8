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

test('a bound pair: owned table, raw prerouting rule per direction (notrack, new destination), postrouting rule (relay source)', () => {
  const { batch, counters } = planBatch(PRM, [P], new Set(), true);
  assert.ok(batch.startsWith([
    'add table ip cgr', 'delete table ip cgr', 'add table ip cgr { flags owner ; }',
    'add chain ip cgr pre { type filter hook prerouting priority raw ; policy accept ; }',
    'add chain ip cgr post { type filter hook postrouting priority srcnat ; policy accept ; }',
    'flush chain ip cgr pre', 'flush chain ip cgr post',
  ].join(' ; ')), batch);
  const cmds = batch.split(' ; ');
  assert.ok(cmds.includes(
    'add rule ip cgr pre ip daddr 203.0.113.3 udp dport 41642 ip saddr 192.0.2.1 udp sport 40000 @th,64,32 0xcb107a12 @th,96,32 0x12345600 ' +
    'notrack counter name "v123456_pre0" ip daddr set 198.51.100.2 udp dport set 50000',
  ));
  assert.ok(cmds.includes(
    'add rule ip cgr post ip saddr 198.51.100.2 udp sport 50000 ip daddr 192.0.2.1 udp dport 40000 @th,64,32 0xcb107a12 @th,96,32 0x12345600 ' +
    'counter name "v123456_post1" ip saddr set 203.0.113.3 udp sport set 41642',
  ));
  assert.equal(cmds.filter((c) => c.startsWith('add rule')).length, 4);
  assert.deepEqual([...counters].sort(), ['v123456_post0', 'v123456_post1', 'v123456_pre0', 'v123456_pre1']);
  assert.ok(!batch.includes('\n'), 'one line: one transaction');
});

test('rebind replaces (rules flushed and re-added, counters kept); expiry deletes the pair\'s counters; no pairs: empty chains', () => {
  const first = planBatch(PRM, [P], new Set(), true);
  const moved: KernelPair = { vni: P.vni, sources: [{ address: '192.0.2.1', port: 40001 }, P.sources[1]] };
  const re = planBatch(PRM, [moved], first.counters, false);
  assert.ok(!re.batch.includes('delete'), 'a rebind deletes nothing');
  assert.ok(re.batch.includes('udp sport 40001') && !re.batch.includes('udp sport 40000'));
  const gone = planBatch(PRM, [], re.counters, false);
  assert.deepEqual(gone.batch.split(' ; ').filter((c) => c.startsWith('delete')).sort(), [...first.counters].sort().map((c) => `delete counter ip cgr ${c}`));
  assert.ok(!gone.batch.includes('add rule'));
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
  const { batch } = planBatch({ ...PRM, packetsPerSec: 100000, packetsBurst: 20000 }, [P], new Set(), true);
  const rules = batch.split(' ; ').filter((c) => c.startsWith('add rule ip cgr pre'));
  assert.equal(rules.length, 4);
  assert.match(rules[0]!, /ip saddr 192\.0\.2\.1 udp sport 40000 .* limit rate over 100000\/second burst 20000 packets drop$/);
  assert.match(rules[1]!, /ip saddr 192\.0\.2\.1 udp sport 40000 .* notrack counter name "v123456_pre0"/);
});
