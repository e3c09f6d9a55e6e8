import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ourTraffic, TRAFFIC_KINDS } from './traffic.ts';
import { clientHelloSni } from './rules/buffers.ts';

test('our traffic: every kind has samples, in both directions where the protocol has them', () => {
  const samples = ourTraffic({ meshPorts: [41641], relayPorts: [443] });
  for (const k of TRAFFIC_KINDS) assert.ok(samples.some((s) => s.kind === k), k);
  const wg = samples.filter((s) => s.kind === 'wireguard');
  assert.ok(wg.some((s) => s.packet.src.side === 'lan') && wg.some((s) => s.packet.src.side === 'remote'));
  assert.deepEqual([...new Set(wg.map((s) => s.packet.payload.length))].sort((a, b) => a - b), [32, 64, 92, 112, 148]);
  for (const s of wg) assert.deepEqual(Array.from(s.packet.payload.subarray(1, 4)), [0, 0, 0], s.name);
  for (const s of samples.filter((x) => x.kind === 'stun')) assert.deepEqual(Array.from(s.packet.payload.subarray(4, 8)), [0x21, 0x12, 0xa4, 0x42], s.name);
  const sni = (name: string) => new TextDecoder().decode(clientHelloSni(samples.find((s) => s.name.startsWith(name))!.packet.payload)!);
  assert.equal(sni('relay-clienthello'), 'relay.example.com');
  assert.equal(sni('coordinator-clienthello'), 'coordinator.example.com');
  assert.ok(samples.filter((s) => s.kind === 'natpmp').every((s) => s.packet.dst.port === 5351 && s.packet.dst.side === 'lan'));
});

test('several mesh and relay ports give samples on each, names stay unique per port', () => {
  const samples = ourTraffic({ meshPorts: [41641, 51820], relayPorts: [443, 8443] });
  for (const p of [41641, 51820]) assert.ok(samples.some((s) => s.kind === 'wireguard' && s.packet.src.port === p));
  for (const p of [443, 8443]) assert.ok(samples.some((s) => s.kind === 'relay' && s.packet.dst.port === p));
  const keys = samples.map((s) => `${s.name}/${s.packet.src.port}/${s.packet.dst.port}`);
  assert.equal(new Set(keys).size, keys.length);
});
