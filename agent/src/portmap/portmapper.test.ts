import { test, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { FakeClock } from '../clock/clock.ts';
import { createLogger } from '../log/logger.ts';
import { FakeGateway } from '../../../test/fakes/gateway.ts';
import { Portmapper, type EndpointChange, type PortmapperOptions } from './portmapper.ts';
import type { Via } from './machine.ts';

const log = createLogger({ level: 'silent' });
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** Waits (bounded, in real time) for a condition that depends on sockets, not on the fake clock. */
async function until(cond: () => boolean, what: string, limitMs = 5000): Promise<void> {
  const deadline = performance.now() + limitMs;
  while (!cond()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

async function setup(order: Via[], gwOpts: Partial<ConstructorParameters<typeof Object>[0]> & { natpmp?: boolean; pcp?: boolean; upnp?: boolean; igdVersion?: 1 | 2 } = {}, extra: Partial<PortmapperOptions> = {}) {
  const clock = new FakeClock(1_000_000);
  const gw = await FakeGateway.start({ clock, ...gwOpts });
  cleanups.push(() => gw.close());
  let seed = 1;
  const pm = new Portmapper(
    {
      gateway: gw.address,
      order,
      want: { protocol: 'udp', internalPort: 51820, lifetimeSec: 120 },
      ports: { pmp: gw.ports().pmp, ssdp: gw.ports().ssdp },
      announce: { port: 0, group: false },
      timing: { renewAfterMs: 10_000 },
      ...extra,
    },
    { clock, log, random: () => ((seed = (seed * 16807) % 2147483647) / 2147483647), randomBytes: (n) => new Uint8Array(n).fill(7) },
  );
  cleanups.push(() => pm.stop());
  const changes: EndpointChange[] = [];
  pm.on('endpointChanged', (c) => changes.push(c));
  return { clock, gw, pm, changes };
}

test('portmapper: prefers PCP when the gateway speaks all three; stop() deletes and leaves no timer', async () => {
  const { clock, gw, pm, changes } = await setup(['pcp', 'natpmp', 'upnp']);
  await pm.start();
  await until(() => changes.length === 1, 'first endpoint');
  assert.deepEqual(changes[0], { endpoint: { address: '203.0.113.7', port: 51820, protocol: 'udp', via: 'pcp' }, reason: 'created' });
  assert.equal(gw.counters.pcpAnnounce, 1);
  assert.equal(gw.counters.pcpMap, 1);
  assert.deepEqual(gw.live().map((m) => [m.via, m.externalPort, m.lifetimeSec]), [['pcp', 51820, 120]]);
  await pm.stop();
  assert.equal(gw.counters.pcpUnmap, 1);
  assert.equal(gw.live().length, 0);
  assert.equal(clock.pendingTimers(), 0, 'stop() leaves nothing armed');
  assert.equal(pm.phase(), 'stopped');
});

test('portmapper: NAT-PMP renews at the configured interval with the same port', async () => {
  const { clock, gw, pm, changes } = await setup(['natpmp']);
  await pm.start();
  await until(() => changes.length === 1, 'mapping');
  assert.equal(gw.counters.natpmpMap, 1);
  clock.advance(10_000);
  await until(() => gw.counters.natpmpMap === 2, 'renewal');
  await until(() => pm.mapping()?.grantedAtMs === 1_010_000, 'renewal granted');
  assert.equal(changes.length, 1, 'an unchanged renewal reports nothing');
  assert.equal(pm.stats.renewals, 1);
});

test('portmapper: a gateway reboot announced on 5350 is re-mapped at once and reported', async () => {
  const { clock, gw, pm, changes } = await setup(['natpmp']);
  await pm.start();
  await until(() => changes.length === 1, 'mapping');
  clock.advance(5_000);
  gw.reset();
  assert.equal(gw.live().length, 0);
  await gw.announce(pm.announcePort()!);
  await until(() => changes.length === 2, 're-created endpoint');
  assert.equal(changes[1]!.reason, 'recreated');
  assert.equal(gw.counters.natpmpMap, 2);
  assert.equal(gw.live().length, 1);
  assert.equal(pm.stats.epochResets, 1);
});

test('portmapper: without an announcement, the reset is found at the next renewal (PCP epoch)', async () => {
  const { clock, gw, pm, changes } = await setup(['pcp'], {}, { announce: false });
  await pm.start();
  await until(() => changes.length === 1, 'mapping');
  clock.advance(9_000);
  gw.reset();
  clock.advance(1_000);
  await until(() => changes.length === 2, 'reset noticed at renewal');
  assert.equal(changes[1]!.reason, 'recreated');
  assert.equal(pm.stats.epochResets, 1);
  assert.equal(gw.live().length, 1);
});

test('portmapper: spoofed announcements from another address are ignored', async () => {
  // Both probed, so both epochs are known and a consistent announcement is a no-op.
  const { clock, gw, pm, changes } = await setup(['natpmp', 'pcp'], {}, { gateway: '127.0.0.1' });
  await pm.start();
  await until(() => changes.length === 1, 'mapping');
  clock.advance(5_000);
  // A LAN host (127.0.0.2 here) claims a reboot: nothing must happen.
  const { createSocket } = await import('node:dgram');
  const { encodePmpAnnouncement } = await import('../pmp/codec.ts');
  const s = createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.2', () => r()));
  await new Promise<void>((r) => s.send(encodePmpAnnouncement(0, Uint8Array.of(198, 51, 100, 1)), pm.announcePort()!, '127.0.0.1', () => r()));
  s.close();
  await gw.announce(pm.announcePort()!); // the genuine one, epoch consistent: also nothing
  await until(() => pm.stats.announcements >= 2, 'genuine announcements heard (NAT-PMP and PCP)');
  await new Promise((r) => setTimeout(r, 50)); // a wrongful re-map would be one loopback round trip away
  assert.equal(pm.stats.announcements, 2, 'the spoofed one was not counted');
  assert.equal(changes.length, 1);
  assert.equal(gw.counters.natpmpMap, 1);
});

test('portmapper: PCP missing (NAT-PMP-only gateway) falls back to NAT-PMP quickly', async () => {
  const { gw, pm, changes } = await setup(['pcp', 'natpmp'], { pcp: false });
  await pm.start();
  await until(() => changes.length === 1, 'mapping');
  assert.equal(changes[0]!.endpoint?.via, 'natpmp');
  assert.equal(gw.counters.pcpMap, 0);
});

test('portmapper: UPnP IGD v2 uses AddAnyPortMapping; stop() deletes it', async () => {
  const { clock, gw, pm, changes } = await setup(['upnp'], { igdVersion: 2 });
  await pm.start();
  await until(() => changes.length === 1, 'mapping');
  assert.equal(changes[0]!.endpoint?.via, 'upnp');
  assert.equal(gw.counters.soap.AddAnyPortMapping, 1);
  assert.equal(gw.counters.soap.AddPortMapping, undefined);
  assert.equal(gw.live()[0]!.internalAddress, '127.0.0.1');
  // Renewal updates the entry we hold with AddPortMapping rather than asking for any port again.
  clock.advance(10_000);
  await until(() => gw.counters.soap.AddPortMapping === 1, 'renewal');
  assert.equal(gw.counters.soap.AddAnyPortMapping, 1);
  assert.equal(gw.live().length, 1);
  await pm.stop();
  assert.equal(gw.counters.soap.DeletePortMapping, 1);
  assert.equal(gw.live().length, 0);
});

test('portmapper: UPnP IGD v1 uses AddPortMapping and renews it', async () => {
  const { clock, gw, pm, changes } = await setup(['upnp'], { igdVersion: 1 });
  await pm.start();
  await until(() => changes.length === 1, 'mapping');
  assert.equal(gw.counters.soap.AddPortMapping, 1);
  clock.advance(10_000);
  await until(() => gw.counters.soap.AddPortMapping === 2, 'renewal');
  assert.equal(gw.counters.ssdpSearch, 2, 'discovery is not repeated for a renewal (2 search targets, first send only)');
});

test('portmapper: nothing upstream -> waits, then maps once a service appears', async () => {
  const { clock, gw, pm, changes } = await setup(['pcp', 'natpmp'], { natpmp: false, pcp: false });
  const unavailable: unknown[] = [];
  pm.on('unavailable', (u) => unavailable.push(u));
  await pm.start();
  await until(() => gw.counters.dropped >= 2, 'probes sent');
  clock.advance(2_000); // probe budget runs out
  await until(() => pm.phase() === 'waiting', 'waiting');
  assert.deepEqual(unavailable, [{ retryInMs: 30_000 }]);
  gw.natpmp = true;
  clock.advance(30_000);
  await until(() => changes.length === 1, 'mapping after retry');
  assert.equal(changes[0]!.endpoint?.via, 'natpmp');
});

test('portmapper: the fake epoch is real: a renewal shortly after a reset is flagged, a normal one is not', async () => {
  const { clock, gw, pm } = await setup(['natpmp'], {}, { announce: false });
  const resets: unknown[] = [];
  pm.on('epochReset', (r) => resets.push(r));
  await pm.start();
  await once(pm, 'endpointChanged');
  clock.advance(10_000);
  await until(() => pm.stats.renewals === 1 && pm.mapping()?.grantedAtMs === 1_010_000, 'renewal');
  assert.equal(resets.length, 0);
  assert.equal(gw.epochSec(), 10);
});

test('portmapper: mapped with UPnP, a PCP announcement after a reboot re-creates the mapping at once', async () => {
  const { clock, gw, pm } = await setup(['upnp']);
  await pm.start();
  await once(pm, 'endpointChanged');
  clock.advance(3_000);
  gw.reset();
  gw.natpmp = false; // announce PCP only, as miniupnpd 2.3 does on start
  await gw.announce(pm.announcePort()!);
  await until(() => gw.live().length === 1, 'mapping re-created');
  assert.equal(gw.counters.soap.AddPortMapping, 1, 're-created on the port it had');
});

test('portmapper: UPnP v2 renewal whose port was taken after a reboot falls back to AddAnyPortMapping', async () => {
  const { clock, gw, pm, changes } = await setup(['upnp'], { igdVersion: 2 });
  await pm.start();
  await until(() => changes.length === 1, 'mapping');
  const port = changes[0]!.endpoint!.port;
  gw.reset();
  // Another LAN host grabbed our old external port meanwhile.
  gw.mappings.set(`udp:${port}`, { via: 'upnp', protocol: 'udp', internalAddress: '127.0.0.9', internalPort: 1, externalPort: port, lifetimeSec: 3600, expiresAtMs: Infinity });
  clock.advance(10_000);
  await until(() => changes.length === 2, 'new endpoint');
  assert.equal(changes[1]!.reason, 'changed');
  assert.notEqual(changes[1]!.endpoint!.port, port);
  assert.deepEqual([gw.counters.soap.AddPortMapping, gw.counters.soap.AddAnyPortMapping], [1, 2]);
});

test('portmapper: epoch() is the gateway\'s epoch for the mapping held, advancing with our clock; none for UPnP', async () => {
  const { clock, pm, changes } = await setup(['natpmp']);
  assert.equal(pm.epoch(), undefined, 'no mapping yet');
  await pm.start();
  await until(() => changes.length === 1, 'first endpoint');
  const first = pm.epoch();
  assert.equal(first?.via, 'natpmp');
  assert.ok(Number.isInteger(first.epochSec) && first.epochSec >= 0);
  clock.advance(30_000);
  assert.equal(pm.epoch()?.epochSec, first.epochSec + 30);

  const u = await setup(['upnp'], { igdVersion: 2 });
  await u.pm.start();
  await until(() => u.changes.length === 1, 'UPnP endpoint');
  assert.equal(u.pm.epoch(), undefined, 'UPnP has no epoch');
});
