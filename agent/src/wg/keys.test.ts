import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { DecodeError } from '../errors.ts';
import { generatePrivateKey, keyFromBase64, keyFromHex, keyToBase64, keyToHex, publicKey } from './keys.ts';

/** Runs a wireguard-tools command, failing (never skipping) with the install hint if it is missing. */
function wg(args: string[], input?: string): string {
  try {
    return execFileSync('wg', args, { input, encoding: 'utf8' }).trim();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      assert.fail('wg not found: install the Debian package wireguard-tools (scripts/setup.sh)');
    }
    throw err;
  }
}

test('generatePrivateKey is clamped like wg genkey', () => {
  for (let i = 0; i < 20; i++) {
    const k = generatePrivateKey();
    assert.equal(k.length, 32);
    assert.equal(k[0]! & 7, 0);
    assert.equal(k[31]! & 0x80, 0);
    assert.equal(k[31]! & 0x40, 0x40);
  }
  // Injected randomness: all-ones clamps to f8 ff .. ff 7f.
  const k = generatePrivateKey((n) => new Uint8Array(n).fill(0xff));
  assert.equal(keyToHex(k), 'f8' + 'ff'.repeat(30) + '7f');
});

test('publicKey matches `wg pubkey` for our keys, and we read `wg genkey` keys', () => {
  for (let i = 0; i < 3; i++) {
    const priv = generatePrivateKey();
    const b64 = keyToBase64(priv);
    assert.equal(keyToBase64(publicKey(priv)), wg(['pubkey'], `${b64}\n`));
  }
  const theirs = wg(['genkey']);
  const priv = keyFromBase64(theirs);
  assert.equal(keyToBase64(priv), theirs);
  assert.equal(keyToBase64(publicKey(priv)), wg(['pubkey'], `${theirs}\n`));
});

test('base64 and hex key parsing refuse anything but 32 bytes', () => {
  const k = generatePrivateKey();
  assert.deepEqual(keyFromBase64(keyToBase64(k)), k);
  assert.deepEqual(keyFromHex(keyToHex(k)), k);
  for (const bad of ['', 'abc', keyToBase64(k).slice(0, 43), keyToBase64(k) + 'A', 'A'.repeat(44)]) {
    assert.throws(() => keyFromBase64(bad), DecodeError, bad);
  }
  for (const bad of ['', '00', 'zz'.repeat(32), '0'.repeat(66)]) assert.throws(() => keyFromHex(bad), DecodeError);
});
