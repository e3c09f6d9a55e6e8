/**
 * STUN decoder fuzz at 10^6 inputs (the unit test runs 5000): random bytes, mutated valid messages and
 * framed random attribute soup. Fails if anything but DecodeError escapes decodeStun.
 * `npm run bench stun-fuzz [--inputs N]`.
 */
import { randomBytes } from 'node:crypto';
import { DecodeError } from '../agent/src/errors.ts';
import { bindingRequest, decodeStun, encodeStun, isStun } from '../agent/src/stun/codec.ts';

export async function run(args: string[]): Promise<object> {
  const i = args.indexOf('--inputs');
  const total = i >= 0 ? Number(args[i + 1]) : 1_000_000;
  const tid = randomBytes(12);
  const seeds = [
    bindingRequest(tid, { changeIp: true, changePort: true, fingerprint: true, software: 'x' }),
    encodeStun({ kind: 'success', method: 1, transactionId: tid, xorMappedAddress: { family: 6, address: '2001:db8::1', port: 1 }, otherAddress: { family: 4, address: '192.0.2.1', port: 2 }, fingerprint: true }),
    encodeStun({ kind: 'error', method: 1, transactionId: tid, errorCode: { code: 420, reason: 'Unknown' }, unknownAttributes: [3, 4] }),
  ];
  let decoded = 0;
  let rejected = 0;
  let classifiedStun = 0;
  const pool = randomBytes(1 << 20);
  let p = 0;
  const take = (n: number): Uint8Array => {
    if (p + n > pool.length) p = 0;
    const b = pool.subarray(p, p + n);
    p += n;
    return b;
  };
  const start = performance.now();
  for (let k = 0; k < total; k++) {
    let b: Uint8Array;
    const r = take(4);
    switch (k % 3) {
      case 0:
        b = take(r[0]! % 120);
        break;
      case 1: {
        b = Uint8Array.from(seeds[k % seeds.length]!);
        for (let f = 0; f <= (r[1]! & 3); f++) b[take(1)[0]! % b.length] = take(1)[0]!;
        break;
      }
      default: {
        const len = (r[2]! % 24) * 4;
        b = new Uint8Array(20 + len);
        b.set([0x01, 0x01, len >> 8, len & 0xff, 0x21, 0x12, 0xa4, 0x42]);
        b.set(take(12 + len), 8);
      }
    }
    if (isStun(b)) classifiedStun++;
    try {
      decodeStun(b);
      decoded++;
    } catch (e) {
      if (!(e instanceof DecodeError)) throw new Error(`decodeStun threw ${String(e)} on ${Buffer.from(b).toString('hex')}`);
      rejected++;
    }
  }
  const ms = performance.now() - start;
  return { inputs: total, decoded, rejectedWithDecodeError: rejected, classifiedStun, otherErrors: 0, inputsPerSec: Math.round(total / (ms / 1000)) };
}
