import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { DecodeError } from '../../errors.ts';
import { headerHasToken, MAX_HEAD_BYTES, parseResponseHead } from './http-head.ts';

const enc = (s: string) => new TextEncoder().encode(s);

test('http head: a 101 with the bytes after it handed back', () => {
  const h = parseResponseHead(enc('HTTP/1.1 101 Switching Protocols\r\nUpgrade: conegate-relay\r\nConnection: Upgrade\r\nX-A: 1\r\nx-a: 2\r\n\r\n\x01\x00'));
  assert.ok(h);
  assert.equal(h.status, 101);
  assert.equal(h.reason, 'Switching Protocols');
  assert.equal(h.headers.get('upgrade'), 'conegate-relay');
  assert.equal(h.headers.get('x-a'), '1, 2');
  assert.deepEqual(h.rest, Uint8Array.of(1, 0));
  assert.equal(headerHasToken('keep-alive, Upgrade', 'upgrade'), true);
  assert.equal(headerHasToken(undefined, 'upgrade'), false);
});

test('http head: a proxy answer (HTTP/1.0, no reason), incomplete heads, refusals', () => {
  assert.equal(parseResponseHead(enc('HTTP/1.0 200\r\n\r\n'))?.status, 200);
  assert.equal(parseResponseHead(enc('HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm="x"')), undefined);
  assert.throws(() => parseResponseHead(enc('SSH-2.0-OpenSSH\r\n\r\n')), DecodeError);
  assert.throws(() => parseResponseHead(enc('HTTP/1.1 200 OK\r\nno colon\r\n\r\n')), DecodeError);
  assert.throws(() => parseResponseHead(new Uint8Array(MAX_HEAD_BYTES + 1).fill(65)), DecodeError);
});

test('http head: any bytes give a head, undefined, or a DecodeError', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 200 }), fc.boolean(), (b, prefix) => {
      const buf = prefix ? new Uint8Array([...enc('HTTP/1.1 200 OK\r\n'), ...b]) : b;
      try {
        parseResponseHead(buf);
      } catch (e) {
        if (!(e instanceof DecodeError)) throw e;
      }
    }),
    { numRuns: 2000 },
  );
});
