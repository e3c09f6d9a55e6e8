/**
 * The STUN server as a reflector: answer size against request size (the amplification table in
 * README.md is this test's output), rate limits per source and overall on a FakeClock, no wildcard.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeClock } from '../clock/clock.ts';
import { ConegateError } from '../errors.ts';
import { answerBinding, StunServer, type StunServerGroup } from './server.ts';
import { bindingRequest, decodeStun, encodeStun, METHOD_BINDING } from './codec.ts';
import { MemoryNetwork } from './memory-bind.ts';
import { sourceKey, StunRateLimiter, TokenBucket } from './ratelimit.ts';

const TID = Uint8Array.from({ length: 12 }, (_, i) => i + 1);
const AT = { ip: 0, port: 0 } as const;
const V4: StunServerGroup = { primary: { address: '203.0.113.1', port: 3478 }, other: { address: '203.0.113.2', port: 3479 } };
const V6: StunServerGroup = { primary: { address: '2001:db8::1', port: 3478 }, other: { address: '2001:db8::2', port: 3479 } };
const FROM4 = { address: '192.0.2.7', port: 40001 };
const FROM6 = { address: '2001:db8:1::7', port: 40001 };

function factor(req: Uint8Array, g: StunServerGroup, from: { address: string; port: number }): number {
  return answerBinding(req, from, AT, g)!.reply.length / req.length;
}

test('amplification: a 20-byte request gets at most 1.6x (single, IPv4) and 4.6x (RFC 5780 pair, IPv6)', () => {
  const plain = bindingRequest(TID);
  assert.equal(plain.length, 20);
  const single4 = { primary: V4.primary };
  const single6 = { primary: V6.primary };
  const table = {
    'single v4': factor(plain, single4, FROM4),
    'single v6': factor(plain, single6, FROM6),
    'pair v4': factor(plain, V4, FROM4),
    'pair v6': factor(plain, V6, FROM6),
    // FINGERPRINT is mirrored: a client asking for one pays 8 bytes for it too.
    'pair v4 fingerprint': factor(bindingRequest(TID, { fingerprint: true }), V4, FROM4),
  };
  assert.deepEqual(table, { 'single v4': 1.6, 'single v6': 2.2, 'pair v4': 2.8, 'pair v6': 4.6, 'pair v4 fingerprint': 64 / 28 });
  // Before: 88 bytes (MAPPED + XOR-MAPPED + RESPONSE-ORIGIN + OTHER-ADDRESS + SOFTWARE + FINGERPRINT).
  assert.ok(answerBinding(plain, FROM4, AT, V4)!.reply.length < 88);
});

test('amplification: SOFTWARE only when the request was as large as the answer with it', () => {
  assert.equal(decodeStun(answerBinding(bindingRequest(TID), FROM4, AT, V4)!.reply).software, undefined);
  const big = bindingRequest(TID, { software: 'a client that names itself at length, 64 bytes or so......', fingerprint: true });
  const a = answerBinding(big, FROM4, AT, V4)!;
  assert.equal(decodeStun(a.reply).software, 'conegate');
  assert.ok(a.reply.length <= big.length);
});

test('CHANGE-REQUEST is answered from another socket only by an RFC 5780 pair; a single server says 420', () => {
  const req = bindingRequest(TID, { changeIp: true });
  assert.deepEqual(answerBinding(req, FROM4, AT, V4)!.via, { ip: 1, port: 0 });
  const single = answerBinding(req, FROM4, AT, { primary: V4.primary })!;
  assert.deepEqual(single.via, AT);
  assert.equal(decodeStun(single.reply).errorCode?.code, 420);
  // A 420 answer stays small too.
  assert.ok(single.reply.length <= 2 * req.length, "a 420 answer stays within 2x");
  const rp = encodeStun({ kind: 'request', method: METHOD_BINDING, transactionId: TID, responsePort: 123 });
  assert.deepEqual(answerBinding(rp, FROM4, AT, V4)!.to, FROM4);
});

test('token bucket: burst, then the sustained rate; time going backwards adds nothing', () => {
  const b = new TokenBucket({ perSec: 10, burst: 3 }, 0);
  assert.deepEqual([b.take(0), b.take(0), b.take(0), b.take(0)], [true, true, true, false]);
  assert.equal(b.take(50), false, 'half a token after 50 ms');
  assert.equal(b.take(100), true);
  assert.equal(b.take(-1000), false);
  assert.equal(b.level(10_000), 3, 'capped at the burst');
});

test('rate limiter: per source (IPv4 address, IPv6 /64) and overall; the source map stays bounded', () => {
  const l = new StunRateLimiter({ perSource: { perSec: 1, burst: 2 }, overall: { perSec: 100, burst: 5 }, maxSources: 3 }, 0);
  assert.deepEqual([l.allow('192.0.2.1', 0), l.allow('192.0.2.1', 0), l.allow('192.0.2.1', 0)], [true, true, false]);
  // Another address of the same /64 shares the bucket.
  assert.equal(sourceKey('2001:db8:1::7'), sourceKey('2001:db8:1::8'));
  assert.notEqual(sourceKey('2001:db8:1::7'), sourceKey('2001:db8:2::7'));
  assert.deepEqual([l.allow('2001:db8:1::7', 0), l.allow('2001:db8:1::8', 0), l.allow('2001:db8:1::9', 0)], [true, true, false]);
  // Overall: 5 tokens, 4 spent; one more source gets one answer, the next is refused overall.
  assert.equal(l.allow('192.0.2.2', 0), true);
  assert.equal(l.allow('192.0.2.3', 0), false);
  for (let i = 0; i < 100; i++) l.allow(`198.51.100.${i}`, 1);
  assert.ok(l.trackedSources <= 3);
});

test('StunServer drops what the limits refuse (FakeClock) and counts it', async () => {
  const net = new MemoryNetwork();
  const clock = new FakeClock();
  const server = new StunServer([{ primary: V4.primary }], { openBind: async (a, p) => net.bind(a, p), clock, limits: { perSource: { perSec: 1, burst: 3 }, overall: { perSec: 1000, burst: 1000 }, maxSources: 16 } });
  await server.start();
  const client = net.bind('192.0.2.7', 40001);
  let answers = 0;
  client.onMessage(() => answers++);
  for (let i = 0; i < 10; i++) await client.send(bindingRequest(TID), V4.primary.address, V4.primary.port);
  await new Promise((r) => setImmediate(r)); // memory delivery is by microtask: all of it has run
  assert.equal(answers, 3);
  assert.equal(server.stats.limited, 7);
  clock.advance(1000);
  await client.send(bindingRequest(TID), V4.primary.address, V4.primary.port);
  await new Promise((r) => setImmediate(r)); // memory delivery is by microtask: all of it has run
  assert.equal(answers, 4);
  await server.stop();
});

test('StunServer refuses wildcard addresses: it answers only on the addresses it is given', () => {
  for (const address of ['0.0.0.0', '::']) {
    assert.throws(
      () => new StunServer([{ primary: { address, port: 3478 } }], { openBind: async () => { throw new Error('unused'); } }),
      (e: unknown) => e instanceof ConegateError && e.code === 'CG_USAGE',
    );
  }
});
