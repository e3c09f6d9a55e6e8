import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { parsePfStates, outboundUdpNat, PfStateReader, isOutboundUdpNat } from './states.ts';

const fix = (n: string) => readFileSync(new URL(`../../test/fixtures/states/${n}`, import.meta.url), 'utf8');

test('pfctl -ss: outbound NAT states give wire and internal source; other states kept, junk skipped', () => {
  const { states, skipped } = parsePfStates(fix('pfctl-ss-freebsd14.txt') + 'garbage line\n');
  assert.equal(skipped, 1);
  assert.equal(states.length, 11);
  const nat = outboundUdpNat(states);
  assert.deepEqual(
    nat.map((s) => `${s.stack!.addr}:${s.stack!.port}>${s.wire.addr}:${s.wire.port}>${s.peer.addr}:${s.peer.port}`),
    ['192.168.1.10:41641>203.0.113.2:53001>198.51.100.7:3478', '192.168.1.11:41641>203.0.113.2:53002>198.51.100.7:3478', '192.168.1.10:41641>203.0.113.2:61000>192.0.2.44:51820'],
  );
  const v6 = states.find((s) => s.wire.addr === '2001:db8::2');
  assert.deepEqual(v6?.wire, { addr: '2001:db8::2', port: 546 });
  assert.equal(v6?.direction, 'in');
});

test('pfctl -vss: interface-bound states and their expiry', () => {
  const { states } = parsePfStates(fix('pfctl-ss-v-pfsense.txt'));
  const nat = outboundUdpNat(states);
  assert.equal(nat.length, 2);
  assert.equal(nat[0]!.ifname, 'igb0');
  assert.equal(nat[0]!.expiresSec, 58);
  assert.equal(nat[1]!.expiresSec, 30);
});

test('PfStateReader keeps only what the filter wants, line by line; -v details attach to the right state', () => {
  const r = new PfStateReader(isOutboundUdpNat);
  for (const l of ['all tcp 203.0.113.2:4000 (192.168.1.5:4000) -> 198.51.100.1:443   ESTABLISHED:ESTABLISHED', '   age 00:01:00, expires in 00:00:07, 1:1 pkts', 'all udp 203.0.113.2:53001 (192.168.1.10:41641) -> 198.51.100.7:3478   MULTIPLE:SINGLE', '   age 00:00:01, expires in 00:00:59, 2:2 pkts', 'junk']) r.push(l);
  assert.deepEqual(r.states.map((s) => [s.proto, s.stack?.port, s.expiresSec]), [['udp', 41641, 59]]);
  assert.equal(r.skipped, 1);
});
