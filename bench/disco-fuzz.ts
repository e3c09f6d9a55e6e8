/**
 * Discovery fuzz at 10^6 inputs (the unit tests run a few thousand), in three shapes: random datagrams
 * and mutated sealed datagrams through DiscoSealer.open (what the mesh socket does with anything that
 * starts with the magic), and random plaintexts through decodeDiscoPlain (what a valid box can carry,
 * i.e. what a peer holding a key could send). Fails if anything but DecodeError escapes.
 * `npm run bench disco-fuzz [--inputs N]`.
 */
import { randomBytes } from 'node:crypto';
import { x25519 } from '@noble/curves/ed25519.js';
import { DecodeError } from '../agent/src/errors.ts';
import { DISCO_MAGIC } from '../agent/src/mesh/demux.ts';
import { decodeDiscoPlain, encodeDiscoPlain } from '../agent/src/disco/codec.ts';
import { DiscoSealer } from '../agent/src/disco/sealer.ts';

export async function run(args: string[]): Promise<object> {
  const i = args.indexOf('--inputs');
  const total = i >= 0 ? Number(args[i + 1]) : 1_000_000;
  const sk = randomBytes(32);
  const peerSk = randomBytes(32);
  const wall = () => Date.now();
  const us = new DiscoSealer(sk, x25519.getPublicKey(sk), { randomBytes: (n) => randomBytes(n), wallMs: wall });
  const peer = new DiscoSealer(peerSk, x25519.getPublicKey(peerSk), { randomBytes: (n) => randomBytes(n), wallMs: wall });
  const known = (k: string) => k === peer.publicKeyHex;
  const tx = randomBytes(12);
  const seeds = [
    peer.seal(us.publicKeyHex, { type: 'ping', txId: tx, nodeKey: 'ab'.repeat(32) }),
    peer.seal(us.publicKeyHex, { type: 'call-me-maybe', hardNat: true, endpoints: [{ address: '2001:db8::1', port: 1 }, { address: '192.0.2.1', port: 2 }] }),
  ];
  const plains = [
    encodeDiscoPlain({ type: 'pong', txId: tx, src: { address: '198.51.100.1', port: 3 } }, Date.now()),
    encodeDiscoPlain({ type: 'birthday', attempt: 1, hardAddress: '203.0.113.1', easy: { address: '198.51.100.1', port: 3 }, sockets: 256, probes: 1024, ratePerSec: 200, deadlineMs: 10_000 }, Date.now()),
  ];
  const pool = randomBytes(1 << 20);
  let p = 0;
  const take = (n: number): Uint8Array => {
    if (p + n > pool.length) p = 0;
    const b = pool.subarray(p, p + n);
    p += n;
    return b;
  };
  const counts = { opened: 0, refused: 0, plainDecoded: 0, plainRefused: 0 };
  const start = performance.now();
  for (let k = 0; k < total; k++) {
    const r = take(4);
    if (k % 3 === 2) {
      // A plaintext: random, or a valid one mutated/truncated.
      let b: Uint8Array;
      if (r[0]! & 1) b = take(r[1]! % 90);
      else {
        b = Uint8Array.from(plains[k % plains.length]!).subarray(0, 1 + (r[1]! % 70));
        for (let f = 0; f <= (r[2]! & 3); f++) b[take(1)[0]! % b.length] = take(1)[0]!;
      }
      try {
        decodeDiscoPlain(b);
        counts.plainDecoded++;
      } catch (e) {
        if (!(e instanceof DecodeError)) throw new Error(`decodeDiscoPlain threw ${String(e)} on ${Buffer.from(b).toString('hex')}`);
        counts.plainRefused++;
      }
      continue;
    }
    let b: Uint8Array;
    if (k % 3 === 0) {
      b = new Uint8Array(6 + (r[0]! % 150));
      b.set(DISCO_MAGIC);
      b.set(take(b.length - 6), 6);
      if (r[1]! & 1 && b.length >= 38) b.set(peer.publicKey, 6); // reaches the box, not just the sender check
    } else {
      b = Uint8Array.from(seeds[k % seeds.length]!);
      for (let f = 0; f <= (r[2]! & 3); f++) b[6 + (take(1)[0]! % (b.length - 6))] = take(1)[0]!;
    }
    try {
      us.open(b, known);
      counts.opened++;
    } catch (e) {
      if (!(e instanceof DecodeError)) throw new Error(`open threw ${String(e)} on ${Buffer.from(b).toString('hex')}`);
      counts.refused++;
    }
  }
  const ms = performance.now() - start;
  return { inputs: total, ...counts, otherErrors: 0, replayMemory: us.replayMemory(), inputsPerSec: Math.round(total / (ms / 1000)) };
}
