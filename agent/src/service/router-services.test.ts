import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ipsFindingComponent, pmpComponent, MESH_EPOCH_CHECK_SEC, meshPortmapConfig, ownNatPorts, wanFingerprint } from './router-services.ts';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FakeClock, realClock } from '../clock/clock.ts';
import { silentLogger } from '../log/logger.ts';
import { policyFrom } from '../fw/nat/session.ts';
import { generateNft } from '../../../pf-rules/src/nft/generate.ts';
import { validateConfig } from '../config/load.ts';

const lo = [{ address: '127.0.0.1', internal: true }];
const ifs = (wanAddr: string) => ({ lo, wan0: [{ address: wanAddr, internal: false }], lan0: [{ address: '10.1.0.1', internal: false }], cg0: [{ address: '100.64.0.7', internal: false }] });

test('wanFingerprint: the named WAN interfaces only', () => {
  assert.equal(wanFingerprint(ifs('192.0.2.10'), ['wan0']), 'wan0=192.0.2.10');
  assert.notEqual(wanFingerprint(ifs('192.0.2.10'), ['wan0']), wanFingerprint(ifs('192.0.2.11'), ['wan0']));
  assert.equal(wanFingerprint(ifs('192.0.2.10'), ['wan9']), 'wan9=');
});

test('wanFingerprint: nat.wan empty ("every WAN") still sees a WAN address change, and ignores loopback and the mesh TUN', () => {
  const a = wanFingerprint(ifs('192.0.2.10'), [], ['cg0']);
  assert.equal(a, 'lan0=10.1.0.1;wan0=192.0.2.10');
  assert.notEqual(a, wanFingerprint(ifs('192.0.2.11'), [], ['cg0']));
  const tunChanged = { ...ifs('192.0.2.10'), cg0: [{ address: '100.64.0.8', internal: false }] };
  assert.equal(wanFingerprint(tunChanged, [], ['cg0']), a);
});

test('the mesh port mapping is renewed (its epoch checked) at least once a minute: a missed reboot announcement costs at most that', () => {
  const pm = validateConfig({}).portmap;
  assert.equal(pm.renewAfterSec, undefined, 'the default would renew only at half the 2 h lifetime');
  assert.equal(meshPortmapConfig(pm).renewAfterSec, MESH_EPOCH_CHECK_SEC);
  assert.equal(meshPortmapConfig({ ...pm, renewAfterSec: 5 }).renewAfterSec, 5, 'a shorter configured interval stays');
  assert.equal(meshPortmapConfig({ ...pm, renewAfterSec: 3600 }).renewAfterSec, MESH_EPOCH_CHECK_SEC);
});

test('a router that is a mesh node: its NAT rules cover its own mesh socket, not only the LAN sources', () => {
  const c = validateConfig({ mesh: { enabled: true, coordinator: 'https://192.0.2.1' }, wg: { listenPort: 41641 }, nat: { enabled: true, backend: 'nftables', wan: ['wan0'], scope: { sources: ['10.1.0.0/24'] } } });
  assert.deepEqual(ownNatPorts(c), [41641]);
  assert.deepEqual(ownNatPorts({ ...c, mesh: { ...c.mesh, enabled: false } }), []);
  assert.deepEqual(ownNatPorts({ ...c, wg: { ...c.wg, listenPort: 0 } }), [], 'a port picked at start is not known to the rules');
  const policy = policyFrom(c.nat, { ownPorts: ownNatPorts(c) });
  const rules = generateNft({ wans: [{ ifname: 'wan0' }], sources: policy.scope.sources, ports: policy.scope.ports, ...(policy.ownPorts ? { ownPorts: policy.ownPorts } : {}) }).rules.map((r) => r.line);
  assert.ok(rules.includes('oifname "wan0" fib saddr type local udp sport 41641 masquerade'), rules.join('\n'));
});

test('on an appliance whose IPS drops WireGuard, the finding (rule and fix) goes to the mesh for its reasons', async () => {
  const root = new URL('../../../test/fixtures/ips/opnsense-inline/', import.meta.url).pathname;
  const c = validateConfig({ ips: { root } });
  const clock = new FakeClock(0);
  let got: string | undefined | null = null;
  let resolve: () => void = () => undefined;
  const done = new Promise<void>((r) => (resolve = r));
  const comp = ipsFindingComponent(c, { clock, log: silentLogger(), stateDir: '/nonexistent', onFinding: (t) => ((got = t), resolve()) });
  await comp.start();
  await done;
  await comp.stop();
  assert.match(String(got), /suricata rule 1000001 "LOCAL WireGuard handshake initiation" \(blocks WireGuard, inline\)/);
  assert.deepEqual(comp.status?.(), { checked: true, wireguard: got });
});

test('pmp status says whether the NAT-PMP/PCP server is serving (its sockets bound): the fleet health gate reads it', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'cg-pmp-status-'));
  const c = validateConfig({ pmp: { enabled: true, lan: ['127.0.0.1/8'], wan: '203.0.113.1', backend: 'memory', stateFile: join(dir, 'pmp.json') } });
  const comp = pmpComponent(c, { clock: realClock, log: silentLogger(), stateDir: dir, port: 0 });
  try {
    assert.deepEqual(comp.status?.(), { mappings: 0, serving: false });
    await comp.start();
    assert.deepEqual(comp.status?.(), { mappings: 0, serving: true });
    await comp.stop();
    assert.deepEqual(comp.status?.(), { mappings: 0, serving: false });
  } finally {
    await comp.stop();
    await rm(dir, { recursive: true, force: true });
  }
});
