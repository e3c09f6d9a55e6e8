import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { DecodeError } from '../../errors.ts';
import { encodeWsFrame, wsAccept, WsOpcode, WsReader, wsUpgradeRequest } from './ws.ts';

const hex = (s: string) => Uint8Array.from(Buffer.from(s.replace(/\s/g, ''), 'hex'));

test('ws: Sec-WebSocket-Accept of RFC 6455 section 1.3', () => {
  assert.equal(wsAccept('dGhlIHNhbXBsZSBub25jZQ=='), 's3pPLMBiTxaQ9kYGzzhZRbK+xOo=');
  assert.match(wsUpgradeRequest('relay.example', '/relay', 'k', 'p'), /^GET \/relay HTTP\/1\.1\r\nHost: relay\.example\r\nUpgrade: websocket\r\n.*Sec-WebSocket-Key: k\r\n.*\r\n\r\n$/s);
});

test('ws: masked client frame of RFC 6455 section 5.7 ("Hello"), and the 16- and 64-bit lengths', () => {
  const hello = new TextEncoder().encode('Hello');
  assert.deepEqual(encodeWsFrame(WsOpcode.TEXT, hello, hex('37fa213d')), hex('818537fa213d7f9f4d5158'));
  const mid = encodeWsFrame(WsOpcode.BINARY, new Uint8Array(256), hex('00000000'));
  assert.deepEqual(mid.subarray(0, 4), hex('82fe0100'));
  const big = encodeWsFrame(WsOpcode.BINARY, new Uint8Array(65536), hex('00000000'));
  assert.deepEqual(big.subarray(0, 10), hex('82ff0000000000010000'));
  assert.equal(big.length, 10 + 4 + 65536);
});

test('ws reader: the server frames of RFC 6455 section 5.7, whole and byte by byte', () => {
  const stream = hex('8105 48656c6c6f' + '0103 48656c' + '8002 6c6f' + '8905 48656c6c6f' + '8a00' + '827e0100' + '00'.repeat(256) + '8802 03e8');
  const want = [{ t: 'text' }, { t: 'text' }, { t: 'ping', data: new TextEncoder().encode('Hello') }, { t: 'pong' }, { t: 'binary', data: new Uint8Array(256) }, { t: 'close', code: 1000 }];
  assert.deepEqual(new WsReader(1 << 20).feed(stream), want);
  const r = new WsReader(1 << 20);
  const got = [];
  for (const b of stream) got.push(...r.feed(Uint8Array.of(b)));
  assert.deepEqual(got, want);
});

test('ws reader: a fragmented binary message is joined; limits and protocol errors are DecodeErrors', () => {
  assert.deepEqual(new WsReader(100).feed(hex('0202 0102' + '0001 03' + '8001 04')), [{ t: 'binary', data: hex('01020304') }]);
  const bad: [string, string][] = [
    ['8285 00000000 0102030405', 'masked server frame'],
    ['c200', 'reserved bit'],
    ['097e0080' + '00'.repeat(128), 'long ping'],
    ['0900', 'fragmented ping'],
    ['8001 00', 'continuation without a message'],
    ['8f00', 'unknown opcode'],
    ['827f 8000000000000000', '64-bit length over the limit'],
    ['0201 00 0201 00', 'data frame inside a fragmented message'],
  ];
  for (const [h, what] of bad) assert.throws(() => new WsReader(1 << 16).feed(hex(h)), DecodeError, what);
  assert.throws(() => new WsReader(10).feed(hex('820b')), DecodeError, 'message over the limit refused from its header');
  assert.throws(() => new WsReader(10).feed(hex('0206 000000000000 0006')), DecodeError, 'fragments adding up over the limit');
});

test('ws reader: any bytes give events or a DecodeError, nothing else', () => {
  fc.assert(
    fc.property(fc.array(fc.uint8Array({ maxLength: 64 }), { maxLength: 8 }), (chunks) => {
      const r = new WsReader(4096);
      try {
        for (const c of chunks) r.feed(c);
      } catch (e) {
        if (!(e instanceof DecodeError)) throw e;
      }
    }),
    { numRuns: 2000 },
  );
});
