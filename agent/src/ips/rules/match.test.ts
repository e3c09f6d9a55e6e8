import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseRule } from './parse.ts';
import { matchRule } from './match.ts';
import type { Packet } from './packet.ts';
import { stunBindingRequest, stunBindingResponse, tlsClientHello, wireguardShaped, filler } from '../shapes.ts';

// Our own packets, built from the RFC 8489 / WireGuard whitepaper layouts.
const txid = filler(12, 1);
const STUN_REQ = stunBindingRequest(txid);
const STUN_RESP = stunBindingResponse(txid, [198, 51, 100, 7], 41641);
const WG1 = wireguardShaped(1);
const WG2 = wireguardShaped(2);
const WG3 = wireguardShaped(3);
const WG4 = wireguardShaped(4, 4, 16);
const HELLO = tlsClientHello('relay.example.com');

function out(payload: Uint8Array, dport: number, sport = 41641, extra: Partial<Packet> = {}): Packet {
  return { transport: 'udp', src: { side: 'lan', port: sport }, dst: { side: 'remote', port: dport }, payload, toServer: true, established: false, ...extra };
}
function inb(payload: Uint8Array, sport: number, dport = 41641, extra: Partial<Packet> = {}): Packet {
  return { transport: 'udp', src: { side: 'remote', port: sport }, dst: { side: 'lan', port: dport }, payload, toServer: false, established: true, ...extra };
}
const v = (rule: string, pkt: Packet) => matchRule(parseRule(rule), pkt).verdict;

test('the bytes have the published layouts', () => {
  assert.equal(STUN_REQ.length, 40);
  assert.deepEqual(Array.from(STUN_REQ.subarray(0, 8)), [0x00, 0x01, 0x00, 20, 0x21, 0x12, 0xa4, 0x42]);
  assert.deepEqual(Array.from(STUN_RESP.subarray(0, 2)), [0x01, 0x01]);
  assert.deepEqual([WG1.length, WG2.length, WG3.length, WG4.length], [148, 92, 64, 32]);
  for (const [t, b] of [[1, WG1], [2, WG2], [3, WG3], [4, WG4]] as const) assert.deepEqual(Array.from(b.subarray(0, 4)), [t, 0, 0, 0]);
  assert.deepEqual(Array.from(HELLO.subarray(0, 3)), [0x16, 0x03, 0x01]);
  assert.equal(HELLO[5], 0x01);
});

const ET_2016149 = 'alert udp $HOME_NET any -> $EXTERNAL_NET 3478 (msg:"ET INFO Session Traversal Utilities for NAT (STUN Binding Request)"; content:"|00 01|"; depth:2; content:"|21 12 a4 42|"; distance:2; within:4; sid:2016149; rev:3;)';
const ET_2016150 = 'alert udp $EXTERNAL_NET 3478 -> $HOME_NET any (msg:"ET INFO Session Traversal Utilities for NAT (STUN Binding Response)"; content:"|01 01|"; depth:2; content:"|21 12 a4 42|"; distance:2; within:4; sid:2016150; rev:3;)';
const ET_2033078 = 'alert udp $HOME_NET [1024:65535,!3478] -> $EXTERNAL_NET [1024:65535,!3478] (msg:"ET INFO STUN Binding Request On Non-Standard High Port"; content:"|00 01|"; depth:2; content:"|21 12 a4 42|"; distance:2; within:4; sid:2033078; rev:2;)';
const ET_2033077 = 'alert udp $HOME_NET any -> $EXTERNAL_NET [!3478,1:1024] (msg:"ET INFO STUN Binding Request On Non-Standard Low Port"; content:"|00 01|"; depth:2; content:"|21 12 a4 42|"; distance:2; within:4; sid:2033077; rev:2;)';

test('ET STUN rules against our STUN request and response bytes', () => {
  assert.equal(v(ET_2016149, out(STUN_REQ, 3478)), 'match');
  assert.equal(v(ET_2016149, out(STUN_REQ, 41641)), 'no-match', 'port 3478 only');
  assert.equal(v(ET_2016149, out(WG1, 3478)), 'no-match', 'WireGuard bytes are not STUN');
  assert.equal(v(ET_2016150, inb(STUN_RESP, 3478)), 'match');
  assert.equal(v(ET_2016150, inb(STUN_REQ, 3478)), 'no-match', 'a request is not a response');
  assert.equal(v(ET_2033078, out(STUN_REQ, 41641)), 'match', 'peer-to-peer STUN on the mesh port');
  assert.equal(v(ET_2033078, out(STUN_REQ, 3478)), 'no-match', 'negated 3478');
  assert.equal(v(ET_2033078, inb(STUN_REQ, 41641)), 'no-match', 'direction is LAN -> outside');
  assert.equal(v(ET_2033077, out(STUN_REQ, 41641)), 'no-match');
  assert.equal(v(ET_2033077, out(STUN_REQ, 19302)), 'no-match');
  assert.equal(v(ET_2033077, out(STUN_REQ, 443)), 'match');
});

test('WireGuard-shaped local rules: dsize and first bytes per message type', () => {
  const init = 'drop udp any any -> any any (msg:"LOCAL WireGuard handshake initiation"; dsize:148; content:"|01 00 00 00|"; depth:4; sid:1000001;)';
  const resp = 'drop udp any any -> any any (msg:"LOCAL WireGuard handshake response"; dsize:92; content:"|02 00 00 00|"; offset:0; depth:4; sid:1000002;)';
  const cookie = 'alert udp any any <> any any (msg:"LOCAL WireGuard cookie"; dsize:64; byte_test:4,=,0x03000000,0; sid:1000003;)';
  const data = 'drop udp any any -> any any (msg:"LOCAL WireGuard data"; dsize:>=32; byte_test:1,=,4,0; byte_test:3,=,0,1; sid:1000004;)';
  assert.equal(v(init, out(WG1, 51820)), 'match');
  assert.equal(v(init, out(WG2, 51820)), 'no-match');
  assert.equal(v(init, out(Uint8Array.from([...WG1, 0]), 51820)), 'no-match', '149 bytes');
  assert.equal(v(resp, inb(WG2, 51820)), 'match');
  assert.equal(v(resp, inb(WG1, 51820)), 'no-match');
  assert.equal(v(cookie, inb(WG3, 51820)), 'match', 'bidirectional, big-endian byte_test');
  assert.equal(v(cookie, inb(WG2, 51820)), 'no-match');
  assert.equal(v(data, out(WG4, 51820)), 'match');
  assert.equal(v(data, out(WG1, 51820)), 'no-match');
  assert.equal(v(data, out(STUN_REQ, 51820)), 'no-match');
});

test('dsize forms: <, >, <>, =, !', () => {
  const r = (d: string) => `alert udp any any -> any any (dsize:${d}; sid:1;)`;
  assert.equal(v(r('<149'), out(WG1, 1)), 'match');
  assert.equal(v(r('<148'), out(WG1, 1)), 'no-match');
  assert.equal(v(r('>147'), out(WG1, 1)), 'match');
  assert.equal(v(r('100<>200'), out(WG1, 1)), 'match');
  assert.equal(v(r('148<>200'), out(WG1, 1)), 'no-match', 'bounds are exclusive');
  assert.equal(v(r('=148'), out(WG1, 1)), 'match');
  assert.equal(v(r('!148'), out(WG1, 1)), 'no-match');
  assert.equal(v(r('lots'), out(WG1, 1)), 'unknown');
});

test('relative content backtracks to a later occurrence of the earlier content', () => {
  const payload = new TextEncoder().encode('abXXabYY');
  const rule = 'alert udp any any -> any any (content:"ab"; content:"YY"; distance:0; within:2; sid:1;)';
  assert.equal(v(rule, out(payload, 1)), 'match');
  assert.equal(v('alert udp any any -> any any (content:"ab"; content:"ZZ"; distance:0; sid:1;)', out(payload, 1)), 'no-match');
  assert.equal(v('alert udp any any -> any any (content:"XX"; offset:2; depth:2; content:!"YY"; sid:1;)', out(payload, 1)), 'no-match');
  assert.equal(v('alert udp any any -> any any (content:"xxab"; nocase; isdataat:2,relative; isdataat:!3,relative; sid:1;)', out(payload, 1)), 'match');
  assert.equal(v('alert udp any any -> any any (content:"YY"; endswith; content:"ab"; startswith; sid:1;)', out(payload, 1)), 'match');
  assert.equal(v('alert udp any any -> any any (content:"YY"; endswith; content:"XX"; startswith; sid:1;)', out(payload, 1)), 'no-match', 'startswith only at offset 0');
});

test('flow direction and state against our packets', () => {
  const r = (f: string) => `alert udp $HOME_NET any -> $EXTERNAL_NET 3478 (flow:${f}; content:"|21 12 a4 42|"; offset:4; depth:4; sid:1;)`;
  assert.equal(v(r('to_server'), out(STUN_REQ, 3478)), 'match');
  assert.equal(v(r('to_client'), out(STUN_REQ, 3478)), 'no-match');
  assert.equal(v(r('established,to_server'), out(STUN_REQ, 3478)), 'no-match', 'first packet of the flow');
  assert.equal(v(r('only_stream'), out(STUN_REQ, 3478)), 'no-match', 'UDP has no stream');
});

test('what cannot be evaluated is unknown, never guessed; a definite miss still wins', () => {
  const pcre = 'alert udp any any -> any 3478 (content:"|21 12 a4 42|"; offset:4; depth:4; pcre:"/^\\x00\\x01/"; sid:1;)';
  assert.equal(v(pcre, out(STUN_REQ, 3478)), 'unknown');
  assert.equal(v(pcre, out(STUN_REQ, 53)), 'no-match', 'port decides before pcre');
  assert.equal(v(pcre, out(WG1, 3478)), 'no-match', 'content decides before pcre');
  const isset = 'alert udp any any -> any any (flowbits:isset,ET.stun; content:"|00 01|"; depth:2; sid:1;)';
  const res = matchRule(parseRule(isset), out(STUN_REQ, 3478));
  assert.equal(res.verdict, 'unknown');
  assert.ok(res.reasons.some((x) => x.includes('flowbits')));
  assert.equal(v('alert udp any any -> any any (flowbits:set,ET.stun; flowbits:noalert; content:"|00 01|"; depth:2; sid:1;)', out(STUN_REQ, 3478)), 'match');
  assert.equal(v('alert udp any any -> any any (byte_extract:2,2,len; content:"|00 01|"; depth:2; sid:1;)', out(STUN_REQ, 3478)), 'unknown');
  assert.equal(v('alert udp any any -> any any (content:"|00 01|"; depth:2; byte_jump:2,2; sid:1;)', out(STUN_REQ, 3478)), 'unknown');
  assert.equal(v('alert udp $HOME_NET any -> 203.0.113.9 any (content:"|00 01|"; depth:2; sid:1;)', out(STUN_REQ, 3478)), 'unknown', 'literal address, packet address unknown');
  assert.equal(v('alert udp $HOME_NET any -> 203.0.113.9 any (sid:1;)', out(STUN_REQ, 3478, 41641, { dst: { side: 'remote', port: 3478, ip: '203.0.113.9' } })), 'match');
  assert.equal(v('alert udp $HOME_NET any -> [203.0.113.0/24,!203.0.113.9] any (sid:1;)', out(STUN_REQ, 3478, 41641, { dst: { side: 'remote', port: 3478, ip: '203.0.113.9' } })), 'no-match');
  assert.equal(v('alert udp $WEIRD_NET any -> any any (sid:1;)', out(STUN_REQ, 3478)), 'unknown');
  assert.equal(v('alert dns any any -> any any (dns.query; content:"stun"; sid:1;)', out(STUN_REQ, 53)), 'unknown');
  assert.equal(v('alert dns any any -> any 53 (dns.query; content:"stun"; sid:1;)', out(STUN_REQ, 3478)), 'no-match');
});

test('threshold keeps the match and notes it', () => {
  const res = matchRule(parseRule('drop udp any any -> any any (dsize:148; threshold:type both, track by_src, count 10, seconds 60; sid:1;)'), out(WG1, 1));
  assert.equal(res.verdict, 'match');
  assert.ok(res.notes.some((n) => n.startsWith('threshold')));
});

test('TLS and ports: app-layer tls rules judge our ClientHello; port variables resolve', () => {
  const tcp = (payload: Uint8Array, dport: number): Packet => ({ transport: 'tcp', src: { side: 'lan', port: 50000 }, dst: { side: 'remote', port: dport }, payload, toServer: true, established: true });
  assert.equal(v('alert tls $HOME_NET any -> $EXTERNAL_NET any (flow:established,to_server; content:"|16 03|"; depth:2; sid:1;)', tcp(HELLO, 443)), 'match');
  assert.equal(v('alert tls $HOME_NET any -> $EXTERNAL_NET any (tls.sni; content:"relay"; startswith; sid:1;)', tcp(HELLO, 443)), 'match', 'SNI read from our ClientHello');
  assert.equal(v('alert tcp $HOME_NET any -> $EXTERNAL_NET 443 (flow:established,to_server; tls.sni; content:".onion"; sid:1;)', tcp(HELLO, 443)), 'no-match');
  assert.equal(v('alert tcp $HOME_NET any -> $EXTERNAL_NET 443 (tls.sni; content:"x"; sid:1;)', tcp(new TextEncoder().encode('GET / HTTP/1.1'), 443)), 'no-match', 'no ClientHello, no SNI buffer');
  assert.equal(v('alert tls $HOME_NET any -> $EXTERNAL_NET any (tls.cert_subject; content:"relay"; sid:1;)', tcp(HELLO, 443)), 'unknown');
  assert.equal(v('alert tcp $HOME_NET any -> $EXTERNAL_NET any (content:"relay"; http_host; sid:1;)', tcp(HELLO, 443)), 'unknown');
  assert.equal(v('alert tcp $HOME_NET any -> $EXTERNAL_NET $HTTP_PORTS (content:"GET"; sid:1;)', tcp(HELLO, 443)), 'no-match');
  assert.equal(v('alert tcp $HOME_NET any -> $EXTERNAL_NET !$HTTP_PORTS (content:"relay.example.com"; sid:1;)', tcp(HELLO, 443)), 'match');
  assert.equal(v('alert udp any any -> any any (sid:1;)', tcp(HELLO, 443)), 'no-match');
  const known = { ...tcp(HELLO, 443), appProto: 'tls' };
  assert.equal(v('alert tcp any any -> any any (app-layer-protocol:tls; sid:1;)', known), 'match');
  assert.equal(v('alert tcp any any -> any any (app-layer-protocol:!tls; sid:1;)', known), 'no-match');
  assert.equal(v('alert tcp any any -> any any (app-layer-protocol:http; sid:1;)', known), 'no-match');
  assert.equal(v('alert tcp any any -> any any (app-layer-protocol:http; sid:1;)', tcp(HELLO, 443)), 'unknown', 'protocol of the packet not known');
  assert.equal(v('alert http any any -> any any (content:"GET"; http_method; sid:1;)', known), 'no-match', 'http rule on a TLS flow');
});
