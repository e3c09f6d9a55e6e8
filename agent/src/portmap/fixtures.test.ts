import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { decodeAnnouncement } from './announce.ts';
import { decodePmpResponse } from '../pmp/codec.ts';
import { decodePcpResponse, PcpResult } from '../pcp/codec.ts';
import { formatIp, fromMappedV6 } from '../net/ip.ts';

const fx = (name: string): Uint8Array => Uint8Array.from(Buffer.from(readFileSync(new URL(`./fixtures/miniupnpd-${name}.hex`, import.meta.url), 'utf8').trim(), 'hex'));

test('fixtures: miniupnpd\'s start-up PCP ANNOUNCE is an announcement with epoch 0', () => {
  assert.deepEqual(decodeAnnouncement(fx('pcp-startup-announce')), { via: 'pcp', epochSec: 0 });
  assert.deepEqual(decodeAnnouncement(fx('natpmp-public-address')), { via: 'natpmp', epochSec: 3, externalAddress: '203.0.113.100' });
});

test('fixtures: miniupnpd NAT-PMP replies', () => {
  assert.deepEqual(decodePmpResponse(fx('natpmp-map-udp')), { kind: 'map', protocol: 'udp', result: 0, epochSec: 3, internalPort: 42000, externalPort: 42000, lifetimeSec: 120 });
  const del = decodePmpResponse(fx('natpmp-unmap-udp'));
  assert.ok(del.kind === 'map' && del.result === 0 && del.lifetimeSec === 0 && del.externalPort === 0);
});

test('fixtures: miniupnpd PCP replies echo the nonce; the external address is IPv4-mapped', () => {
  const m = decodePcpResponse(fx('pcp-map-udp'));
  assert.ok(m.opcode === 'map');
  assert.deepEqual([m.result, m.lifetimeSec, m.epochSec, m.map.internalPort, m.map.externalPort], [0, 120, 3, 42001, 42001]);
  assert.deepEqual([...m.map.nonce], [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
  assert.equal(formatIp(fromMappedV6(m.map.externalAddress)!), '203.0.113.100');
  const bad = decodePcpResponse(fx('pcp-map-address-mismatch'));
  assert.equal(bad.result, PcpResult.ADDRESS_MISMATCH);
  const del = decodePcpResponse(fx('pcp-unmap-udp'));
  assert.ok(del.opcode === 'map' && del.result === 0 && del.lifetimeSec === 0);
  const ann = decodePcpResponse(fx('pcp-announce'));
  assert.deepEqual([ann.opcode, ann.result, ann.epochSec], ['announce', 0, 3]);
});
