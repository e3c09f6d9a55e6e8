import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { x25519 } from '@noble/curves/ed25519.js';
import { decodePeerPresent, encodeClientInfo, encodeKeepalive, FrameReader, type Frame } from '../frames.ts';
import { sealJson } from '../frames-seal.ts';
import { checkLogin, presentFrameFor } from './login.ts';

const rnd = (n: number) => Uint8Array.from(randomBytes(n));
const server = x25519.utils.randomSecretKey();
const serverKey = x25519.getPublicKey(server);
const MESH = 'ab'.repeat(32);
const frame = (bytes: Uint8Array): Frame => new FrameReader().feed(bytes)[0]!;
const login = (doc: object, secret = x25519.utils.randomSecretKey(), claimed?: Uint8Array) =>
  frame(encodeClientInfo(claimed ?? x25519.getPublicKey(secret), sealJson(doc, secret, serverKey, rnd)));

test('checkLogin: a box that opens with the claimed key logs in; mesh and prober flags come through', () => {
  const v = checkLogin(login({ version: 1, prober: true }), server, MESH);
  assert.ok(v.ok && !v.mesh && v.prober);
  const m = checkLogin(login({ version: 1, meshKey: MESH }), server, MESH);
  assert.ok(m.ok && m.mesh);
});

test('checkLogin refuses: another frame first, a key the sender does not hold, a wrong or unexpected mesh key', () => {
  assert.deepEqual(checkLogin(frame(encodeKeepalive()), server, MESH), { ok: false, reason: 'expected client-info' });
  const other = x25519.getPublicKey(x25519.utils.randomSecretKey());
  assert.equal(checkLogin(login({ version: 1 }, undefined, other), server, MESH).ok, false, 'claims a key it cannot seal with');
  assert.deepEqual(checkLogin(login({ version: 1, meshKey: 'cd'.repeat(32) }), server, MESH), { ok: false, reason: 'wrong mesh key' });
  assert.deepEqual(checkLogin(login({ version: 1, meshKey: MESH }), server, undefined), { ok: false, reason: 'wrong mesh key' });
});

test('peer-present carries the address the relay sees, IPv4 mapped into 16 bytes', () => {
  const key = new Uint8Array(32).fill(1);
  const p = decodePeerPresent(frame(presentFrameFor(key, '::ffff:192.0.2.7', 443)).body);
  assert.equal(Buffer.from(p.ip!).toString('hex'), '00000000000000000000ffffc0000207');
  assert.equal(p.port, 443);
  assert.equal(decodePeerPresent(frame(presentFrameFor(key, '', 0)).body).ip, undefined);
});
