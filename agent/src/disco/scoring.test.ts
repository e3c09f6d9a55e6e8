import { test } from 'node:test';
import assert from 'node:assert/strict';
import { classifyAddress, pointsOver, shouldSwitch, type Measured } from './scoring.ts';

const m = (address: string, rttMs: number, loss = 0, kind: Measured['kind'] = 'direct'): Measured => ({ kind, address, rttMs, loss });

test('address classes: loopback, link-local, private (RFC 1918, CGNAT, ULA), public', () => {
  assert.deepEqual(
    ['127.0.0.1', '169.254.1.1', '10.1.2.3', '172.16.0.1', '192.168.1.1', '100.64.0.1', '203.0.113.5', '::1', 'fe80::1', 'fd00::1', '2001:db8::1', 'x'].map((a) => classifyAddress(a).cls),
    ['loopback', 'link-local', 'private', 'private', 'private', 'private', 'public', 'loopback', 'link-local', 'private', 'public', 'invalid'],
  );
});

test('points: % faster, +20 private, +10 IPv6, minus loss', () => {
  assert.equal(Math.round(pointsOver(m('203.0.113.1', 10), m('203.0.113.2', 20))), 50);
  assert.equal(pointsOver(m('10.0.0.1', 20), m('203.0.113.2', 20)), 20);
  assert.equal(pointsOver(m('2001:db8::1', 20), m('203.0.113.2', 20)), 10);
  assert.equal(pointsOver(m('203.0.113.1', 20, 0.25), m('203.0.113.2', 20)), -25);
});

test('IPv6 is preferred while within 10% of IPv4, not beyond', () => {
  assert.equal(shouldSwitch(m('2001:db8::1', 21), m('198.51.100.1', 20)), true, '5% slower IPv6 wins');
  assert.equal(shouldSwitch(m('2001:db8::1', 23), m('198.51.100.1', 20)), false, '15% slower IPv6 loses');
  assert.equal(shouldSwitch(m('198.51.100.1', 20), m('2001:db8::1', 23)), true);
});

test('hysteresis: no switch for 1 point or less', () => {
  assert.equal(shouldSwitch(m('203.0.113.1', 19.9), m('203.0.113.2', 20)), false, '0.5% faster');
  assert.equal(shouldSwitch(m('203.0.113.1', 19.78), m('203.0.113.2', 20)), true, '1.1% faster');
});

test('a lossy path is demoted even when faster', () => {
  assert.equal(shouldSwitch(m('203.0.113.1', 15, 0.5), m('203.0.113.2', 20)), false);
  assert.equal(shouldSwitch(m('203.0.113.2', 20), m('203.0.113.1', 15, 0.5)), true);
});

test('kinds: direct beats UDP relay beats TCP relay, whatever the RTT', () => {
  assert.equal(shouldSwitch(m('203.0.113.1', 200), m('203.0.113.2', 5, 0, 'udp-relay')), true);
  assert.equal(shouldSwitch(m('203.0.113.1', 200, 0, 'udp-relay'), m('203.0.113.2', 5, 0, 'tcp-relay')), true);
  assert.equal(shouldSwitch(m('203.0.113.1', 5, 0, 'tcp-relay'), m('203.0.113.2', 200)), false);
  assert.equal(shouldSwitch(m('203.0.113.1', 5), undefined), true);
});
