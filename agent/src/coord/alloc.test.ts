import { test } from 'node:test';
import assert from 'node:assert/strict';
import { allocateAddress, DEFAULT_PREFIX4, randomUlaPrefix } from './alloc.ts';
import { isConegateError } from '../errors.ts';

test('IPv4: the first address after the network address, then the lowest free one', () => {
  assert.equal(allocateAddress(DEFAULT_PREFIX4, []), '100.64.0.1');
  assert.equal(allocateAddress(DEFAULT_PREFIX4, ['100.64.0.1', '100.64.0.2']), '100.64.0.3');
  // A gap left by nothing (e.g. a pool that changed) is filled first; addresses of other pools are ignored.
  assert.equal(allocateAddress(DEFAULT_PREFIX4, ['100.64.0.2', '10.0.0.1', 'fd00::1', 'junk']), '100.64.0.1');
});

test('IPv4: network and broadcast are skipped, a full pool gives undefined', () => {
  assert.equal(allocateAddress('192.0.2.0/30', ['192.0.2.1']), '192.0.2.2');
  assert.equal(allocateAddress('192.0.2.0/30', ['192.0.2.1', '192.0.2.2']), undefined);
  // RFC 3021: both addresses of a /31 are hosts; a /32 is one host.
  assert.equal(allocateAddress('192.0.2.0/31', []), '192.0.2.0');
  assert.equal(allocateAddress('192.0.2.0/31', ['192.0.2.0']), '192.0.2.1');
  assert.equal(allocateAddress('192.0.2.7/32', []), '192.0.2.7');
});

test('IPv4: 100.100.100.0/24 and 100.115.92.0/23 are never handed out', () => {
  assert.equal(allocateAddress('100.100.100.0/23', []), '100.100.101.0');
  const below = Array.from({ length: 4 * 256 - 1 }, (_, i) => `100.100.${96 + ((i + 1) >> 8)}.${(i + 1) & 255}`);
  assert.equal(allocateAddress('100.100.96.0/21', below), '100.100.101.0');
  assert.equal(allocateAddress('100.115.92.0/22', []), '100.115.94.0');
  assert.equal(allocateAddress('100.100.100.0/24', []), undefined);
});

test('IPv6: the all-zero host and the RFC 2526 anycast top of a /64 are skipped', () => {
  assert.equal(allocateAddress('fd7a:115c:a1e0::/48', []), 'fd7a:115c:a1e0::1');
  assert.equal(allocateAddress('fd7a:115c:a1e0::/48', ['fd7a:115c:a1e0::1']), 'fd7a:115c:a1e0::2');
  assert.equal(allocateAddress('fd00::ffff:ffff:ffff:ff00/120', []), 'fd00::ffff:ffff:ffff:ff01');
  const most = Array.from({ length: 126 }, (_, i) => `fd00::ffff:ffff:ffff:ff${(i + 1).toString(16).padStart(2, '0')}`);
  assert.equal(allocateAddress('fd00::ffff:ffff:ffff:ff00/120', most), 'fd00::ffff:ffff:ffff:ff7f');
  assert.equal(allocateAddress('fd00::ffff:ffff:ffff:ff00/120', [...most, 'fd00::ffff:ffff:ffff:ff7f']), undefined);
});

test('a pool that is not a clean CIDR is refused with CG_INPUT_INVALID', () => {
  for (const bad of ['100.64.0.1/10', 'nope', '100.64.0.0/33', '']) {
    assert.throws(() => allocateAddress(bad, []), (e) => isConegateError(e) && e.code === 'CG_INPUT_INVALID');
  }
});

test('a ULA /48 is fd00::/8 with 40 random bits (RFC 4193 §3.2)', () => {
  assert.equal(randomUlaPrefix(() => Uint8Array.from([0x7a, 0x11, 0x5c, 0xa1, 0xe0])), 'fd7a:115c:a1e0::/48');
  assert.throws(() => randomUlaPrefix(() => new Uint8Array(4)), (e) => isConegateError(e));
});

test('used addresses count in any valid spelling; malformed ones are ignored', () => {
  const pool = 'fd7a:115c:a1e0::/48';
  assert.equal(allocateAddress(pool, ['FD7A:115C:A1E0:0:0:0:0:1', 'fd7a:115c:a1e0::0.0.0.2']), 'fd7a:115c:a1e0::3');
  assert.equal(allocateAddress(pool, ['fd7a:115c:a1e0::1::2', 'fd7a:115c:a1e0::fffff', 'fd7a::115c::1']), 'fd7a:115c:a1e0::1');
  assert.equal(allocateAddress(DEFAULT_PREFIX4, ['100.64.0.01', '100.64.0.256', '100.64.0', '100.64.0.1.2']), '100.64.0.1');
});
