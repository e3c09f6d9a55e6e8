import { test } from 'node:test';
import assert from 'node:assert/strict';
import { clockOffsetMs, endpointFamily, formatAgo, formatBytes, formatDuration, formatInstant, formatRtt, formatTristate, pathLabel, secondsUntil } from './format.ts';

test('bytes in binary units, one decimal below 100', () => {
  assert.equal(formatBytes(0), '0 B');
  assert.equal(formatBytes(1023), '1023 B');
  assert.equal(formatBytes(1536), '1.5 KiB');
  assert.equal(formatBytes(150 * 1024 * 1024), '150 MiB');
  assert.equal(formatBytes(3 * 1024 ** 4), '3.0 TiB');
  assert.equal(formatBytes(-1), '–');
  assert.equal(formatBytes(Number.NaN), '–');
});

test('durations read as at most two units', () => {
  assert.equal(formatDuration(0), '0 s');
  assert.equal(formatDuration(59.9), '59 s');
  assert.equal(formatDuration(60), '1 min');
  assert.equal(formatDuration(3725), '1 h 2 min');
  assert.equal(formatDuration(3600), '1 h');
  assert.equal(formatDuration(90061), '1 d 1 h');
  assert.equal(formatDuration(null), '–');
  assert.equal(formatDuration(-5), '–');
});

test('ago: never, just now for clock skew, else the duration', () => {
  const now = Date.parse('2026-12-07T10:00:00Z');
  assert.equal(formatAgo(null, now), 'never');
  assert.equal(formatAgo('2026-12-07T09:59:48Z', now), '12 s ago');
  assert.equal(formatAgo('2026-12-07T10:00:05Z', now), 'just now');
  assert.equal(formatAgo('garbage', now), '–');
});

test('rtt precision follows its size', () => {
  assert.equal(formatRtt(0.4213), '0.42 ms');
  assert.equal(formatRtt(12.34), '12.3 ms');
  assert.equal(formatRtt(230.4), '230 ms');
  assert.equal(formatRtt(null), '–');
});

test('path labels name the relay region and server', () => {
  assert.equal(pathLabel({ path: 'direct', relay: null }), 'direct');
  assert.equal(pathLabel({ path: 'udp-relay', relay: null }), 'UDP relay');
  assert.equal(pathLabel({ path: 'tcp-relay', relay: { region: 'lab', server: 'relay-1' } }), 'TCP relay · lab (relay-1)');
  assert.equal(pathLabel({ path: 'tcp-relay', relay: { region: 'eu', server: null } }), 'TCP relay · eu');
  assert.equal(pathLabel({ path: 'tcp-relay', relay: null }), 'TCP relay');
  assert.equal(pathLabel({ path: 'none', relay: null }), 'no path');
});

test('endpoint family from the written form', () => {
  assert.equal(endpointFamily('203.0.113.7:41641'), 'IPv4');
  assert.equal(endpointFamily('[2001:db8::7]:41641'), 'IPv6');
  assert.equal(endpointFamily(null), null);
});

test('countdown uses the agent clock, never negative', () => {
  const agentNow = Date.parse('2026-12-07T10:00:00Z');
  // The browser runs 30 s behind the agent: the offset puts the countdown on the agent's clock.
  const browserNow = agentNow - 30_000;
  const offset = clockOffsetMs('2026-12-07T10:00:00Z', browserNow);
  assert.equal(offset, 30_000);
  assert.equal(secondsUntil('2026-12-07T10:01:00Z', browserNow, offset), 60);
  assert.equal(secondsUntil('2026-12-07T10:00:00.200Z', browserNow, offset), 1);
  assert.equal(secondsUntil('2026-12-07T09:59:00Z', browserNow, offset), 0);
  assert.equal(secondsUntil('nope', browserNow, offset), 0);
  assert.equal(clockOffsetMs('nope', browserNow), 0);
});

test('instants in UTC without milliseconds; tristate answers', () => {
  assert.equal(formatInstant('2026-12-07T08:46:54.123Z'), '2026-12-07 08:46:54 UTC');
  assert.equal(formatInstant(null), '–');
  assert.equal(formatTristate(null), 'unknown');
  assert.equal(formatTristate(true, 'works'), 'works');
  assert.equal(formatTristate(false), 'no');
});

test('counters age between models on the agent clock', async () => {
  const { agedDown, agedUp, elapsedSec } = await import('./format.ts');
  assert.equal(elapsedSec('2026-12-07T10:00:00Z', Date.parse('2026-12-07T10:00:07.900Z')), 7);
  assert.equal(elapsedSec('2026-12-07T10:00:00Z', Date.parse('2026-12-07T09:59:58Z')), 0);
  assert.equal(elapsedSec('nope', 0), 0);
  assert.equal(agedUp(312, 7), 319);
  assert.equal(agedUp(null, 7), null);
  assert.equal(agedDown(5, 7), 0);
  assert.equal(agedDown(7200, 7), 7193);
});
