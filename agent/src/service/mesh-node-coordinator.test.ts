/**
 * The node against the real coordinator (agent/src/coord/server, memory store) over real HTTPS with a
 * pinned self-signed certificate: two nodes register with an admin-made auth key, see each other, a
 * packet crosses WireGuard, an admin revocation removes every tunnel of the revoked node.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { realClock } from '../clock/clock.ts';
import { validateConfig } from '../config/load.ts';
import { Coordinator } from '../coord/server/coordinator.ts';
import { selfSignedTls } from '../coord/server/tls.ts';
import { MemoryData, MemoryStore } from '../coord/store/memory.ts';
import { silentLogger } from '../log/logger.ts';
import { CoordClient } from '../node/coord-client.ts';
import { loadIdentity } from '../node/identity.ts';
import { waitFor } from '../node/testkit-net.ts';
import { decodeEcho, encodeEcho } from '../tun/icmp.ts';
import { MemoryTun } from '../wg/memory-tun.ts';
import type { AddressWatch } from '../net/address-watch.ts';
import { MeshNode } from './mesh-node.ts';

let coord: Coordinator;
let dir: string;
let fingerprint: string;
let authKey: string;
const bytes = (n: number) => new Uint8Array(randomBytes(n));

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cg-realcoord-'));
  const tls = await selfSignedTls(dir, ['127.0.0.1']);
  fingerprint = tls.fingerprint;
  const store = new MemoryStore({ data: new MemoryData(), randomBytes: bytes });
  coord = new Coordinator({ host: '127.0.0.1', port: 0, tls, prefix6: 'fd7a:115c:a1e0::/48' }, { store, clock: realClock, wallNowMs: Date.now, random: Math.random, randomBytes: bytes, log: silentLogger() });
  await coord.start();
  const r = await coord.admin.inject({ method: 'POST', url: '/admin/authkeys', payload: { reusable: true } });
  authKey = r.json().secret as string;
});
after(async () => {
  await coord.stop();
  await rm(dir, { recursive: true, force: true });
});

type Interfaces = () => Record<string, { address: string; family: 'IPv4'; internal: boolean }[]>;
const loopbackOnly: Interfaces = () => ({ lo: [{ address: '127.0.0.1', family: 'IPv4', internal: true }] });

async function node(name: string, extra: { interfaces?: Interfaces; addressWatch?: AddressWatch } = {}): Promise<{ node: MeshNode; tun: MemoryTun }> {
  const config = validateConfig({ wg: { listenPort: 0 }, mesh: { enabled: true, hostname: name } });
  const identity = await loadIdentity(join(dir, name));
  const tun = new MemoryTun(`mem-${name}`);
  const n = new MeshNode(
    { mesh: config.mesh, wg: config.wg, authKey: async () => authKey },
    {
      log: silentLogger(),
      clock: realClock,
      identity,
      api: new CoordClient({ url: `https://127.0.0.1:${coord.port}`, trust: { fingerprint }, machine: identity.machine }),
      openTun: () => tun,
      skipIfconfig: true,
      includeLoopback: true,
      interfaces: extra.interfaces ?? loopbackOnly,
      ...(extra.addressWatch ? { addressWatch: extra.addressWatch } : {}),
    },
  );
  await n.start();
  return { node: n, tun };
}

test('two nodes on the real coordinator: map, WireGuard packet, revocation', async () => {
  const a = await node('a');
  const b = await node('b');
  try {
    await waitFor(() => a.node.status().peers.length === 1 && b.node.status().peers.length === 1, 'each sees the other', 15_000);
    await waitFor(() => (a.node.status().peers[0]?.endpoints.length ?? 0) > 0, 'a has b\'s endpoint from the map', 15_000);
    const sa = a.node.status();
    const sb = b.node.status();
    assert.equal(sa.peers[0]!.name, 'b');
    assert.deepEqual(sa.peers[0]!.endpoints.map((e) => e.type), ['local'], 'b\'s endpoint report reached a through the coordinator');
    assert.deepEqual(a.node.session!.endpointReports, { ok: 1, failed: 0 }, 'the coordinator accepted the report (204)');
    const src = sa.self.addresses.find((x) => !x.includes(':'))!.split('/')[0]!;
    const dst = sb.self.addresses.find((x) => !x.includes(':'))!.split('/')[0]!;
    a.tun.inject(encodeEcho({ src, dst, id: 1, seq: 1, payload: new Uint8Array(8), reply: false }));
    // The first packet starts discovery (no relay here): the handshake goes direct once a pong came back.
    await waitFor(() => b.tun.written.length > 0, 'packet arrives at b', 15_000);
    assert.equal(a.node.status().peers[0]!.path!.kind, 'direct');
    assert.ok(a.node.status().peers[0]!.path!.rttMs !== null, 'RTT from the pong');
    assert.equal(decodeEcho(b.tun.written[0]!).src, src);

    const r = await coord.admin.inject({ method: 'POST', url: `/admin/nodes/${sb.self.id}/revoke` });
    assert.equal(r.statusCode, 200);
    await waitFor(() => b.node.device!.peers().length === 0 && a.node.device!.peers().length === 0, 'tunnels gone on both sides', 5_000);
    await waitFor(() => b.node.status().coordinator.phase === 'revoked', 'b knows it was revoked', 5_000);
  } finally {
    await a.node.stop();
    await b.node.stop();
  }
});

test('an address change reaches the coordinator and the peers at once (address monitor), not at the 30 s re-read', async () => {
  let onChange: (() => void) | undefined;
  const watch: AddressWatch = { start: (cb) => void (onChange = cb), stop: () => void (onChange = undefined) };
  let addrs = [{ address: '127.0.0.1', family: 'IPv4' as const, internal: true }];
  const a = await node('wa', { interfaces: () => ({ lo: addrs }), addressWatch: watch });
  const b = await node('wb');
  try {
    const seen = () => b.node.status().peers.find((p) => p.name === 'wa')?.endpoints.map((e) => e.addr.split(':')[0]) ?? [];
    await waitFor(() => seen().includes('127.0.0.1'), 'b has a\'s first endpoint', 15_000);
    assert.ok(onChange, 'the node watches addresses while up');
    addrs = [...addrs, { address: '127.0.0.2', family: 'IPv4', internal: true }];
    for (let i = 0; i < 5; i++) onChange!(); // a burst of monitor lines: read once after it settles
    await waitFor(() => seen().includes('127.0.0.2'), 'b has a\'s new endpoint', 5_000);
  } finally {
    await a.node.stop();
    await b.node.stop();
  }
  assert.equal(onChange, undefined, 'the watch stopped with the node');
});
