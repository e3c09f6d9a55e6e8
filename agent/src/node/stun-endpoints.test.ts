import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeStun, encodeStun } from '../stun/codec.ts';
import type { Endpoint } from '../wg/ports.ts';
import { MeshStun } from './stun-endpoints.ts';

test('mesh STUN: requests per server, only the matching answer from that server counts', async () => {
  const sent: { p: Uint8Array; to: Endpoint }[] = [];
  let changes = 0;
  let n = 0;
  const s = new MeshStun(['203.0.113.10:3478'], (p, to) => sent.push({ p, to }), (len) => new Uint8Array(len).fill(++n), () => changes++);
  await s.probe();
  assert.equal(sent.length, 1);
  assert.deepEqual(sent[0]!.to, { address: '203.0.113.10', port: 3478 });
  const tx = decodeStun(sent[0]!.p).transactionId;
  const answer = (txid: Uint8Array) => encodeStun({ kind: 'success', method: 1, transactionId: txid, xorMappedAddress: { family: 4, address: '198.51.100.7', port: 40000 } });
  s.onPacket(answer(tx), { address: '203.0.113.99', port: 3478 });
  s.onPacket(answer(new Uint8Array(12)), { address: '203.0.113.10', port: 3478 });
  s.onPacket(new Uint8Array([0, 1, 0, 0]), { address: '203.0.113.10', port: 3478 });
  assert.deepEqual(s.endpoints(), []);
  assert.equal(s.ignored, 3);
  s.onPacket(answer(tx), { address: '203.0.113.10', port: 3478 });
  assert.deepEqual(s.endpoints(), ['198.51.100.7:40000']);
  assert.equal(changes, 1);
});

test('mesh STUN: UDP blocked after two silent rounds; mapping per destination when two servers disagree', async () => {
  const sent: { p: Uint8Array; to: Endpoint }[] = [];
  let n = 0;
  const s = new MeshStun(['203.0.113.10:3478', '203.0.113.20:3478'], (p, to) => sent.push({ p, to }), (len) => new Uint8Array(len).fill(++n), () => undefined);
  assert.deepEqual(s.natBehaviour(), { udp: undefined, mappingVariesByDest: undefined });
  await s.probe();
  assert.equal(s.answeredThisRound(), false);
  assert.deepEqual(s.natBehaviour(), { udp: undefined, mappingVariesByDest: undefined });
  await s.probe();
  assert.deepEqual(s.natBehaviour(), { udp: false, mappingVariesByDest: undefined });
  const answer = (i: number, port: number) => encodeStun({ kind: 'success', method: 1, transactionId: decodeStun(sent[i]!.p).transactionId, xorMappedAddress: { family: 4, address: '198.51.100.7', port } });
  s.onPacket(answer(2, 40000), sent[2]!.to);
  assert.equal(s.answeredThisRound(), true);
  assert.deepEqual(s.natBehaviour(), { udp: true, mappingVariesByDest: undefined });
  s.onPacket(answer(3, 40001), sent[3]!.to);
  assert.deepEqual(s.natBehaviour(), { udp: true, mappingVariesByDest: true });
  await s.probe();
  s.onPacket(answer(4, 40000), sent[4]!.to);
  s.onPacket(answer(5, 40000), sent[5]!.to);
  assert.deepEqual(s.natBehaviour(), { udp: true, mappingVariesByDest: false });
});
