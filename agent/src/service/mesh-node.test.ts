import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { realClock } from '../clock/clock.ts';
import { validateConfig } from '../config/load.ts';
import { silentLogger } from '../log/logger.ts';
import { CoordClient } from '../node/coord-client.ts';
import { loadIdentity } from '../node/identity.ts';
import { waitFor } from '../node/testkit-net.ts';
import { decodeEcho, encodeEcho } from '../tun/icmp.ts';
import { MemoryTun } from '../wg/memory-tun.ts';
import { CoordTwin } from '../../../test/fakes/coordinator.ts';
import { selfSignedCert } from '../../../test/fakes/tls-cert.ts';
import { MapEngine } from '../paths/map-engine.ts';
import type { PathAction } from '../paths/types.ts';
import { MeshNode } from './mesh-node.ts';
import { createSocket } from 'node:dgram';
import { isConegateError } from '../errors.ts';

/** A UDP port free right now (the relay's config needs a real port number). */
async function freeUdpPort(): Promise<number> {
  const s = createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', r));
  const port = s.address().port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

let twin: CoordTwin;
let dir: string;
let fingerprint: string;
before(async () => {
  const cert = await selfSignedCert();
  fingerprint = cert.fingerprint;
  twin = new CoordTwin({ cert: cert.cert, key: cert.key, authKeys: ['k1'] });
  await twin.up();
  dir = await mkdtemp(join(tmpdir(), 'cg-meshnode-'));
});
after(async () => {
  await twin.down();
  await rm(dir, { recursive: true, force: true });
});

/** `portmap`: pretend an upstream mapping maps the mesh port to itself (reported as type 'portmap'). */
async function node(name: string, portmap = false, udpRelay?: { enabled: true; port: number; advertise: string }): Promise<{ node: MeshNode; tun: MemoryTun }> {
  const config = validateConfig({ wg: { listenPort: 0 }, mesh: { enabled: true, hostname: name, ...(udpRelay ? { udpRelay } : {}) } });
  const identity = await loadIdentity(join(dir, name));
  const tun = new MemoryTun(`mem-${name}`);
  let self: MeshNode | undefined;
  const n = new MeshNode(
    { mesh: config.mesh, wg: config.wg, authKey: async () => 'k1' },
    {
      log: silentLogger(),
      clock: realClock,
      identity,
      api: new CoordClient({ url: twin.url, trust: { fingerprint }, machine: identity.machine }),
      openTun: () => tun,
      skipIfconfig: true,
      includeLoopback: true,
      interfaces: () => ({ lo: [{ address: '127.0.0.1', family: 'IPv4', internal: true }] }),
      ...(portmap ? { portmapEndpoint: () => (self?.bind ? `127.0.0.1:${self.bind.localPort}` : undefined) } : {}),
    },
  );
  self = n;
  await n.start();
  return { node: n, tun };
}

test('two nodes: peers from the map, a packet crosses WireGuard on the shared socket, status lists the peer, revocation drops the tunnel', async () => {
  const a = await node('a');
  const b = await node('b', true);
  try {
    await waitFor(() => a.node.status().peers.length === 1 && b.node.status().peers.length === 1, 'each sees the other');
    await waitFor(() => (a.node.status().peers[0]?.endpoints.length ?? 0) > 0, 'a has b\'s endpoint from the map', 15_000);
    assert.equal(a.node.device!.peers()[0]!.endpoint!.address, `peer.${b.node.status().self.nodeKey}`, 'the device has b\'s virtual endpoint');
    // b's upstream mapping is what b reports (first; the same address as a local one is listed once).
    assert.deepEqual(twin.nodeList().find((n) => n.name === 'b')!.endpoints.map((e) => e.type), ['portmap']);
    assert.deepEqual(a.node.status().peers[0]!.endpoints.map((e) => e.type), ['portmap']);
    const sa = a.node.status();
    const sb = b.node.status();
    assert.equal(sa.peers[0]!.name, 'b');
    assert.deepEqual(sa.peers[0]!.addresses, sb.self.addresses);
    assert.equal(sa.peers[0]!.nodeKey, sb.self.nodeKey);
    const src = sa.self.addresses[0]!.split('/')[0]!;
    const dst = sb.self.addresses[0]!.split('/')[0]!;
    a.tun.inject(encodeEcho({ src, dst, id: 1, seq: 1, payload: new Uint8Array(8), reply: false }));
    // The first packet starts discovery (no relay here): the handshake goes direct once a pong came back.
    await waitFor(() => b.tun.written.length > 0, 'packet arrives at b', 15_000);
    assert.equal(a.node.status().peers[0]!.path!.kind, 'direct');
    assert.ok(a.node.status().peers[0]!.path!.rttMs !== null, 'RTT from the pong');
    assert.equal(decodeEcho(b.tun.written[0]!).dst, dst);
    await waitFor(() => a.node.status().peers[0]!.lastHandshake !== null && a.node.status().peers[0]!.txBytes > 0, 'handshake shown');
    assert.ok(a.node.demuxCounts.wg > 0);

    twin.revoke(sb.self.id!);
    await waitFor(() => b.node.device!.peers().length === 0 && a.node.device!.peers().length === 0, 'tunnels gone on both sides');
    assert.equal(b.node.status().coordinator.phase, 'revoked');
  } finally {
    await a.node.stop();
    await b.node.stop();
  }
});

test('a change of the interface addresses is a link change for the path engine; the same addresses are not', async () => {
  const config = validateConfig({ wg: { listenPort: 0 }, mesh: { enabled: true, hostname: 'lc' } });
  const identity = await loadIdentity(join(dir, 'lc'));
  let addr = '192.0.2.10';
  let linkChanges = 0;
  class CountingEngine extends MapEngine {
    override onLinkChange(nowMs: number): PathAction[] {
      linkChanges++;
      return super.onLinkChange(nowMs);
    }
  }
  const n = new MeshNode(
    { mesh: config.mesh, wg: config.wg, authKey: async () => 'k1' },
    {
      log: silentLogger(),
      clock: realClock,
      identity,
      api: new CoordClient({ url: twin.url, trust: { fingerprint }, machine: identity.machine }),
      openTun: () => new MemoryTun('mem-lc'),
      skipIfconfig: true,
      interfaces: () => ({ eth0: [{ address: addr, family: 'IPv4', internal: false }] }),
      pathEngine: () => new CountingEngine(),
    },
  );
  await n.start();
  try {
    n.reportEndpoints();
    assert.equal(linkChanges, 0);
    addr = '198.51.100.10';
    n.reportEndpoints();
    assert.equal(linkChanges, 1);
    n.reportEndpoints();
    assert.equal(linkChanges, 1);
  } finally {
    await n.stop();
  }
});

test('mesh.udpRelay: the node relays for others on its own port, peers see it in the map, status shows it; conegate ping names the path', async () => {
  const port = await freeUdpPort();
  const r = await node('ur', false, { enabled: true, port, advertise: `127.0.0.1:${port}` });
  const a = await node('ua');
  try {
    assert.equal(r.node.status().udpRelay?.port, port);
    assert.equal(a.node.status().udpRelay, null, 'off by default');
    await waitFor(() => a.node.status().peers.find((p) => p.name === 'ur')?.udpRelay === `127.0.0.1:${port}`, 'a sees ur\'s UDP relay in the map', 15_000);
    assert.equal(r.node.status().udpRelay?.advertised, `127.0.0.1:${port}`);
    // ping: the first one starts discovery; a later one is answered on the direct path.
    await assert.rejects(a.node.pingPeer('nobody', 500), (e) => isConegateError(e) && e.code === 'CG_NOT_FOUND');
    let got: Awaited<ReturnType<MeshNode['pingPeer']>> | undefined;
    const [src, dst] = [a.node.status().self.addresses[0]!.split('/')[0]!, r.node.status().self.addresses[0]!.split('/')[0]!];
    assert.equal((await a.node.pingPeer('ur', 500)).pong, null, 'no path yet (no relay here, no pong yet): no pong');
    // Traffic starts discovery; once the path is direct, ping answers on it.
    a.tun.inject(encodeEcho({ src, dst, id: 2, seq: 1, payload: new Uint8Array(8), reply: false }));
    await waitFor(() => a.node.status().peers.find((p) => p.name === 'ur')?.path?.kind === 'direct', 'a direct path to ur', 15_000);
    got = await a.node.pingPeer('ur', 2000);
    assert.equal(got.pong?.kind, 'direct', JSON.stringify(got));
    assert.equal(got!.peer, 'ur');
    assert.match((got!.pong as { endpoint: string }).endpoint, /^127\.0\.0\.1:\d+$/);
  } finally {
    await a.node.stop();
    await r.node.stop();
  }
  // stop() frees the relay's port.
  const s = createSocket('udp4');
  await new Promise<void>((res, rej) => {
    s.once('error', rej);
    s.bind(port, '127.0.0.1', () => res());
  });
  s.close();
});
