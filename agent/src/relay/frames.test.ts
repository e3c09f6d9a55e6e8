import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { DecodeError } from '../errors.ts';
import {
  decodeClientInfo, decodeClosePeer, decodeForward, decodeHealth, decodeNotePreferred, decodePeerGone, decodePeerPresent,
  decodePing, decodeRecv, decodeRestarting, decodeSend, decodeServerKey, encodeClientInfo, encodeClosePeer, encodeForward,
  encodeFrame, encodeHealth, encodeKeepalive, encodeNotePreferred, encodePeerGone, encodePeerPresent, encodePing, encodePong,
  encodeRecv, encodeRestarting, encodeSend, encodeServerKey, encodeWatchConns, FrameReader, FrameType, MAX_CLIENT_INFO_BYTES,
  MAX_FRAME_BODY_BYTES, MAX_PACKET_BYTES, type Frame,
} from './frames.ts';
import { decodeMessage } from './frames-message.ts';

const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ''), 'hex'));
const toHex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const keyA = new Uint8Array(32).fill(0xaa);
const keyB = new Uint8Array(32).fill(0xbb);
const A = 'aa'.repeat(32);
const B = 'bb'.repeat(32);

/** Parses one whole frame through the reader (the path every frame takes in the server). */
function only(bytes: Uint8Array): Frame {
  const frames = new FrameReader().feed(bytes);
  assert.equal(frames.length, 1);
  return frames[0]!;
}

test('golden bytes of every encoder', () => {
  const cases: [Uint8Array, string][] = [
    [encodeServerKey(keyA), `01 00000028 434752454c4159 01 ${A}`],
    [encodeClientInfo(keyA, hex('0102')), `02 00000022 ${A} 0102`],
    [encodeSend(keyB, hex('deadbeef')), `04 00000024 ${B} deadbeef`],
    [encodeRecv(keyA, hex('')), `05 00000020 ${A}`],
    [encodeKeepalive(), '06 00000000'],
    [encodeNotePreferred(true), '07 00000001 01'],
    [encodePeerGone(keyA, 'disconnected'), `08 00000021 ${A} 00`],
    [encodePeerGone(keyA, 'not-here'), `08 00000021 ${A} 01`],
    [encodePeerPresent({ key: keyA, ip: hex('00000000000000000000ffffc0000201'), port: 443, flags: 3 }),
      `09 00000033 ${A} 00000000000000000000ffffc0000201 01bb 03`],
    [encodeForward(keyA, keyB, hex('ff')), `0a 00000041 ${A} ${B} ff`],
    [encodeWatchConns(), '10 00000000'],
    [encodeClosePeer(keyB), `11 00000020 ${B}`],
    [encodePing(hex('0102030405060708')), '12 00000008 0102030405060708'],
    [encodePong(hex('0102030405060708')), '13 00000008 0102030405060708'],
    [encodeHealth('no coordinator'), '14 0000000e 6e6f20636f6f7264696e61746f72'],
    [encodeRestarting({ reconnectInMs: 500, tryForMs: 10_000 }), '15 00000008 000001f4 00002710'],
  ];
  for (const [got, want] of cases) assert.equal(toHex(got), want.replace(/\s/g, ''));
});

test('golden bytes decode back to the values', () => {
  assert.deepEqual(decodeServerKey(only(encodeServerKey(keyA)).body), keyA);
  const s = decodeSend(only(hex(`04 00000024 ${B} deadbeef`)).body);
  assert.equal(toHex(s.dstKey), B);
  assert.equal(toHex(s.data), 'deadbeef');
  const f = decodeForward(only(hex(`0a 00000041 ${A} ${B} ff`)).body);
  assert.deepEqual([toHex(f.srcKey), toHex(f.dstKey), toHex(f.data)], [A, B, 'ff']);
  assert.deepEqual(decodePeerGone(hex(`${A} 01`)), { key: keyA, reason: 'not-here' });
  assert.deepEqual(decodePeerGone(hex(A)), { key: keyA, reason: 'disconnected' });
  const p = decodePeerPresent(hex(`${A} 00000000000000000000ffffc0000201 01bb 03`));
  assert.deepEqual([p.port, p.flags, toHex(p.ip!)], [443, 3, '00000000000000000000ffffc0000201']);
  assert.deepEqual(decodePeerPresent(keyA), { key: keyA });
  assert.equal(decodeNotePreferred(hex('00')), false);
  assert.deepEqual(decodeRestarting(hex('000001f4 00002710')), { reconnectInMs: 500, tryForMs: 10_000 });
  assert.equal(decodeHealth(new Uint8Array(0)), '');
  assert.deepEqual(decodeClosePeer(keyB), keyB);
  assert.deepEqual(decodeMessage({ type: FrameType.KEEPALIVE, body: new Uint8Array(0) }), { kind: 'keepalive' });
});

test('decoders refuse short, long and malformed bodies with DecodeError', () => {
  const bad: [() => unknown, string][] = [
    [() => decodeServerKey(new Uint8Array(39)), 'short server key'],
    [() => decodeServerKey(new Uint8Array(40)), 'server key without magic'],
    [() => decodeSend(new Uint8Array(31)), 'send without a full key'],
    [() => decodeRecv(new Uint8Array(32 + MAX_PACKET_BYTES + 1)), 'oversized recv'],
    [() => decodeForward(new Uint8Array(63)), 'forward without two keys'],
    [() => decodePing(new Uint8Array(9)), 'ping of 9 bytes'],
    [() => decodePing(new Uint8Array(7)), 'ping of 7 bytes'],
    [() => decodePeerGone(hex(`${A} 07`)), 'unknown peer-gone reason'],
    [() => decodeClientInfo(new Uint8Array(10)), 'client info without a key'],
    [() => decodeRestarting(new Uint8Array(7)), 'short restarting'],
    [() => decodeNotePreferred(new Uint8Array(0)), 'empty note-preferred'],
  ];
  for (const [fn, what] of bad) assert.throws(fn, DecodeError, what);
});

test('encoders refuse values outside the limits', () => {
  assert.throws(() => encodeSend(new Uint8Array(31), new Uint8Array(0)), RangeError);
  assert.throws(() => encodeSend(keyA, new Uint8Array(MAX_PACKET_BYTES + 1)), RangeError);
  assert.throws(() => encodePing(new Uint8Array(9)), RangeError);
  assert.throws(() => encodeFrame(0x100), RangeError);
  assert.doesNotThrow(() => encodeSend(keyA, new Uint8Array(MAX_PACKET_BYTES)));
  assert.doesNotThrow(() => encodeFrame(FrameType.CLIENT_INFO, new Uint8Array(MAX_CLIENT_INFO_BYTES)));
});

test('FrameReader: frames split at every byte boundary come out whole and in order', () => {
  const stream = Buffer.concat([encodeSend(keyB, hex('0102')), encodeKeepalive(), encodePing(hex('0102030405060708'))]);
  for (let cut = 0; cut <= stream.length; cut++) {
    const r = new FrameReader();
    const got = [...r.feed(stream.subarray(0, cut)), ...r.feed(stream.subarray(cut))];
    assert.deepEqual(got.map((f) => f.type), [FrameType.SEND, FrameType.KEEPALIVE, FrameType.PING], `cut at ${cut}`);
    assert.equal(r.bufferedBytes, 0);
  }
});

test('FrameReader: unknown types are skipped and counted, the stream goes on', () => {
  const r = new FrameReader();
  const got = r.feed(Buffer.concat([hex('7f 00000003 010203'), encodeKeepalive()]));
  assert.deepEqual(got.map((f) => f.type), [FrameType.KEEPALIVE]);
  assert.equal(r.skipped, 1);
});

test('FrameReader: a header over the limit throws at once, before the body is buffered', () => {
  const r = new FrameReader();
  const send = new Uint8Array(5);
  send[0] = FrameType.SEND;
  new DataView(send.buffer).setUint32(1, MAX_FRAME_BODY_BYTES + 1);
  assert.throws(() => r.feed(send), DecodeError);
  const unknown = hex('7f ffffffff');
  assert.throws(() => new FrameReader().feed(unknown), DecodeError);
  const info = new Uint8Array(5);
  info[0] = FrameType.CLIENT_INFO;
  new DataView(info.buffer).setUint32(1, MAX_CLIENT_INFO_BYTES + 1);
  assert.throws(() => new FrameReader().feed(info), DecodeError);
  new DataView(info.buffer).setUint32(1, MAX_CLIENT_INFO_BYTES); // exactly the limit: accepted, waiting for the body
  assert.deepEqual(new FrameReader().feed(info), []);
});

const key32 = fc.uint8Array({ minLength: 32, maxLength: 32 });
const packet = fc.uint8Array({ maxLength: 2000 });

test('data frames are built in one piece with the same bytes as encodeFrame(type, key + data), up to the largest packet', () => {
  // The length header past 16 bits (a 64 KiB packet + keys) checks every byte of the hand-written header.
  const k1 = new Uint8Array(32).fill(1);
  const k2 = new Uint8Array(32).fill(2);
  for (const size of [0, 1, 1420, MAX_PACKET_BYTES]) {
    const data = Uint8Array.from({ length: size }, (_, i) => i & 0xff);
    const join = (...p: Uint8Array[]) => Uint8Array.from(p.flatMap((x) => [...x]));
    assert.deepEqual(encodeSend(k2, data), encodeFrame(FrameType.SEND, join(k2, data)));
    assert.deepEqual(encodeRecv(k1, data), encodeFrame(FrameType.RECV, join(k1, data)));
    assert.deepEqual(encodeForward(k1, k2, data), encodeFrame(FrameType.FORWARD, join(k1, k2, data)));
  }
  assert.throws(() => encodeSend(k2, new Uint8Array(MAX_PACKET_BYTES + 1)), RangeError);
});

test('property: decode(encode(x)) is x for the data frames', () => {
  fc.assert(
    fc.property(key32, key32, packet, (src, dst, data) => {
      const s = decodeSend(only(encodeSend(dst, data)).body);
      assert.deepEqual([s.dstKey, s.data], [dst, data]);
      const r = decodeRecv(only(encodeRecv(src, data)).body);
      assert.deepEqual([r.srcKey, r.data], [src, data]);
      const f = decodeForward(only(encodeForward(src, dst, data)).body);
      assert.deepEqual([f.srcKey, f.dstKey, f.data], [src, dst, data]);
    }),
  );
  fc.assert(
    fc.property(key32, fc.uint8Array({ minLength: 16, maxLength: 16 }), fc.integer({ min: 0, max: 65535 }), fc.integer({ min: 0, max: 255 }),
      (key, ip, port, flags) => {
        assert.deepEqual(decodePeerPresent(only(encodePeerPresent({ key, ip, port, flags })).body), { key, ip, port, flags });
      }),
  );
  fc.assert(
    fc.property(fc.nat(), fc.nat(), fc.string({ maxLength: 100 }), (a, b, text) => {
      const r = { reconnectInMs: a >>> 0, tryForMs: b >>> 0 };
      assert.deepEqual(decodeRestarting(only(encodeRestarting(r)).body), r);
      assert.equal(decodeHealth(only(encodeHealth(text)).body), new TextDecoder().decode(new TextEncoder().encode(text)));
    }),
  );
});

test('property: any byte string fed in any split yields frames or DecodeError, nothing else', () => {
  const framed = fc.tuple(fc.integer({ min: 0, max: 0x20 }), fc.uint8Array({ maxLength: 120 })).map(([t, b]) => encodeFrame(t, b));
  const stream = fc.array(fc.oneof(fc.uint8Array({ maxLength: 64 }), framed), { maxLength: 8 });
  fc.assert(
    fc.property(stream, fc.array(fc.nat(), { maxLength: 4 }), (parts, cuts) => {
      const all = Buffer.concat(parts);
      const points = [...new Set(cuts.map((c) => c % (all.length + 1)))].sort((x, y) => x - y);
      const r = new FrameReader();
      let at = 0;
      try {
        for (const p of [...points, all.length]) {
          for (const frame of r.feed(all.subarray(at, p))) decodeMessage(frame);
          at = p;
        }
      } catch (err) {
        if (!(err instanceof DecodeError)) throw err;
      }
    }),
    { numRuns: 2000 },
  );
});

test('decoded keys and the reader\'s held-back tail are copies: reusing the input buffer changes nothing', () => {
  const buf = Buffer.from(encodePeerGone(keyA, 'disconnected'));
  const r = new FrameReader();
  const frames = r.feed(buf.subarray(0, 20)); // header and part of the body: held back
  assert.equal(frames.length, 0);
  buf.fill(0, 0, 20);
  const [f] = r.feed(Buffer.from(encodePeerGone(keyA, 'disconnected')).subarray(20));
  const gone = decodePeerGone(f!.body);
  const again = Buffer.from(encodePeerGone(keyB, 'not-here'));
  const key = decodePeerGone(new FrameReader().feed(again)[0]!.body).key;
  again.fill(0);
  assert.deepEqual([toHex(gone.key), toHex(key)], [A, B]);
});
