// Each NAT type the lab declares behaves as RFC 4787 defines it, measured from inside the site:
// mapping from one socket to two ports of one server, its other address and a second server;
// filtering with unsolicited packets from the server's other port, its other address and a third host.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createLab, type Lab } from './lab.ts';
import { listenBehindNat, measureNat, sendUdp, startReflector, type NatMeasurement } from './measure.ts';
import type { FilteringType, MappingType } from './spec.ts';

const CASES: Array<{ site: string; mapping: MappingType; filtering: FilteringType }> = [
  { site: 'eimeif', mapping: 'eim', filtering: 'eif' },
  { site: 'eimadf', mapping: 'eim', filtering: 'adf' },
  { site: 'eimapdf', mapping: 'eim', filtering: 'apdf' },
  { site: 'admadf', mapping: 'adm', filtering: 'adf' },
  { site: 'apdmapdf', mapping: 'apdm', filtering: 'apdf' },
  { site: 'apdmeif', mapping: 'apdm', filtering: 'eif' },
];

const port = (ep: string | null | undefined) => ep?.slice(ep.lastIndexOf(':') + 1);

describe('lab NAT types (RFC 4787 mapping and filtering)', () => {
  let lab: Lab;
  const measured = new Map<string, NatMeasurement>();
  const arrivals = new Map<string, string[]>();

  before(async () => {
    lab = await createLab({
      sites: [...CASES.map((c) => ({ name: c.site, nat: { mapping: c.mapping, filtering: c.filtering } })), { name: 'override', nat: 'symmetric' as const }],
      servers: ['s1', 's2', 's3'],
    });
    await Promise.all([startReflector(lab, 's1'), startReflector(lab, 's2')]);
    // Another table's nat chain with a lower priority than the lab's wins: how a backend under test
    // (conegate's nftables rules) takes over a router that starts as symmetric.
    await lab.nftApply('override.router', 'table ip other {\n  chain post { type nat hook postrouting priority srcnat - 10; policy accept; oifname "wan0" masquerade; }\n}\n');
    await Promise.all([
      measureNat(lab, 'override.h1', 's1', 's2').then((m) => measured.set('override', m)),
      ...CASES.map(async (c, i) => {
        // Distinct source ports per case: the cases run in parallel from the same servers.
        const [p1, p2, p3] = [4001 + 10 * i, 4002 + 10 * i, 4003 + 10 * i];
        const host = `${c.site}.h1`;
        measured.set(c.site, await measureNat(lab, host, 's1', 's2'));
        // Unsolicited senders, after the host opened a mapping toward s1:3478 only.
        const l = await listenBehindNat(lab, host, `${lab.addr('s1')}:3478`);
        await Promise.all([
          sendUdp(lab, 's1', l.external, { bind: lab.addr('s1'), port: p1 }),
          sendUdp(lab, 's1', l.external, { bind: lab.addr('s1', { alt: true }), port: p2 }),
          sendUdp(lab, 's3', l.external, { bind: lab.addr('s3'), port: p3 }),
        ]);
        arrivals.set(c.site, (await l.arrivals()).map((from) => from.replace(/:\d+$/, (m) => ({ [`:${p1}`]: ':other-port', [`:${p2}`]: ':other-addr', [`:${p3}`]: ':third-host' })[m] ?? m)));
      }),
    ]);
  });
  after(() => lab?.destroy());

  it('a lower-priority nat chain in another table overrides the lab mapping (masquerade: eim)', () => {
    assert.equal(measured.get('override')!.mapping, 'eim', JSON.stringify(measured.get('override')));
  });

  for (const c of CASES) {
    it(`${c.site}: mapping is ${c.mapping}`, () => {
      const m = measured.get(c.site)!;
      const [samePortOther, sameAddrOtherPort, otherAddr, otherServer] = m.seen.map((s) => port(s.seen));
      assert.ok(m.seen.every((s) => s.seen !== null), `all reflectors answered: ${JSON.stringify(m.seen)}`);
      assert.ok(m.seen.every((s) => s.seen!.startsWith(`${lab.publicAddr(`${c.site}.h1`)}:`)), 'seen from the router WAN address');
      if (c.mapping === 'eim') {
        assert.deepEqual([sameAddrOtherPort, otherAddr, otherServer], [samePortOther, samePortOther, samePortOther], JSON.stringify(m.seen));
      } else if (c.mapping === 'adm') {
        assert.equal(sameAddrOtherPort, samePortOther, 'same remote address, other port: same mapping');
        assert.notEqual(otherAddr, samePortOther, 'other remote address: new mapping');
        assert.notEqual(otherServer, samePortOther, 'other server: new mapping');
        assert.notEqual(otherServer, otherAddr);
      } else {
        assert.equal(new Set([samePortOther, sameAddrOtherPort, otherAddr, otherServer]).size, 4, `four destinations, four ports: ${JSON.stringify(m.seen)}`);
      }
      assert.equal(m.mapping, c.mapping);
    });

    it(`${c.site}: filtering is ${c.filtering}`, () => {
      const m = measured.get(c.site)!;
      assert.equal(m.filtering, c.filtering, JSON.stringify(m));
      const got = new Set(arrivals.get(c.site));
      const fromOtherPort = got.has(`${lab.addr('s1')}:other-port`);
      const fromOtherAddr = got.has(`${lab.addr('s1', { alt: true })}:other-addr`);
      const fromThirdHost = got.has(`${lab.addr('s3')}:third-host`);
      const expected = { eif: [true, true, true], adf: [true, false, false], apdf: [false, false, false] }[c.filtering];
      assert.deepEqual([fromOtherPort, fromOtherAddr, fromThirdHost], expected, `arrivals: ${[...got].join(', ') || 'none'}`);
    });
  }
});
