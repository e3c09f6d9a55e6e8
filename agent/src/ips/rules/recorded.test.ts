// The matcher against recorded bytes from real peers: wireguard-go handshake and transport packets
// (agent/src/wg/fixtures) and coturn / turnutils STUN messages (agent/src/stun/fixtures), each with the
// command that captured it in its header.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { parseRule } from './parse.ts';
import { matchRule } from './match.ts';
import type { Packet } from './packet.ts';

function hex(path: string): Uint8Array {
  const text = readFileSync(new URL(`../../${path}`, import.meta.url), 'utf8');
  return Uint8Array.from(Buffer.from(text.split('\n').filter((l) => !l.startsWith('#')).join('').trim(), 'hex'));
}

/** The request a fixture's header says was sent ("request: <hex>" or "request <hex>"). */
function requestIn(path: string): Uint8Array {
  const text = readFileSync(new URL(`../../${path}`, import.meta.url), 'utf8');
  const m = /request:? ([0-9a-f]{40,})/.exec(text.split('\n').filter((l) => l.startsWith('#')).join(' ').replace(/#\s*/g, ''));
  assert.ok(m, `request hex in ${path}`);
  return Uint8Array.from(Buffer.from(m[1]!, 'hex'));
}

const WG_INIT = hex('wg/fixtures/wireguard-go-initiation.hex');
const WG_RESP = hex('wg/fixtures/wireguard-go-response.hex');
const WG_DATA_IN = hex('wg/fixtures/wireguard-go-transport-echo-request.hex');
const WG_DATA_OUT = hex('wg/fixtures/wireguard-go-transport-echo-reply.hex');
const STUN_RESP = hex('stun/fixtures/coturn-binding-rfc5780.hex');
const STUN_REQ = requestIn('stun/fixtures/coturn-binding-rfc5780.hex');
const STUN_CHANGE_REQ = requestIn('stun/fixtures/coturn-change-ip-port.hex');
const TURNUTILS_REQ = hex('stun/fixtures/turnutils-response-port.hex');

const out = (payload: Uint8Array, dport: number): Packet => ({ transport: 'udp', src: { side: 'lan', port: 41641 }, dst: { side: 'remote', port: dport }, payload, toServer: true, established: false });
const inb = (payload: Uint8Array, sport: number): Packet => ({ transport: 'udp', src: { side: 'remote', port: sport }, dst: { side: 'lan', port: 41641 }, payload, toServer: false, established: true });
const v = (rule: string, p: Packet) => matchRule(parseRule(rule), p).verdict;

const WG_INIT_RULE = 'drop udp any any -> any any (msg:"LOCAL WireGuard handshake initiation"; dsize:148; content:"|01 00 00 00|"; depth:4; sid:1000001;)';
const WG_RESP_RULE = 'drop udp any any -> any any (msg:"LOCAL WireGuard handshake response"; dsize:92; content:"|02 00 00 00|"; depth:4; sid:1000002;)';
const WG_DATA_RULE = 'drop udp any any <> any any (msg:"LOCAL WireGuard transport"; dsize:>=32; byte_test:1,=,4,0; byte_test:3,=,0,1; sid:1000010;)';
const ET_2016149 = 'alert udp $HOME_NET any -> $EXTERNAL_NET 3478 (msg:"ET INFO Session Traversal Utilities for NAT (STUN Binding Request)"; content:"|00 01|"; depth:2; content:"|21 12 a4 42|"; distance:2; within:4; sid:2016149; rev:3;)';
const ET_2016150 = 'alert udp $EXTERNAL_NET 3478 -> $HOME_NET any (msg:"ET INFO Session Traversal Utilities for NAT (STUN Binding Response)"; content:"|01 01|"; depth:2; content:"|21 12 a4 42|"; distance:2; within:4; sid:2016150; rev:3;)';
const ET_2018904 = 'alert udp $HOME_NET any -> $EXTERNAL_NET 3478 (msg:"ET INFO RFC3489 STUN Binding Request Change IP and Port"; dsize:28; content:"|00 01 00 08|"; depth:4; content:"|00 03 00 04 00 00 00 06|"; distance:16; within:8; sid:2018904; rev:2;)';

test('recorded wireguard-go packets: each WireGuard rule matches its own message type only', () => {
  assert.deepEqual([WG_INIT.length, WG_RESP.length], [148, 92]);
  assert.equal(v(WG_INIT_RULE, out(WG_INIT, 51820)), 'match');
  assert.equal(v(WG_INIT_RULE, inb(WG_RESP, 51820)), 'no-match');
  assert.equal(v(WG_RESP_RULE, inb(WG_RESP, 51820)), 'match');
  assert.equal(v(WG_RESP_RULE, out(WG_INIT, 51820)), 'no-match');
  assert.equal(v(WG_DATA_RULE, inb(WG_DATA_IN, 51820)), 'match');
  assert.equal(v(WG_DATA_RULE, out(WG_DATA_OUT, 51820)), 'match');
  assert.equal(v(WG_DATA_RULE, out(WG_INIT, 51820)), 'no-match');
  for (const p of [WG_INIT, WG_RESP, WG_DATA_IN, WG_DATA_OUT]) {
    assert.equal(v(ET_2016149, out(p, 3478)), 'no-match', 'WireGuard is never taken for STUN');
  }
});

test('recorded coturn/turnutils STUN: ET request, response and RFC 3489 change-request rules', () => {
  assert.equal(v(ET_2016149, out(STUN_REQ, 3478)), 'match');
  assert.equal(v(ET_2016150, inb(STUN_RESP, 3478)), 'match');
  assert.equal(v(ET_2016150, inb(STUN_REQ, 3478)), 'no-match');
  assert.equal(v(ET_2018904, out(STUN_CHANGE_REQ, 3478)), 'match', 'the 28-byte CHANGE-REQUEST');
  assert.equal(v(ET_2018904, out(STUN_REQ, 3478)), 'no-match', 'a plain request');
  assert.equal(v(ET_2018904, out(TURNUTILS_REQ, 3478)), 'no-match', 'RESPONSE-PORT makes it 36 bytes');
  assert.equal(v(WG_INIT_RULE, out(STUN_REQ, 3478)), 'no-match');
});
