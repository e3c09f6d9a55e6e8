import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeClock, realClock } from '../clock/clock.ts';
import { FakeGateway } from '../../../test/fakes/gateway.ts';
import { netcheckPortmapProbe, probePortmapServices } from './index.ts';

test('probe: a gateway speaking all three reports each, its address, epochs and the UPnP device', async () => {
  const gw = await FakeGateway.start({ clock: new FakeClock(5_000) });
  try {
    const r = await probePortmapServices({ gateway: gw.address, ports: gw.ports(), clock: new FakeClock() });
    assert.equal(r.gateway, '127.0.0.1');
    assert.deepEqual([r.pcp, r.natpmp, r.upnp], [true, true, true]);
    assert.equal(r.externalAddress, '203.0.113.7');
    assert.equal(r.natpmpEpochSec, 0);
    assert.equal(r.pcpEpochSec, 0);
    assert.equal(r.upnpDevice?.serviceType, 'urn:schemas-upnp-org:service:WANIPConnection:2');
    assert.equal(r.localAddress, '127.0.0.1');
    assert.deepEqual(r.errors, {});
    assert.deepEqual([gw.counters.pcpAnnounce, gw.counters.natpmpPublicAddress, gw.counters.httpDescription, gw.counters.soap.GetExternalIPAddress], [1, 1, 1, 1]);
    assert.equal(gw.live().length, 0, 'probing maps nothing');
  } finally {
    await gw.close();
  }
});

test('probe: absent services are false with a reason, within the budget', async () => {
  const gw = await FakeGateway.start({ clock: realClock, upnp: false, pcp: false });
  try {
    const r = await probePortmapServices({ gateway: gw.address, ports: gw.ports(), timeoutMs: 300 });
    assert.deepEqual([r.pcp, r.natpmp, r.upnp], [false, true, false]);
    assert.match(r.errors.pcp!, /only NAT-PMP/);
    assert.match(r.errors.upnp!, /no UPnP IGD/);
    assert.ok(r.durationMs < 5000);
  } finally {
    await gw.close();
  }
});

test('probe: the netcheck adapter reports services, the gateway and why the absent ones are absent', async () => {
  const gw = await FakeGateway.start({ clock: realClock, pcp: false });
  try {
    const r = await netcheckPortmapProbe({ gateway: gw.address, ports: gw.ports(), timeoutMs: 300 }).probe(new AbortController().signal);
    assert.deepEqual({ ...r, note: undefined }, { upnp: true, natpmp: true, pcp: false, gateway: '127.0.0.1', externalAddress: '203.0.113.7', note: undefined });
    assert.match(r.note!, /^pcp: /);
  } finally {
    await gw.close();
  }
});

test('probe: the netcheck adapter settles soon after abort and never rejects', async () => {
  const ac = new AbortController();
  // A gateway that never answers (a bound, silent socket): only the abort ends the probe early.
  const { createSocket } = await import('node:dgram');
  const silent = createSocket('udp4');
  await new Promise<void>((r) => silent.bind(0, '127.0.0.1', () => r()));
  try {
    const p = netcheckPortmapProbe({ gateway: '127.0.0.1', ports: { pmp: silent.address().port, ssdp: silent.address().port }, timeoutMs: 30_000, protocols: ['natpmp', 'upnp'] }).probe(ac.signal);
    ac.abort();
    const r = await p;
    assert.deepEqual([r.natpmp, r.upnp], [false, false]);
  } finally {
    silent.close();
  }
});
