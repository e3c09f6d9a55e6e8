/**
 * A router whose clock is two hours off (booted without a battery-backed clock, NTP not yet through)
 * still registers with the real coordinator over HTTPS and exchanges discovery messages with a peer
 * whose clock is right: both speak the coordinator's time.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { realClock } from '../clock/clock.ts';
import { AdminClient } from '../coord/client/admin.ts';
import { Coordinator } from '../coord/server/coordinator.ts';
import { selfSignedTls, type TlsIdentity } from '../coord/server/tls.ts';
import { MemoryStore } from '../coord/store/memory.ts';
import { DiscoSealer } from '../disco/sealer.ts';
import { isConegateError } from '../errors.ts';
import { createLogger } from '../log/logger.ts';
import { generatePrivateKey, publicKey } from '../wg/keys.ts';
import { CoordClient } from './coord-client.ts';
import { loadIdentity } from './identity.ts';
import { MeshClock, anchorFromDate } from './mesh-clock.ts';

const HOUR = 3_600_000;

test('anchorFromDate: the middle of the Date second and of the round trip; junk and impossible timing ignored', () => {
  const server = Date.UTC(2026, 11, 7, 10, 0, 0);
  assert.equal(anchorFromDate(new Date(server).toUTCString(), 1_000, 1_200), server + 500 - 1_100);
  for (const bad of [undefined, '', 'yesterday', 'x'.repeat(100)]) assert.equal(anchorFromDate(bad, 0, 1), undefined);
  assert.equal(anchorFromDate(new Date(server).toUTCString(), 10, 5), undefined, 'received before sent');
});

test('MeshClock: a good clock is kept (answers within the tolerance); a wrong one is corrected and then ignores local clock steps', () => {
  const truth = Date.UTC(2026, 11, 7, 10, 0, 0, 200);
  let mono = 5_000;
  let localSkew = 0;
  const clock = new MeshClock(() => truth + (mono - 5_000) + localSkew, () => mono);
  const answer = () => new Date(truth + (mono - 5_000)).toUTCString();
  assert.equal(clock.observe(answer(), mono - 20, mono + 20), false);
  assert.equal(clock.nowMs(), truth);
  assert.deepEqual(clock.status(), { offsetMs: 0, adjustedAt: null, corrections: 0 });
  localSkew = -2 * HOUR; // booted without a real-time clock
  mono += 1_000;
  assert.equal(clock.observe(answer(), mono - 20, mono + 20), true);
  assert.ok(Math.abs(clock.nowMs() - (truth + 1_000)) <= 1_000, 'the coordinator time');
  assert.ok(Math.abs(clock.status().offsetMs - 2 * HOUR) <= 1_000);
  mono += 1_000;
  assert.equal(clock.observe(answer(), mono - 10, mono + 10), false, 'within tolerance: no jitter');
  localSkew = 0; // NTP steps the local clock: the mesh time does not move
  mono += 1_000;
  assert.ok(Math.abs(clock.nowMs() - (truth + 3_000)) <= 1_000);
  assert.equal(clock.status().corrections, 1);
});

let dir: string;
let tls: TlsIdentity;
let coord: Coordinator;
let authKey: string;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cg-meshclock-'));
  tls = await selfSignedTls(dir, ['127.0.0.1']);
  coord = new Coordinator(
    { host: '127.0.0.1', port: 0, tls, adminSocket: join(dir, 'run', 'admin.sock') },
    { store: new MemoryStore(), clock: realClock, wallNowMs: Date.now, random: Math.random, randomBytes: (n) => randomBytes(n), log: createLogger({ level: 'silent' }) },
  );
  await coord.start();
  authKey = (await new AdminClient({ socketPath: join(dir, 'run', 'admin.sock') }).post<{ secret: string }>('/admin/authkeys', { reusable: true })).secret;
});
after(async () => {
  await coord.stop();
  await rm(dir, { recursive: true, force: true });
});

const registration = (nodeKey: string) => ({ nodeKey, discoKey: randomBytes(32).toString('hex'), hostname: 'router', authKey });

test('a node two hours behind registers with the mesh clock; with its own clock it is refused for skew', async () => {
  const id = await loadIdentity(join(dir, 'slow'));
  const slowLocal = () => Date.now() - 2 * HOUR;
  const url = `https://127.0.0.1:${coord.port}`;
  const trust = { fingerprint: tls.fingerprint };
  await assert.rejects(
    new CoordClient({ url, trust, machine: id.machine, wallClockMs: slowLocal }).register(registration(randomBytes(32).toString('hex'))),
    (e) => isConegateError(e) && e.context.coordCode === 'clock-skew',
  );
  const clock = new MeshClock(slowLocal);
  const r = await new CoordClient({ url, trust, machine: id.machine, clock }).register(registration(randomBytes(32).toString('hex')));
  assert.ok(r.self.id);
  assert.ok(Math.abs(clock.status().offsetMs - 2 * HOUR) < 2_000, `offset ${clock.status().offsetMs}`);
});

test('discovery between a node with a wrong clock and one with a right clock works once both use the mesh clock', () => {
  const keys = () => {
    const privateKey = generatePrivateKey();
    return { privateKey, publicKey: publicKey(privateKey) };
  };
  const a = keys();
  const b = keys();
  const slow = new MeshClock(() => Date.now() - 2 * HOUR);
  const ping = { type: 'ping' as const, txId: new Uint8Array(randomBytes(12)), nodeKey: 'c'.repeat(64) };
  const bSealer = new DiscoSealer(b.privateKey, b.publicKey, { randomBytes: (n) => new Uint8Array(randomBytes(n)), wallMs: Date.now });
  const open = (sealerOfA: DiscoSealer) => bSealer.open(sealerOfA.seal(Buffer.from(b.publicKey).toString('hex'), ping), () => true);
  const ownClock = new DiscoSealer(a.privateKey, a.publicKey, { randomBytes: (n) => new Uint8Array(randomBytes(n)), wallMs: () => Date.now() - 2 * HOUR });
  assert.throws(() => open(ownClock), /replay: stale/);
  // What the coordinator's answer teaches the slow node (its Date header is the right time).
  const sent = slow.monoMs();
  assert.equal(slow.observe(new Date().toUTCString(), sent, slow.monoMs()), true);
  const meshClock = new DiscoSealer(a.privateKey, a.publicKey, { randomBytes: (n) => new Uint8Array(randomBytes(n)), wallMs: () => slow.nowMs() });
  assert.equal(open(meshClock).message?.type, 'ping');
});
