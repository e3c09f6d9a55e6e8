import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { classifyPacket, isDisco, DISCO_MAGIC } from './demux.ts';
import { isStun, bindingRequest } from '../stun/codec.ts';
import { isWireGuardPacket } from '../wg/messages.ts';

const hex = (s: string) => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ''), 'hex'));

function wgShaped(type: number, length: number, fill = 0xab): Uint8Array {
  const b = new Uint8Array(length).fill(fill);
  b.set([type, 0, 0, 0]);
  return b;
}

test('each protocol is classified by its first bytes', () => {
  // RFC 5769 2.1 sample request header: Binding request, length 0x58, magic cookie.
  const stunHeader = hex('0001 0000 2112a442 b7e7a701bc34d686fa87dfae');
  assert.equal(classifyPacket(stunHeader), 'stun');
  assert.equal(classifyPacket(wgShaped(1, 148)), 'wg');
  assert.equal(classifyPacket(wgShaped(2, 92)), 'wg');
  assert.equal(classifyPacket(wgShaped(3, 64)), 'wg');
  assert.equal(classifyPacket(wgShaped(4, 32)), 'wg');
  assert.equal(classifyPacket(Uint8Array.from([...DISCO_MAGIC, 1, 2, 3])), 'disco');
  assert.equal(classifyPacket(wgShaped(1, 147)), 'unknown', 'an initiation of the wrong length');
  assert.equal(classifyPacket(wgShaped(5, 148)), 'unknown');
  assert.equal(classifyPacket(new Uint8Array(0)), 'unknown');
  assert.equal(classifyPacket(DISCO_MAGIC.slice(0, 5)), 'unknown');
});

test('a WireGuard packet whose index happens to equal the STUN cookie still goes to WireGuard', () => {
  const b = wgShaped(4, 32, 0);
  b.set([0x21, 0x12, 0xa4, 0x42], 4);
  assert.equal(classifyPacket(b), 'wg');
});

test('real STUN messages from our codec are STUN, never WireGuard or discovery', () => {
  const tx = new Uint8Array(12).fill(7);
  assert.equal(classifyPacket(bindingRequest(tx)), 'stun');
  assert.equal(classifyPacket(bindingRequest(tx, { changeIp: true, software: 'conegate', fingerprint: true })), 'stun');
});

test('the three classifiers are mutually exclusive on any input', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 200 }), fc.constantFrom(0, 1, 2, 3, 4, 0x43), (body, first) => {
      const b = Uint8Array.from(body);
      if (b.length > 0) b[0] = first;
      const hits = [isWireGuardPacket(b), isStun(b), isDisco(b)].filter(Boolean).length;
      // WireGuard is checked first on purpose; only WG and STUN can both hold (index == cookie).
      assert.ok(!(isDisco(b) && (isStun(b) || isWireGuardPacket(b))));
      assert.ok(hits <= 2);
    }),
    { numRuns: 5000 },
  );
});
