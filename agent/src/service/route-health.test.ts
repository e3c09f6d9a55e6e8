// The subnet router's health probe: targets parsed against the advertised routes, failures counted per
// prefix, reports on change only, and the TCP probe's idea of "answered" on loopback.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { FakeClock } from '../clock/clock.ts';
import { ConegateError } from '../errors.ts';
import { silentLogger } from '../log/logger.ts';
import { HealthTracker, parseTargets, RouteHealth, tcpProbe } from './route-health.ts';

const ROUTES = ['10.2.0.0/24', 'fd00:b::/64'];

test('targets: "ip" (port 80), "ip:port", "[ipv6]:port", each in an advertised route; anything else is a config error', () => {
  assert.deepEqual(parseTargets(['10.2.0.10', '10.2.0.1:22', '[fd00:b::10]:443'], ROUTES), [
    { cidr: '10.2.0.0/24', host: '10.2.0.10', port: 80 },
    { cidr: '10.2.0.0/24', host: '10.2.0.1', port: 22 },
    { cidr: 'fd00:b::/64', host: 'fd00:b::10', port: 443 },
  ]);
  for (const bad of ['10.3.0.1', 'gateway.lan', '10.2.0.1:0', '10.2.0.1:70000', '[fd00:c::1]:80', '']) {
    assert.throws(() => parseTargets([bad], ROUTES), (e: unknown) => e instanceof ConegateError && e.code === 'CG_CONFIG_INVALID', bad);
  }
});

test('tracker: unhealthy after N rounds in a row without an answer from any target of the prefix; healthy at the first answer', () => {
  const t = new HealthTracker(2);
  const r = (ok: boolean) => t.round(new Map([['10.2.0.0/24', ok], ['fd00:b::/64', true]]));
  assert.deepEqual(r(false), []);
  assert.deepEqual(r(false), ['10.2.0.0/24']);
  assert.deepEqual(r(false), ['10.2.0.0/24']);
  assert.deepEqual(r(true), []);
  assert.deepEqual(r(false), [], 'the count starts again');
});

test('RouteHealth: one probe per target per interval; the unhealthy set is reported when it changes (and once at start)', async () => {
  const clock = new FakeClock(0);
  let lanUp = true;
  const probes: string[] = [];
  const reports: string[][] = [];
  const h = new RouteHealth(
    { targets: ['10.2.0.10', '10.2.0.1:22'], intervalMs: 1000, timeoutMs: 500, failures: 2 },
    { clock, log: silentLogger(), advertised: () => ROUTES, report: (u) => reports.push(u), probe: async (host, port) => (probes.push(`${host}:${port}`), lanUp) },
  );
  const settle = async () => {
    for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
  };
  const step = async (ms: number) => {
    clock.advance(ms);
    await settle();
  };
  await h.start();
  await step(0);
  assert.deepEqual(reports, [[]], 'the first round tells the coordinator all is well');
  assert.deepEqual(probes, ['10.2.0.10:80', '10.2.0.1:22']);
  await step(1000);
  assert.equal(probes.length, 4);
  lanUp = false;
  await step(1000);
  assert.deepEqual(reports, [[]], 'one failed round is not enough');
  await step(1000);
  assert.deepEqual(reports, [[], ['10.2.0.0/24']]);
  assert.deepEqual(h.status().unhealthy, ['10.2.0.0/24']);
  await step(1000);
  assert.equal(reports.length, 2, 'no repeat while nothing changes');
  lanUp = true;
  await step(1000);
  assert.deepEqual(reports.at(-1), []);
  await h.stop();
  await step(5000);
  assert.equal(probes.length, 12, 'nothing after stop');
  assert.equal(clock.pendingTimers(), 0);
});

test('RouteHealth: a target outside the advertised routes refuses to start', async () => {
  const h = new RouteHealth({ targets: ['192.168.7.1'], intervalMs: 1000, timeoutMs: 500, failures: 2 }, { clock: new FakeClock(0), log: silentLogger(), advertised: () => ROUTES, report: () => undefined });
  await assert.rejects(async () => h.start(), (e: unknown) => e instanceof ConegateError && e.code === 'CG_CONFIG_INVALID');
});

test('tcpProbe: an accepting port and a refusing one (the host answered) count; the socket is closed either way', async () => {
  const srv = createServer((s) => s.destroy());
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as { port: number }).port;
  assert.equal(await tcpProbe('127.0.0.1', port, 1000), true);
  await new Promise<void>((r) => srv.close(() => r()));
  assert.equal(await tcpProbe('127.0.0.1', port, 1000), true, 'refused = the host is there');
});
