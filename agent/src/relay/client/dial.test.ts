import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkAnnouncedKey } from './dial.ts';

const A = 'ab'.repeat(32);
const B = 'cd'.repeat(32);
const url = 'https://relay.example:443';
const mismatch = (e: { code: string; message: string }) => e.code === 'CG_RELAY_KEY_MISMATCH' && e.message.includes(url);

test('relay dial: the 101 key header against the relay map pin', () => {
  assert.deepEqual(checkAnnouncedKey(A, A, url), Uint8Array.from(Buffer.from(A, 'hex')));
  assert.deepEqual(checkAnnouncedKey(` ${A.toUpperCase()} `, A, url), Uint8Array.from(Buffer.from(A, 'hex')), 'hex case and surrounding space do not matter');
  assert.throws(() => checkAnnouncedKey(B, A, url), (e: { code: string; message: string }) => mismatch(e) && /cdcdcdcdcdcdcdcd\.\.\./.test(e.message) && /abababababababab\.\.\./.test(e.message));
  assert.throws(() => checkAnnouncedKey(undefined, A, url), (e: { code: string; message: string }) => mismatch(e) && /key none/.test(e.message));
  assert.throws(() => checkAnnouncedKey('zz', A, url), (e: { code: string; message: string }) => mismatch(e) && /malformed/.test(e.message));
});

test('relay dial: without a pin any well-formed announced key is taken, a malformed or missing one ignored', () => {
  assert.deepEqual(checkAnnouncedKey(B, undefined, url), Uint8Array.from(Buffer.from(B, 'hex')));
  assert.equal(checkAnnouncedKey(undefined, undefined, url), undefined);
  assert.equal(checkAnnouncedKey('not-hex', undefined, url), undefined);
});
