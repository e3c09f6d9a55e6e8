import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { access, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { realClock } from '../clock/clock.ts';
import { validateConfig } from '../config/load.ts';
import { isConegateError } from '../errors.ts';
import { silentLogger } from '../log/logger.ts';
import { waitFor } from '../node/testkit-net.ts';
import { MemoryTun } from '../wg/memory-tun.ts';
import { CoordTwin } from '../../../test/fakes/coordinator.ts';
import { selfSignedCert } from '../../../test/fakes/tls-cert.ts';
import { Agent } from './agent.ts';
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

function agent(name: string, mesh: Record<string, unknown> = {}, authKey = 'k1'): Agent {
  const stateDir = join(dir, name);
  const config = validateConfig({ wg: { listenPort: 0 }, portmap: { enabled: false }, mesh: { enabled: true, coordinator: twin.url, coordinatorFingerprint: fingerprint, hostname: name, stateDir, ...mesh } });
  return new Agent({
    config,
    stateDir,
    controlSocket: join(stateDir, 'conegate.sock'),
    authKey,
    log: silentLogger(),
    clock: realClock,
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
    const st = (await controlRequest(sock, 'status')) as { mesh: MeshStatus };
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
