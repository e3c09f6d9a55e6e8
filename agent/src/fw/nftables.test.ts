import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isConegateError, ConegateError } from '../errors.ts';
import { NftablesBackend, elementKey, renderSkeleton } from './nftables.ts';
import { mappingComment, parseNftTable, ruleComment, skeletonComments } from './nftables-parse.ts';
import { SAMPLE } from './compliance.ts';
import type { NftBatchRunner } from './nft-channel.ts';
import type { CommandRunner } from './run.ts';

const SKELETON =
  'table ip cg_conegate_pmpd { ' +
  'map dnat_udp { type ipv4_addr . inet_service : ipv4_addr . inet_service; }; ' +
  'map peer_udp { type ipv4_addr . inet_service . ipv4_addr . inet_service : ipv4_addr . inet_service; flags interval; }; ' +
  'map dnat_tcp { type ipv4_addr . inet_service : ipv4_addr . inet_service; }; ' +
  'map peer_tcp { type ipv4_addr . inet_service . ipv4_addr . inet_service : ipv4_addr . inet_service; flags interval; }; ' +
  'chain prerouting { type nat hook prerouting priority dstnat - 10; policy accept; ' +
  'iifname "wan0" dnat ip to ip daddr . udp dport . ip saddr . udp sport map @peer_udp comment "cgpm2 peer dnat udp on wan0"; ' +
  'iifname "wan0" dnat ip to ip daddr . udp dport map @dnat_udp comment "cgpm2 dnat udp on wan0"; ' +
  'iifname "wan0" dnat ip to ip daddr . tcp dport . ip saddr . tcp sport map @peer_tcp comment "cgpm2 peer dnat tcp on wan0"; ' +
  'iifname "wan0" dnat ip to ip daddr . tcp dport map @dnat_tcp comment "cgpm2 dnat tcp on wan0"; }; ' +
  'chain forward { type filter hook forward priority filter - 10; policy accept; ' +
  'meta l4proto udp ct status dnat ct original ip daddr . ct original proto-dst . ct original ip saddr . ct original proto-src @peer_udp accept comment "cgpm2 peer forward udp on wan0"; ' +
  'meta l4proto udp ct status dnat ct original ip daddr . ct original proto-dst @dnat_udp accept comment "cgpm2 forward udp on wan0"; ' +
  'meta l4proto tcp ct status dnat ct original ip daddr . ct original proto-dst . ct original ip saddr . ct original proto-src @peer_tcp accept comment "cgpm2 peer forward tcp on wan0"; ' +
  'meta l4proto tcp ct status dnat ct original ip daddr . ct original proto-dst @dnat_tcp accept comment "cgpm2 forward tcp on wan0"; }; }';

test('nftables golden fixed table (loaded once) and element keys for every mapping kind', () => {
  assert.equal(renderSkeleton('cg_conegate_pmpd', 'wan0'), SKELETON);
  assert.deepEqual(SAMPLE.map(elementKey), ['203.0.113.1 . 5555', '203.0.113.1 . 2222', '203.0.113.1 . 51820 . 198.51.100.9 . 51820', '203.0.113.1 . 8443 . 198.51.100.0/24 . 0-65535']);
});

/** `nft -j list table` output as nft 1.0.6 prints it for SAMPLE (captured in the lab, trimmed). */
function listed(): string {
  const plain = (m: (typeof SAMPLE)[number]) => [{ elem: { val: { concat: [m.externalAddress, m.externalPort] }, comment: ruleComment(m.id) } }, { concat: [m.internalAddress, m.internalPort] }];
  return JSON.stringify({
    nftables: [
      { metainfo: { version: '1.0.6' } },
      { table: { family: 'ip', name: 'cg_conegate_pmpd' } },
      { map: { name: 'dnat_udp', elem: [plain(SAMPLE[0]!), [{ concat: ['203.0.113.1', 7000] }, { concat: ['10.0.0.1', 7000] }]] } },
      { map: { name: 'dnat_tcp', elem: [plain(SAMPLE[1]!)] } },
      { map: { name: 'peer_udp', elem: [[{ elem: { val: { concat: ['203.0.113.1', 51820, '198.51.100.9', 51820] }, comment: ruleComment(SAMPLE[2]!.id) } }, { concat: ['192.168.1.11', 51820] }]] } },
      { map: { name: 'peer_tcp', elem: [[{ elem: { val: { concat: ['203.0.113.1', 8443, { prefix: { addr: '198.51.100.0', len: 24 } }, { range: [0, 65535] }] }, comment: ruleComment(SAMPLE[3]!.id) } }, { concat: ['192.168.1.12', 8443] }]] } },
      ...skeletonComments('wan0').map((comment) => ({ rule: { chain: 'prerouting', comment } })),
    ],
  });
}

test('nftables: the kernel\'s elements read back as mappings; elements without our comment are ignored; the earlier layout migrates', () => {
  const t = parseNftTable(listed());
  assert.deepEqual(t.mappings, SAMPLE);
  assert.equal(t.ruleComments.length, 8);
  const old = JSON.stringify({ nftables: [{ rule: { chain: 'prerouting', comment: mappingComment(SAMPLE[2]!) } }, { rule: { chain: 'forward', comment: 'x' } }] });
  assert.deepEqual(parseNftTable(old).mappings, [SAMPLE[2]]);
  assert.throws(() => parseNftTable('not json'), (e) => isConegateError(e) && e.code === 'CG_COMMAND_FAILED');
});

/** A channel that records batches and refuses while `refuse` is set. */
function fakeChannel(): NftBatchRunner & { batches: string[]; refuse: boolean } {
  const ch = {
    batches: [] as string[],
    refuse: false,
    async run(batch: string) {
      ch.batches.push(batch);
      if (ch.refuse) throw new ConegateError('CG_FIREWALL_REJECTED', 'nft refused the change (nothing applied): Error: No such file or directory');
    },
    async close() {},
  };
  return ch;
}

test('nftables: the fixed table is loaded once; after that a batch of changes is ONE transaction of element commands', async () => {
  const lists: string[] = [];
  const run: CommandRunner = async (argv) => {
    lists.push(argv.join(' '));
    return { code: 1, stdout: '', stderr: 'Error: No such file or directory' };
  };
  const ch = fakeChannel();
  const b = new NftablesBackend({ run, channel: ch, wanIf: 'wan0' });
  await b.add(SAMPLE[0]!);
  assert.equal(ch.batches[0], `table ip cg_conegate_pmpd; delete table ip cg_conegate_pmpd; ${SKELETON}; add element ip cg_conegate_pmpd dnat_udp { 203.0.113.1 . 5555 comment "cgpm2 udp-192-168-1-10-5555" : 192.168.1.10 . 5555 }`);
  await b.apply([{ op: 'add', mapping: SAMPLE[2]! }, { op: 'remove', id: SAMPLE[0]!.id }, { op: 'add', mapping: SAMPLE[3]! }, { op: 'remove', id: 'unknown' }]);
  assert.equal(ch.batches.length, 2);
  assert.equal(
    ch.batches[1],
    'delete element ip cg_conegate_pmpd dnat_udp { 203.0.113.1 . 5555 }; ' +
      'add element ip cg_conegate_pmpd peer_udp { 203.0.113.1 . 51820 . 198.51.100.9 . 51820 comment "cgpm2 udp-192-168-1-11-51820" : 192.168.1.11 . 51820 }; ' +
      'add element ip cg_conegate_pmpd peer_tcp { 203.0.113.1 . 8443 . 198.51.100.0/24 . 0-65535 comment "cgpm2 tcp-192-168-1-12-8443" : 192.168.1.12 . 8443 }',
  );
  // A replacement (same id, new port) is a delete and an add in the same transaction.
  await b.add({ ...SAMPLE[2]!, externalPort: 6000 });
  assert.match(ch.batches[2]!, /^delete element .* peer_udp \{ 203\.0\.113\.1 \. 51820 \. .*; add element .* peer_udp \{ 203\.0\.113\.1 \. 6000 \./);
  // Nothing to change: nothing sent. A clash is refused before anything is sent.
  await b.apply([{ op: 'remove', id: 'unknown' }]);
  await assert.rejects(b.add({ ...SAMPLE[0]!, id: 'other', externalPort: 6000 }), (e) => isConegateError(e) && e.code === 'CG_FIREWALL_REJECTED');
  assert.equal(ch.batches.length, 3);
  assert.deepEqual(lists, ['nft -j list table ip cg_conegate_pmpd']);
});

test('nftables: a refused batch rejects, keeps nothing cached, and the next change reads the kernel first', async () => {
  let lists = 0;
  const run: CommandRunner = async () => {
    lists++;
    return { code: 1, stdout: '', stderr: 'Error: No such file or directory' };
  };
  const ch = fakeChannel();
  const b = new NftablesBackend({ run, channel: ch });
  await b.add(SAMPLE[0]!);
  ch.refuse = true;
  await assert.rejects(b.add(SAMPLE[1]!), (e) => isConegateError(e) && e.code === 'CG_FIREWALL_REJECTED');
  // The cached view was retried once from a fresh read of the kernel, then given up.
  assert.equal(lists, 2);
  ch.refuse = false;
  await b.add(SAMPLE[1]!);
  assert.equal(lists, 3);
});

test('nftables refuses owner names that could escape the table name', () => {
  assert.throws(() => new NftablesBackend({ owner: 'x; flush ruleset' }), (e) => isConegateError(e) && e.code === 'CG_CONFIG_INVALID');
});
