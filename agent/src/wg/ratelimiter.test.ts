import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HANDSHAKE_BURST, HandshakeRateLimiter } from './ratelimiter.ts';

test('a burst of 5, then 20 per second, per source', () => {
  const r = new HandshakeRateLimiter();
  const allowed = (addr: string, at: number, n: number): number => {
    let ok = 0;
    for (let i = 0; i < n; i++) if (r.allow(addr, at)) ok++;
    return ok;
  };
  assert.equal(allowed('198.51.100.1', 0, 10), HANDSHAKE_BURST);
  assert.equal(allowed('198.51.100.2', 0, 10), HANDSHAKE_BURST, 'another source has its own bucket');
  assert.equal(allowed('198.51.100.1', 49, 1), 0);
  assert.equal(allowed('198.51.100.1', 50, 2), 1, 'one token per 50 ms');
  // a steady 20/s is sustained: one every 50 ms for 2 s
  let ok = 0;
  for (let t = 100; t < 2100; t += 50) if (r.allow('198.51.100.3', t)) ok++;
  assert.equal(ok, 40);
});

test('IPv6 sources share a bucket per /64; idle buckets are swept', () => {
  const r = new HandshakeRateLimiter();
  for (let i = 0; i < HANDSHAKE_BURST; i++) assert.ok(r.allow(`2001:db8:1:2::${i + 1}`, 0));
  assert.equal(r.allow('2001:db8:1:2:ffff::1', 0), false, 'same /64');
  assert.ok(r.allow('2001:db8:1:3::1', 0), 'next /64');
  assert.equal(r.size, 2);
  r.allow('192.0.2.1', 5_000);
  assert.equal(r.size, 1);
});
