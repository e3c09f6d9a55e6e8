// Topology features of the lab: hairpinning on/off, double NAT, CGNAT, the UDP-blocking firewall and
// routed dual-stack IPv6, all on one shared lab.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createLab, type Lab } from './lab.ts';
import { execProbe, listenBehindNat, probeClient, sendUdp, spawnProbe, startReflector } from './measure.ts';

const hostOf = (ep: string | null | undefined) => ep?.slice(0, ep.lastIndexOf(':'));

describe('lab topology features', () => {
  let lab: Lab;
  let refl: string;

  before(async () => {
    lab = await createLab({
      sites: [
        { name: 'hp', nat: { mapping: 'eim', filtering: 'eif', hairpin: true }, hosts: ['h1', 'h2'] },
        { name: 'nohp', nat: { mapping: 'eim', filtering: 'eif', hairpin: false }, hosts: ['h1', 'h2'] },
        { name: 'dbl', nat: 'port-restricted', uplink: 'home' },
        { name: 'cg', nat: 'port-restricted', uplink: 'cgn' },
        { name: 'cg2', nat: 'port-restricted', uplink: 'cgn' },
        { name: 'corp', nat: 'port-restricted', firewall: 'udp-blocked' },
        { name: 'v6', nat: 'symmetric', ipv6: true },
        { name: 'v6open', nat: 'symmetric', ipv6: true, ipv6Inbound: 'open' },
      ],
      isps: [
        { name: 'home', nat: 'port-restricted', inside: 'private' },
        { name: 'cgn', nat: 'symmetric', inside: 'cgnat' },
      ],
      servers: ['s1', 's2'],
    });
    refl = `${lab.addr('s1')}:3478`;
    await startReflector(lab, 's1', { ipv6: true });
  });
  after(() => lab?.destroy());

  for (const [site, on] of [['hp', true], ['nohp', false]] as const) {
    it(`hairpin ${on ? 'on' : 'off'}: a LAN host ${on ? 'reaches' : 'cannot reach'} another through the router's external address`, async () => {
      const l = await listenBehindNat(lab, `${site}.h1`, refl);
      assert.equal(hostOf(l.external), lab.addr(`${site}.router`));
      await sendUdp(lab, `${site}.h2`, l.external, { port: 4100 });
      const got = await l.arrivals();
      if (on) assert.deepEqual(got, [`${lab.addr(`${site}.router`)}:4100`, `${lab.addr(`${site}.router`)}:4100`, `${lab.addr(`${site}.router`)}:4100`], 'h1 sees h2 by its external endpoint (RFC 4787 REQ-9)');
      else assert.deepEqual(got, []);
    });
  }

  it('double NAT: the router WAN is a private address; the internet sees the outer router', async () => {
    const wan = lab.node('dbl.router').wan!.v4!;
    assert.match(wan, /^192\.168\./);
    assert.equal(lab.publicAddr('dbl.h1'), lab.addr('home'));
    const r = await probeClient(lab, 'dbl.h1', [refl]);
    assert.equal(hostOf(r.results[0]?.seen), lab.addr('home'));
  });

  it('CGNAT: two customers share 100.64.0.0/10 inside and the carrier address outside', async () => {
    for (const site of ['cg', 'cg2']) assert.match(lab.node(`${site}.router`).wan!.v4!, /^100\.(6[4-9]|[7-9]\d|1[01]\d|12[0-7])\./);
    assert.notEqual(lab.node('cg.router').wan!.v4, lab.node('cg2.router').wan!.v4);
    const [a, b] = await Promise.all([probeClient(lab, 'cg.h1', [refl]), probeClient(lab, 'cg2.h1', [refl])]);
    assert.equal(hostOf(a.results[0]?.seen), lab.addr('cgn'));
    assert.equal(hostOf(b.results[0]?.seen), lab.addr('cgn'));
  });

  it('udp-blocked firewall: UDP is dropped, TCP 443 passes, TCP 80 does not', async () => {
    const s443 = await spawnProbe(lab, 's2', ['tcp-serve', '--bind', `${lab.addr('s2')}:443`]);
    const s80 = await spawnProbe(lab, 's2', ['tcp-serve', '--bind', `${lab.addr('s2')}:80`]);
    await Promise.all([s443.waitForOutput(/ready/, 30_000), s80.waitForOutput(/ready/, 30_000)]);
    const [udp, t443, t80, control] = await Promise.all([
      probeClient(lab, 'corp.h1', [refl], { timeoutMs: 1000 }),
      execProbe(lab, 'corp.h1', ['tcp-connect', '--to', `${lab.addr('s2')}:443`, '--timeout-ms', '10000']),
      execProbe(lab, 'corp.h1', ['tcp-connect', '--to', `${lab.addr('s2')}:80`, '--timeout-ms', '1000']),
      execProbe(lab, 'hp.h1', ['tcp-connect', '--to', `${lab.addr('s2')}:80`, '--timeout-ms', '10000']),
    ]);
    assert.equal(udp.results[0]?.seen, null, 'UDP answered through the firewall');
    assert.equal(t443.code, 0, t443.stdout);
    assert.match(t443.stdout, new RegExp(`hello ${lab.addr('corp.router').replace(/\./g, '\\.')}:`));
    assert.equal(t80.code, 1, `TCP 80 passed: ${t80.stdout}`);
    assert.equal(control.code, 0, 'TCP 80 works from a site without the firewall');
    await Promise.all([s443.stop(), s80.stop()]);
  });

  it('IPv6: routed without NAT66, ICMPv6 both ways, unsolicited UDP inbound dropped by the stateful router', async () => {
    const h6 = lab.addr6('v6.h1');
    assert.match(h6, /^2001:db8:/);
    const ping = await lab.exec('v6.h1', ['ping', '-6', '-c1', '-W2', lab.addr6('s1')]);
    assert.equal(ping.code, 0, ping.stdout + ping.stderr);
    const pingIn = await lab.exec('s1', ['ping', '-6', '-c1', '-W2', h6]);
    assert.equal(pingIn.code, 0, 'ICMPv6 echo inbound is allowed');
    const r = await probeClient(lab, 'v6.h1', [`[${lab.addr6('s1')}]:3478`]);
    assert.equal(hostOf(r.results[0]?.seen), `[${h6}]`, 'the server sees the host address itself');
    const l = await spawnProbe(lab, 'v6.h1', ['listen', '--bind', h6, '--port', '4200', '--timeout-ms', '20000']);
    await l.waitForOutput(/ready/, 30_000);
    await sendUdp(lab, 's1', `[${h6}]:4200`, { port: 4201 });
    // The listener has no reflector to fence with; send it a LAN packet (allowed) and stop on it.
    await sendUdp(lab, 'v6.router', `[${h6}]:4200`, { count: 1 });
    await l.waitForOutput(/"event":"recv"/, 30_000);
    await l.stop();
    assert.doesNotMatch(l.stdout, new RegExp(`"from":"\\[${lab.addr6('s1')}\\]:4201"`), 'unsolicited inbound UDP reached the host');
    assert.equal(lab.node('hp.h1').addr6, undefined, 'sites without ipv6 are IPv4-only');
  });

  it('IPv6 with ipv6Inbound "open": unsolicited UDP from the internet reaches the host', async () => {
    const h6 = lab.addr6('v6open.h1');
    const l = await spawnProbe(lab, 'v6open.h1', ['listen', '--bind', h6, '--port', '4300', '--count', '1', '--timeout-ms', '20000']);
    await l.waitForOutput(/ready/, 30_000);
    await sendUdp(lab, 's1', `[${h6}]:4300`, { port: 4301, count: 1 });
    await l.waitForOutput(new RegExp(`"from":"\\[${lab.addr6('s1')}\\]:4301"`), 30_000);
    await l.done;
  });
});
