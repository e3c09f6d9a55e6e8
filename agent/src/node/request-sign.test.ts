import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ed25519 } from '@noble/curves/ed25519.js';
import { signingString } from '../coord/protocol.ts';
import { authorization, sha256Hex, verifyAuthorization } from './request-sign.ts';

const priv = new Uint8Array(32).fill(3);
const machine = { privateKey: priv, publicKey: ed25519.getPublicKey(priv) };

test('the header signs protocol.ts signingString over method, path?query, time and body hash', () => {
  const h = authorization(machine, 'get', '/v1/map?since=7', '', 1_700_000_000_000);
  const [scheme, key, time, sig] = h.split(' ');
  assert.equal(scheme, 'CG1');
  assert.equal(key, Buffer.from(machine.publicKey).toString('hex'));
  assert.equal(time, '1700000000000');
  const text = signingString('GET', '/v1/map?since=7', 1_700_000_000_000, sha256Hex(''));
  assert.ok(ed25519.verify(Buffer.from(sig!, 'hex'), new TextEncoder().encode(text), machine.publicKey));
});

test('verification refuses a changed body, path, skewed time or garbage', () => {
  const now = 1_700_000_000_000;
  const h = authorization(machine, 'POST', '/v1/endpoints', '{"a":1}', now);
  assert.deepEqual(verifyAuthorization(h, 'POST', '/v1/endpoints', '{"a":1}', now + 1000), { ok: true, machineKey: Buffer.from(machine.publicKey).toString('hex') });
  assert.equal(verifyAuthorization(h, 'POST', '/v1/endpoints', '{"a":2}', now).ok, false);
  assert.equal(verifyAuthorization(h, 'POST', '/v1/routes', '{"a":1}', now).ok, false);
  assert.deepEqual(verifyAuthorization(h, 'POST', '/v1/endpoints', '{"a":1}', now + 6 * 60_000), { ok: false, code: 'clock-skew' });
  assert.deepEqual(verifyAuthorization('CG1 zz', 'GET', '/', '', now), { ok: false, code: 'bad-signature' });
  assert.deepEqual(verifyAuthorization(undefined, 'GET', '/', '', now), { ok: false, code: 'bad-signature' });
});
