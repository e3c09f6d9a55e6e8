import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MacChecker, MacSender, endpointBytes } from './cookie.ts';
import { clampPrivateKey, publicKey } from './keys.ts';
import { decodeCookieReply } from './messages.ts';
import { seededRandom } from './testbed.ts';

const responder = publicKey(clampPrivateKey(new Uint8Array(32).fill(42)));
const src = { address: '198.51.100.7', port: 40000 };

function initiationLike(fill: number): Uint8Array {
  const m = new Uint8Array(148).fill(fill);
  m.set([1, 0, 0, 0]);
  return m;
}

test('mac1 verifies only under the right responder key and untouched bytes', () => {
  const sender = new MacSender(responder);
  const checker = new MacChecker(responder, seededRandom('c'));
  const m = initiationLike(7);
  sender.addMacs(m, 0);
  assert.ok(checker.checkMac1(m));
  assert.ok(m.subarray(132).every((b) => b === 0), 'no cookie yet: mac2 is zero');
  assert.equal(new MacChecker(publicKey(clampPrivateKey(new Uint8Array(32).fill(1))), seededRandom('x')).checkMac1(m), false);
  m[10] = m[10]! ^ 1;
  assert.equal(checker.checkMac1(m), false);
});

test('cookie round trip: reply, then mac2 valid for that source until the cookie ages out', () => {
  const sender = new MacSender(responder);
  const checker = new MacChecker(responder, seededRandom('c'));
  const m1 = initiationLike(1);
  sender.addMacs(m1, 0);
  assert.equal(checker.checkMac2(m1, src, 0), false);
  const reply = decodeCookieReply(checker.createReply(m1, 0x1234, src, 0));
  assert.equal(reply.receiver, 0x1234);
  assert.ok(sender.consumeCookieReply(reply, 1_000));
  const m2 = initiationLike(2);
  sender.addMacs(m2, 1_000);
  assert.ok(checker.checkMac1(m2));
  assert.ok(checker.checkMac2(m2, src, 1_000));
  assert.equal(checker.checkMac2(m2, { ...src, port: 40001 }, 1_000), false, 'cookie binds the source port');
  assert.equal(checker.checkMac2(m2, { ...src, address: '198.51.100.8' }, 1_000), false, 'and the address');
  // The cookie is used for 120 s after it arrived, then mac2 goes back to zero.
  const m3 = initiationLike(3);
  sender.addMacs(m3, 121_000);
  assert.ok(m3.subarray(132).every((b) => b === 0));
  // A replayed cookie reply (it quotes an older mac1) no longer decrypts.
  assert.equal(sender.consumeCookieReply(reply, 121_000), false);
});

test('the cookie secret rotates every 120 s: old mac2 stops verifying', () => {
  const sender = new MacSender(responder);
  const checker = new MacChecker(responder, seededRandom('rot'));
  const m1 = initiationLike(1);
  sender.addMacs(m1, 0);
  assert.ok(sender.consumeCookieReply(decodeCookieReply(checker.createReply(m1, 1, src, 0)), 0));
  const m2 = initiationLike(2);
  sender.addMacs(m2, 100_000);
  assert.ok(checker.checkMac2(m2, src, 100_000));
  assert.ok(checker.checkMac2(m2, src, 119_999));
  assert.equal(checker.checkMac2(m2, src, 120_000), false, 'new secret after 120 s');
});

test('source bytes: address then big-endian port', () => {
  assert.deepEqual([...endpointBytes({ address: '192.0.2.1', port: 0x1234 })], [192, 0, 2, 1, 0x12, 0x34]);
  assert.equal(endpointBytes({ address: '2001:db8::1', port: 1 }).length, 18);
});
