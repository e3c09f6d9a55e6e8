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
