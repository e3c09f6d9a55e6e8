import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeClock } from '../clock/clock.ts';
import { MemoryNetwork } from '../stun/memory-bind.ts';
import { StunServer } from '../stun/server.ts';
import { natModel, type Behaviour } from '../../../test/fakes/nat-model.ts';
import { observe, type NetcheckDeps } from './run.ts';
import { buildReport } from './classify.ts';
import { notProbedPortmap, type PortmapProbe } from './portmap-probe.ts';
import type { NetcheckReport } from './types.ts';

const HOST = '10.0.0.2';
const HOST6 = '2001:db8:1::2';
const PUBLIC = '198.51.100.7';

/** Runs a promise to completion on a FakeClock: lets deliveries settle, then moves time in small steps. */
async function drive<T>(clock: FakeClock, p: Promise<T>): Promise<T> {
  let done = false;
  const out = p.finally(() => (done = true));
  for (let i = 0; i < 10000 && !done; i++) {
    for (let k = 0; k < 20; k++) await Promise.resolve();
    if (!done) clock.advance(10);
  }
  return out;
}

interface Setup {
  mapping: Behaviour;
  filtering: Behaviour;
  hairpin?: boolean;
  blockUdp?: boolean;
  noNat?: boolean;
  v6?: boolean;
  rfc5780?: boolean;
  servers?: string[];
  portmap?: PortmapProbe;
  platform?: 'linux' | 'opnsense' | 'unknown';
}

async function netcheck(s: Setup): Promise<{ report: NetcheckReport; pendingTimers: number }> {
  const nat = natModel({ inside: [HOST], publicAddress: PUBLIC, mapping: s.mapping, filtering: s.filtering, hairpin: s.hairpin ?? false, ...(s.blockUdp ? { blockUdp: true } : {}) });
  const net = new MemoryNetwork(s.noNat ? undefined : nat.middlebox);
  const groups = [{ primary: { address: '203.0.113.1', port: 3478 }, ...(s.rfc5780 === false ? {} : { other: { address: '203.0.113.2', port: 3479 } }) }];
  if (s.v6) groups.push({ primary: { address: '2001:db8::1', port: 3478 } });
  // Extra plain servers named in s.servers (beyond the first) get their own group.
  for (const label of (s.servers ?? []).slice(1)) {
    const [address, port] = label.split(':');
    groups.push({ primary: { address: address!, port: Number(port) } });
  }
  const server = new StunServer(groups, { openBind: async (a, p) => net.bind(a, p) });
  await server.start();
  const clock = new FakeClock();
  let n = 0;
  const deps: NetcheckDeps = {
    clock,
    randomBytes: (len) => Uint8Array.from({ length: len }, (_, i) => (i === len - 1 ? ++n : 7)),
    openBind: async (f) => net.bind(f === 4 ? HOST : HOST6),
    resolve: async (host, port) => [{ address: host, port }],
    portmap: s.portmap ?? notProbedPortmap,
    localAddresses: () => [HOST, HOST6],
  };
  const servers = s.servers ?? ['203.0.113.1:3478', ...(s.v6 ? ['[2001:db8::1]:3478'] : [])];
  const obs = await drive(clock, observe({ servers, timeoutMs: 1000 }, deps));
  await server.stop();
  return { report: buildReport(obs, { kind: s.platform ?? 'linux', name: 'test' }), pendingTimers: clock.pendingTimers() };
}

const BEHAVIOURS: Behaviour[] = ['endpoint-independent', 'address-dependent', 'address-and-port-dependent'];

for (const mapping of BEHAVIOURS) {
  for (const filtering of BEHAVIOURS) {
    test(`NAT model: mapping ${mapping}, filtering ${filtering} is classified exactly`, async () => {
      const { report, pendingTimers } = await netcheck({ mapping, filtering });
      assert.equal(report.udp, true);
      assert.equal(report.ipv4.nat, true);
      assert.equal(report.ipv4.mapping, mapping);
      assert.equal(report.ipv4.filtering, filtering);
      assert.equal(report.ipv4.publicEndpoint?.startsWith(`${PUBLIC}:`), true);
      assert.equal(report.verdict.level, mapping === 'endpoint-independent' ? 'easy' : 'hard');
      assert.equal(pendingTimers, 0);
    });
  }
}

test('hairpinning reported on and off (endpoint-independent NAT)', async () => {
  const on = await netcheck({ mapping: 'endpoint-independent', filtering: 'address-and-port-dependent', hairpin: true });
  const off = await netcheck({ mapping: 'endpoint-independent', filtering: 'address-and-port-dependent', hairpin: false });
  assert.equal(on.report.ipv4.hairpinning, true);
  assert.equal(off.report.ipv4.hairpinning, false);
  assert.ok(off.report.verdict.fixes.some((f) => f.includes('hairpinning is off')));
});

test('UDP blocked: no answer, verdict says so', async () => {
  const { report } = await netcheck({ mapping: 'endpoint-independent', filtering: 'endpoint-independent', blockUdp: true });
  assert.equal(report.udp, false);
  assert.equal(report.ipv4.works, false);
  assert.equal(report.verdict.level, 'blocked');
  assert.equal(report.nearestServer, null);
});

test('no NAT, dual stack: IPv6 works, mapping trivially endpoint-independent', async () => {
  const { report } = await netcheck({ mapping: 'endpoint-independent', filtering: 'endpoint-independent', noNat: true, v6: true });
  assert.equal(report.ipv4.nat, false);
  assert.equal(report.ipv6.works, true);
  assert.equal(report.ipv6.nat, false);
  assert.equal(report.ipv6.publicEndpoint?.startsWith(`[${HOST6}]:`), true);
  assert.match(report.verdict.summary, /no NAT.*IPv6 works too/);
  assert.equal(report.servers.length, 2);
  assert.ok(report.servers.every((s) => s.rttMs !== null));
});

test('a server without RFC 5780 and no second server: mapping and filtering unknown, verdict unknown', async () => {
  const { report } = await netcheck({ mapping: 'address-and-port-dependent', filtering: 'address-and-port-dependent', rfc5780: false });
  assert.equal(report.ipv4.mapping, 'unknown');
  assert.equal(report.ipv4.filtering, 'unknown');
  assert.equal(report.verdict.level, 'unknown');
  assert.equal(report.servers[0]!.rfc5780, false);
});

test('two plain servers on different addresses still tell easy from hard', async () => {
  const servers = ['203.0.113.1:3478', '203.0.113.2:3479'];
  const easy = await netcheck({ mapping: 'endpoint-independent', filtering: 'address-dependent', rfc5780: false, servers });
  assert.equal(easy.report.ipv4.mapping, 'endpoint-independent');
  const hard = await netcheck({ mapping: 'address-dependent', filtering: 'address-dependent', rfc5780: false, servers });
  assert.equal(hard.report.ipv4.mapping, 'dependent');
  assert.equal(hard.report.verdict.level, 'hard');
});

test('hard NAT on OPNsense with NAT-PMP upstream: fixes name the port mapping and conegate pf apply', async () => {
  const portmap: PortmapProbe = { probe: async () => ({ upnp: false, natpmp: true, pcp: true, gateway: '192.168.1.1' }) };
  const { report } = await netcheck({ mapping: 'address-and-port-dependent', filtering: 'address-and-port-dependent', portmap, platform: 'opnsense' });
  assert.deepEqual(report.portMapping, { probed: true, upnp: false, natpmp: true, pcp: true, gateway: '192.168.1.1', externalAddress: null, note: null });
  assert.ok(report.verdict.fixes.some((f) => f.includes('PCP, NAT-PMP') && f.includes('192.168.1.1')));
  assert.ok(report.verdict.fixes.some((f) => f.includes('conegate pf apply')));
  assert.match(report.verdict.applianceFix ?? '', /conegate pf apply/);
});

test('a port-mapping probe that hangs is cut at the budget and reported', async () => {
  const hang: PortmapProbe = { probe: (signal) => new Promise((_, reject) => signal.addEventListener('abort', () => reject(new Error('aborted')))) };
  const { report, pendingTimers } = await netcheck({ mapping: 'endpoint-independent', filtering: 'endpoint-independent', portmap: hang });
  assert.equal(report.portMapping.probed, false);
  assert.match(report.portMapping.note ?? '', /timed out|aborted/);
  assert.equal(pendingTimers, 0);
});
