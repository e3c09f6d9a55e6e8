import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { access, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pkg from '../../../package.json' with { type: 'json' };
import { realClock } from '../clock/clock.ts';
import { validateConfig } from '../config/load.ts';
import { isConegateError } from '../errors.ts';
import { silentLogger } from '../log/logger.ts';
import { waitFor } from '../node/testkit-net.ts';
import { MemoryTun } from '../wg/memory-tun.ts';
import { CoordTwin } from '../../../test/fakes/coordinator.ts';
import { selfSignedCert } from '../../../test/fakes/tls-cert.ts';
import { Agent, type AgentOptions } from './agent.ts';
import { MemoryForwarding } from '../fw/forwarding.ts';
import { MemorySubnetFirewall } from '../fw/subnet-firewall.ts';
import { controlRequest } from './control-client.ts';
import type { MeshStatus } from './mesh-status.ts';

let twin: CoordTwin;
let dir: string;
let fingerprint: string;
before(async () => {
  const cert = await selfSignedCert();
  fingerprint = cert.fingerprint;
  twin = new CoordTwin({ cert: cert.cert, key: cert.key, authKeys: ['k1'] });
  await twin.up();
  dir = await mkdtemp(join(tmpdir(), 'cg-agent-'));
});
after(async () => {
  await twin.down();
  await rm(dir, { recursive: true, force: true });
});

function agent(name: string, mesh: Record<string, unknown> = {}, authKey = 'k1', subnetDeps?: AgentOptions['subnetDeps']): Agent {
  const stateDir = join(dir, name);
  const config = validateConfig({ wg: { listenPort: 0 }, portmap: { enabled: false }, mesh: { enabled: true, coordinator: twin.url, coordinatorFingerprint: fingerprint, hostname: name, stateDir, ...mesh } });
  return new Agent({
    config,
    stateDir,
    controlSocket: join(stateDir, 'conegate.sock'),
    authKey,
    log: silentLogger(),
    clock: realClock,
    ...(subnetDeps ? { subnetDeps } : {}),
    meshDeps: { openTun: () => new MemoryTun(`m-${name}`), skipIfconfig: true, includeLoopback: true, interfaces: () => ({ lo: [{ address: '127.0.0.1', family: 'IPv4', internal: true }] }) },
  });
}

test('status over the control socket lists the other nodes; pmp list without pmp is refused; logout removes the keys; down stops', async () => {
  const a = agent('a');
  const b = agent('b');
  await a.start();
  await b.start();
  try {
    const sock = join(dir, 'a', 'conegate.sock');
    await waitFor(() => (a.mesh?.status().peers.length ?? 0) === 1, 'a sees b');
    const st = (await controlRequest(sock, 'status')) as { mesh: MeshStatus; version: string };
    assert.equal(st.version, pkg.version, 'the fleet health gate compares it with the version it installed');
    assert.equal(st.mesh.peers[0]!.name, 'b');
    assert.equal(st.mesh.coordinator.phase, 'streaming');
    assert.match(st.mesh.peers[0]!.nodeKey, /^[0-9a-f]{64}$/);
    await assert.rejects(controlRequest(sock, 'pmp-list'), (e) => isConegateError(e) && e.code === 'CG_UNSUPPORTED');

    await controlRequest(join(dir, 'b', 'conegate.sock'), 'logout');
    await assert.rejects(access(join(dir, 'b', 'machine.key')));
    await waitFor(() => a.mesh!.status().peers.length === 0, 'b left a\'s map');

    assert.deepEqual(await controlRequest(sock, 'down'), { stopping: true });
    await a.stopped;
    await assert.rejects(controlRequest(sock, 'status'), (e) => isConegateError(e) && e.code === 'CG_NOT_RUNNING');
  } finally {
    await a.stop();
    await b.stop();
  }
});

test('a component that cannot start leaves nothing behind: no control socket, a clear error', async () => {
  const c = agent('c', { ca: join(dir, 'missing-ca.pem'), coordinatorFingerprint: undefined });
  await assert.rejects(c.start(), (e) => isConegateError(e) && e.code === 'CG_CONFIG_UNREADABLE');
  await assert.rejects(access(join(dir, 'c', 'conegate.sock')));
});

test('a refused auth key stops the agent with that error (up exits with it)', async () => {
  const d = agent('d', {}, 'wrong-key');
  await d.start();
  await d.stopped;
  assert.ok(d.fatal && d.fatal.context.coordCode === 'auth-key-unknown', String(d.fatal?.message));
  await assert.rejects(access(join(dir, 'd', 'conegate.sock')));
});

test('advertised routes change on the running agent (conegate up --advertise-routes): forwarding rules first, then one request to the coordinator; down removes the rules', async () => {
  const firewall = new MemorySubnetFirewall();
  const forwarding = new MemoryForwarding();
  const lan = { lan0: [{ address: '10.2.0.1', family: 'IPv4' as const, internal: false }, { address: 'fd00:b::1', family: 'IPv6' as const, internal: false }] };
  const e = agent('e', { advertiseRoutes: ['10.2.0.0/24'] }, 'k1', { firewall, forwarding, interfaces: () => lan });
  await e.start();
  try {
    const sock = join(dir, 'e', 'conegate.sock');
    await waitFor(() => twin.advertisedBy('e')?.length === 1, 'registered with its routes');
    assert.match(await firewall.show(), /10\.2\.0\.0\/24/);
    assert.equal(forwarding.state[4], true);
    const r = await controlRequest(sock, 'set-routes', 10_000, { advertiseRoutes: ['fd00:b::/64', '10.2.0.0/24'], acceptRoutes: true });
    assert.deepEqual(r, { advertiseRoutes: ['10.2.0.0/24', 'fd00:b::/64'], acceptRoutes: true });
    assert.deepEqual(twin.advertisedBy('e'), ['10.2.0.0/24', 'fd00:b::/64']);
    assert.match(await firewall.show(), /fd00:b::\/64/);
    assert.equal(forwarding.state[6], true);
    // A bad prefix changes nothing anywhere.
    await assert.rejects(controlRequest(sock, 'set-routes', 10_000, { advertiseRoutes: ['10.2.0.1/24'] }), (x) => isConegateError(x) && x.code === 'CG_INPUT_INVALID');
    await assert.rejects(controlRequest(sock, 'set-routes', 10_000, { advertiseRoutes: 'x' }), (x) => isConegateError(x) && x.code === 'CG_INPUT_INVALID');
    assert.deepEqual(twin.advertisedBy('e'), ['10.2.0.0/24', 'fd00:b::/64']);
    await controlRequest(sock, 'down');
    await e.stopped;
    assert.equal(await firewall.show(), '');
    assert.deepEqual(forwarding.state, { 4: false, 6: false });
  } finally {
    await e.stop();
  }
});
