import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isConegateError } from '../errors.ts';
import { NftablesBackend, mappingComment, parseMappingComment, parseNftJson, renderNftTable } from './nftables.ts';
import { SAMPLE } from './compliance.ts';
import type { CommandRunner } from './run.ts';

const GOLDEN = `table ip cg_conegate_pmpd {
  chain prerouting {
    type nat hook prerouting priority dstnat - 10; policy accept;
    iifname "wan0" ip daddr 203.0.113.1 tcp dport 2222 dnat to 192.168.1.10:22 comment "cgpm1 tcp-192-168-1-10-22 tcp 203.0.113.1 2222 192.168.1.10 22"
    iifname "wan0" ip daddr 203.0.113.1 udp dport 5555 dnat to 192.168.1.10:5555 comment "cgpm1 udp-192-168-1-10-5555 udp 203.0.113.1 5555 192.168.1.10 5555"
    iifname "wan0" ip daddr 203.0.113.1 udp dport 51820 ip saddr 198.51.100.9 udp sport 51820 dnat to 192.168.1.11:51820 comment "cgpm1 udp-192-168-1-11-51820 udp 203.0.113.1 51820 192.168.1.11 51820 198.51.100.9/32 51820"
  }
  chain forward {
    type filter hook forward priority filter - 10; policy accept;
    ip daddr 192.168.1.10 tcp dport 22 ct status dnat accept comment "tcp-192-168-1-10-22"
    ip daddr 192.168.1.10 udp dport 5555 ct status dnat accept comment "udp-192-168-1-10-5555"
    ip daddr 192.168.1.11 udp dport 51820 ip saddr 198.51.100.9 udp sport 51820 ct status dnat accept comment "udp-192-168-1-11-51820"
  }
}
`;

test('nftables golden table text (plain UDP, plain TCP, PEER-narrowed)', () => {
  assert.equal(renderNftTable('cg_conegate_pmpd', [SAMPLE[1]!, SAMPLE[0]!, SAMPLE[2]!], 'wan0'), GOLDEN);
});

test('nftables mapping comments round trip; foreign or tampered comments are ignored', () => {
  for (const m of SAMPLE) assert.deepEqual(parseMappingComment(mappingComment(m)), m);
  assert.equal(parseMappingComment('cgpm1 x udp 1.2.3.4 5 1.2.3.4; 6'), undefined);
  assert.equal(parseMappingComment('miniupnpd 5555'), undefined);
  const json = JSON.stringify({ nftables: [{ metainfo: {} }, { rule: { chain: 'prerouting', comment: mappingComment(SAMPLE[0]!) } }, { rule: { chain: 'forward', comment: 'x' } }] });
  assert.deepEqual(parseNftJson(json), [SAMPLE[0]]);
});

test('nftables: one change is one atomic nft -f transaction; a refusal keeps what the kernel had', async () => {
  const calls: { argv: string[]; input?: string }[] = [];
  let refuse = false;
  const run: CommandRunner = async (argv, input) => {
    calls.push({ argv, ...(input === undefined ? {} : { input }) });
    if (argv.includes('list')) return { code: 1, stdout: '', stderr: 'Error: No such file or directory' };
    return refuse ? { code: 1, stdout: '', stderr: 'Error: syntax error' } : { code: 0, stdout: '', stderr: '' };
  };
  const b = new NftablesBackend({ run });
  await b.add(SAMPLE[0]!);
  await b.add(SAMPLE[1]!);
  assert.deepEqual(calls.map((c) => c.argv.join(' ')), ['nft -j list table ip cg_conegate_pmpd', 'nft -f -', 'nft -f -']);
  assert.ok(calls[2]!.input!.startsWith('table ip cg_conegate_pmpd\ndelete table ip cg_conegate_pmpd\ntable ip cg_conegate_pmpd {'));
  assert.match(calls[2]!.input!, /udp dport 5555 .*tcp dport 2222|tcp dport 2222[\s\S]*udp dport 5555/);
  refuse = true;
  await assert.rejects(b.add(SAMPLE[2]!), (e) => isConegateError(e) && e.code === 'CG_FIREWALL_REJECTED');
  // After a refusal the next change starts from what the kernel really has.
  refuse = false;
  await b.remove('nothing');
  assert.equal(calls.at(-1)!.argv.join(' '), 'nft -j list table ip cg_conegate_pmpd');
});

test('nftables refuses owner names that could escape the table name', () => {
  assert.throws(() => new NftablesBackend({ owner: 'x; flush ruleset' }), (e) => isConegateError(e) && e.code === 'CG_CONFIG_INVALID');
});
