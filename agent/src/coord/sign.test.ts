import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ed25519 } from '@noble/curves/ed25519.js';
import { AUTH_SCHEME, signingString } from './protocol.ts';
import { bodySha256Hex, newMachineKey, parseAuthorization, signRequest, verifyRequest } from './sign.ts';

const seed = (b: number) => () => new Uint8Array(32).fill(b);
const key = newMachineKey(seed(7));
const NOW = 1_800_000_000_000;

test('a signed request verifies and names its machine key', () => {
  const auth = signRequest(key, 'post', '/v1/endpoints', '{"endpoints":[]}', NOW);
  const r = verifyRequest({ authorization: auth, method: 'POST', pathWithQuery: '/v1/endpoints', body: '{"endpoints":[]}', nowMs: NOW + 1000 });
  assert.deepEqual(r, { ok: true, machineKey: key.publicKeyHex });
});

test('a changed body, path, method or key fails as bad-signature', () => {
  const auth = signRequest(key, 'POST', '/v1/routes', '{"advertise":[]}', NOW);
  const base = { authorization: auth, method: 'POST', pathWithQuery: '/v1/routes', body: '{"advertise":[]}', nowMs: NOW };
  for (const change of [{ body: '{"advertise":["10.0.0.0/8"]}' }, { pathWithQuery: '/v1/logout' }, { method: 'GET' }]) {
    const r = verifyRequest({ ...base, ...change });
    assert.equal(r.ok, false);
    assert.equal(!r.ok && r.code, 'bad-signature');
  }
  const other = newMachineKey(seed(9));
  const swapped = auth.replace(key.publicKeyHex, other.publicKeyHex);
  const r = verifyRequest({ ...base, authorization: swapped });
  assert.equal(!r.ok && r.code, 'bad-signature');
});

test('more than five minutes of skew either way is clock-skew', () => {
  const auth = signRequest(key, 'GET', '/v1/map', '', NOW);
  for (const nowMs of [NOW + 5 * 60_000 + 1, NOW - 5 * 60_000 - 1]) {
    const r = verifyRequest({ authorization: auth, method: 'GET', pathWithQuery: '/v1/map', body: '', nowMs });
    assert.equal(!r.ok && r.code, 'clock-skew');
  }
  assert.equal(verifyRequest({ authorization: auth, method: 'GET', pathWithQuery: '/v1/map', body: '', nowMs: NOW + 5 * 60_000 }).ok, true);
});

test('malformed headers are refused, never thrown', () => {
  const bad = [undefined, '', 'CG1', 'Bearer x', `CG1 ${'zz'.repeat(32)} 1 ${'00'.repeat(64)}`, `CG1 ${key.publicKeyHex} -1 ${'00'.repeat(64)}`, `CG1 ${'ff'.repeat(32)} ${NOW} ${'00'.repeat(64)}`, 'CG1 ' + 'a'.repeat(400)];
  for (const h of bad) {
    const r = verifyRequest({ authorization: h, method: 'GET', pathWithQuery: '/', body: '', nowMs: NOW });
    assert.equal(r.ok, false, String(h));
  }
  assert.equal(parseAuthorization(`CG1 ${key.publicKeyHex} ${NOW} ${'ab'.repeat(64)}`)?.timeMs, NOW);
});

test('signatures agree with @noble/curves both ways (RFC 8032 is deterministic)', () => {
  const msg = new TextEncoder().encode(signingString('POST', '/v1/routes', NOW, bodySha256Hex('{}')));
  const noble = Buffer.from(ed25519.sign(msg, key.secretKey)).toString('hex');
  const ours = signRequest(key, 'POST', '/v1/routes', '{}', NOW);
  assert.equal(ours, `${AUTH_SCHEME} ${key.publicKeyHex} ${NOW} ${noble}`);
  assert.equal(verifyRequest({ authorization: ours, method: 'POST', pathWithQuery: '/v1/routes', body: '{}', nowMs: NOW }).ok, true);
});
