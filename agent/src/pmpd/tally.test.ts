import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeClock } from '../clock/clock.ts';
import { createLogger } from '../log/logger.ts';
import { encodePmpRequest } from '../pmp/codec.ts';
import { encodePcpRequest } from '../pcp/codec.ts';
import { parseIp, toMappedV6 } from '../net/ip.ts';
import { MemoryBackend } from '../fw/memory.ts';
import { PmpCore } from './core.ts';
import { DecisionTally } from './tally.ts';
import { LAN, defaultPolicy } from './testkit.ts';

/** A logger at `level` whose lines are collected as parsed objects. */
function collecting(level: 'info' | 'debug' = 'info') {
  const lines: Record<string, unknown>[] = [];
  const log = createLogger({ level, destination: { write: (s: string) => void lines.push(JSON.parse(s) as Record<string, unknown>) } });
  return { log, lines };
}

test('tally: one info summary per interval with counts by result, nothing for a quiet interval', () => {
  const clock = new FakeClock();
  const { log, lines } = collecting();
  const tally = new DecisionTally({ clock, log }, 300_000);
  tally.start();
  tally.count('pcp:SUCCESS');
  tally.count('pcp:SUCCESS');
  tally.count('pmp:NOT_AUTHORIZED');
  clock.advance(300_000);
  assert.equal(lines.length, 1);
  assert.deepEqual(lines[0]!.counts, { 'pcp:SUCCESS': 2, 'pmp:NOT_AUTHORIZED': 1 });
  clock.advance(300_000);
  assert.equal(lines.length, 1, 'a quiet interval writes nothing');
  tally.count('dropped');
  tally.stop();
  assert.equal(lines.length, 2, 'stop() writes what is left');
  assert.equal(clock.pendingTimers(), 0);
  assert.deepEqual(Object.fromEntries(tally.totals), { 'pcp:SUCCESS': 2, 'pmp:NOT_AUTHORIZED': 1, dropped: 1 });
});

/** Deterministic xorshift, so a failure replays. */
function rng(seed: number) {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 0x100000000;
  };
}

test('100,000 fuzzed packets write a handful of info lines, not one per packet (routers log to flash)', async () => {
  const { log, lines } = collecting('info');
  const clock = new FakeClock();
  const policy = defaultPolicy({ requestsPerClientPerSec: 1_000_000, maxMappingsPerClient: 65535 });
  const core = new PmpCore({ policy, summaryIntervalMs: 300_000 }, { clock, log, backend: new MemoryBackend() }, '203.0.113.1');
  await core.start();
  const client = toMappedV6(parseIp(LAN.address)!.bytes);
  const seeds = [
    encodePmpRequest({ kind: 'publicAddress' }),
    encodePmpRequest({ kind: 'map', protocol: 'udp', internalPort: 5000, suggestedExternalPort: 5000, lifetimeSec: 600 }),
    encodePcpRequest({ opcode: 'map', lifetimeSec: 600, clientAddress: client, map: { nonce: new Uint8Array(12), protocol: 17, internalPort: 5001, externalPort: 0, externalAddress: new Uint8Array(16) }, options: [] }),
  ];
  const r = rng(6886);
  let answered = 0;
  for (let i = 0; i < 100_000; i++) {
    const seed = seeds[i % seeds.length]!;
    const b = new Uint8Array(Math.max(0, seed.length + Math.floor(r() * 9) - 4));
    b.set(seed.subarray(0, b.length));
    for (let k = Math.floor(r() * 4); k > 0; k--) b[Math.floor(r() * b.length)] = Math.floor(r() * 256);
    if (await core.handle(b, LAN)) answered++;
    if (i % 10_000 === 0) clock.advance(60_000);
  }
  await core.stop();
  const loud = lines.filter((l) => (l.level as number) >= 30);
  assert.ok(answered > 10_000, `the fuzz reached the server (${answered} answers)`);
  assert.ok(loud.length <= 10, `${loud.length} lines at info or above: ${JSON.stringify(loud.slice(0, 3))}`);
  const summaries = loud.filter((l) => l.msg === 'pmpd: requests handled');
  const total = summaries.reduce((n, l) => n + Object.values(l.counts as Record<string, number>).reduce((a, b) => a + b, 0), 0);
  assert.ok(total >= answered, 'the summaries account for every answer');
});
