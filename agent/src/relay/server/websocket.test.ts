import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { DecodeError } from '../../errors.ts';
import { encodeWsFrame, WsOpcode, WsReader, wsAccept } from './websocket.ts';

const hex = (s: string) => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ''), 'hex'));
const MASK = hex('37fa213d');

test('RFC 6455 examples: the accept key (1.3) and the masked "Hello" frame (5.7)', () => {
  assert.equal(wsAccept('dGhlIHNhbXBsZSBub25jZQ=='), 's3pPLMBiTxaQ9kYGzzhZRbK+xOo=');
  // Section 5.7: a single-frame masked text message "Hello" (text is refused by the relay, so check the bytes).
  assert.equal(Buffer.from(encodeWsFrame(WsOpcode.TEXT, Buffer.from('Hello'), MASK)).toString('hex'), '818537fa213d7f9f4d5158');
  // Section 5.7: unmasked 256-byte binary message header: 0x82 0x7E 0x0100.
  assert.equal(Buffer.from(encodeWsFrame(WsOpcode.BINARY, new Uint8Array(256))).subarray(0, 4).toString('hex'), '827e0100');
  assert.equal(Buffer.from(encodeWsFrame(WsOpcode.BINARY, new Uint8Array(65536))).subarray(0, 10).toString('hex'), '827f0000000000010000');
});

test('reader: masked binary in fragments and split at every byte; ping, close', () => {
  const msg = Buffer.concat([
    encodeWsFrame(WsOpcode.BINARY & 0x0f, Buffer.from('ab'), MASK).map((b, i) => (i === 0 ? 0x02 : b)), // FIN clear: first fragment
    encodeWsFrame(WsOpcode.PING, Buffer.from('p'), MASK),
    encodeWsFrame(WsOpcode.CONTINUATION, Buffer.from('cd'), MASK),
    encodeWsFrame(WsOpcode.CLOSE, Uint8Array.of(0x03, 0xe8), MASK),
  ]);
  for (let cut = 0; cut <= msg.length; cut++) {
    const r = new WsReader(1000);
    const ev = [...r.feed(msg.subarray(0, cut)), ...r.feed(msg.subarray(cut))];
    assert.deepEqual(ev.map((e) => (e.kind === 'binary' ? `bin:${Buffer.from(e.data)}` : e.kind === 'close' ? `close:${e.code}` : e.kind)), ['bin:ab', 'ping', 'bin:cd', 'close:1000']);
  }
});

test('reader refuses what RFC 6455 forbids and what is over the limit', () => {
  const bad = [
    encodeWsFrame(WsOpcode.BINARY, Buffer.from('x')), // unmasked from a client (5.1)
    encodeWsFrame(WsOpcode.TEXT, Buffer.from('x'), MASK), // text is not relay frames
    encodeWsFrame(WsOpcode.PING, new Uint8Array(126), MASK), // control over 125 bytes (5.5)
    encodeWsFrame(WsOpcode.CONTINUATION, Buffer.from('x'), MASK), // continuation with nothing to continue
    encodeWsFrame(WsOpcode.BINARY, new Uint8Array(101), MASK), // over the reader's limit of 100
    Uint8Array.of(0xc2, 0x80, 0, 0, 0, 0), // RSV1 without an extension
    hex('82ff 8000000000000000'), // 64-bit length with the top bit set
  ];
  for (const b of bad) assert.throws(() => new WsReader(100).feed(b), DecodeError, Buffer.from(b).toString('hex'));
});

test('property: any bytes give events or DecodeError, never anything else', () => {
  fc.assert(
    fc.property(fc.array(fc.uint8Array({ maxLength: 40 }), { maxLength: 6 }), (chunks) => {
      const r = new WsReader(64);
      try {
        for (const c of chunks) r.feed(c);
      } catch (err) {
        if (!(err instanceof DecodeError)) throw err;
      }
    }),
    { numRuns: 3000 },
  );
});
