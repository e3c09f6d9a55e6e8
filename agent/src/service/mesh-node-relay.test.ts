/**
 * Two mesh nodes that have no endpoint to offer each other (no interfaces, no STUN) on the real
 * coordinator with a relay map: their home region goes to the coordinator and back to the peer through
 * the map, the WireGuard handshake and data cross the in-memory relay fabric, and `status` says
 * tcp-relay, the region and why.
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
import { MemoryRelayFabric } from '../relay/memory.ts';
import { decodeEcho, encodeEcho } from '../tun/icmp.ts';
import { keyToHex } from '../wg/keys.ts';
import { MemoryTun } from '../wg/memory-tun.ts';
import { humanStatus } from '../cli/commands/up.ts';
import { MeshNode } from './mesh-node.ts';

let coord: Coordinator;
let dir: string;
let fingerprint: string;
let authKey: string;
const bytes = (n: number) => new Uint8Array(randomBytes(n));
const fabric = new MemoryRelayFabric();

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cg-relaynode-'));
  const tls = await selfSignedTls(dir, ['127.0.0.1']);
  fingerprint = tls.fingerprint;
  const store = new MemoryStore({ data: new MemoryData(), randomBytes: bytes });
  const relays = { regions: [{ id: 'r1', name: 'one', nodes: [{ url: 'https://relay1.invalid' }] }, { id: 'r2', name: 'two', nodes: [{ url: 'https://relay2.invalid' }] }] };
  coord = new Coordinator({ host: '127.0.0.1', port: 0, tls, prefix6: 'fd7a:115c:a1e0::/48', relays }, { store, clock: realClock, wallNowMs: Date.now, random: Math.random, randomBytes: bytes, log: silentLogger() });
  await coord.start();
  authKey = (await coord.admin.inject({ method: 'POST', url: '/admin/authkeys', payload: { reusable: true } })).json().secret as string;
});
after(async () => {
  fabric.close();
  await coord.stop();
  await rm(dir, { recursive: true, force: true });
});

async function node(name: string, home: string): Promise<{ node: MeshNode; tun: MemoryTun }> {
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
      interfaces: () => ({}),
      relayLink: () => fabric.node(keyToHex(identity.node.publicKey), { home }),
    },
  );
  await n.start();
  return { node: n, tun };
}

test('no endpoints on either side: home regions through the coordinator, WireGuard through the relay, status shows tcp-relay and why', async () => {
  const a = await node('a', 'r1');
  const b = await node('b', 'r2');
  try {
    await waitFor(() => a.node.status().peers[0]?.homeRelay === 'r2' && b.node.status().peers[0]?.homeRelay === 'r1', 'each learnt the other\'s home region from the map', 15_000);
    await waitFor(() => a.node.status().peers[0]?.path?.kind === 'tcp-relay', 'a routes b through b\'s home region');
    const sa = a.node.status();
    const sb = b.node.status();
    const src = sa.self.addresses.find((x) => !x.includes(':'))!.split('/')[0]!;
    const dst = sb.self.addresses.find((x) => !x.includes(':'))!.split('/')[0]!;
    a.tun.inject(encodeEcho({ src, dst, id: 1, seq: 1, payload: new Uint8Array(8), reply: false }));
    await waitFor(() => b.tun.written.length > 0, 'packet arrives at b through the relay');
    assert.equal(decodeEcho(b.tun.written[0]!).src, src);
    assert.ok(fabric.counters.delivered >= 3, 'initiation, response and data crossed the relay');
    const pa = a.node.status().peers[0]!;
    assert.equal(pa.path!.region, 'r2');
    assert.equal(pa.path!.reason!.code, 'no-candidates');
    assert.equal(pa.currentEndpoint, null);
    assert.equal(a.node.status().relay!.home, 'r1');
    const text = humanStatus({ mesh: a.node.status(), components: {} });
    assert.match(text, /path tcp-relay region r2 .*\(no-candidates: /);
    assert.match(text, /relay: home r1; r1 connected/);
  } finally {
    await a.node.stop();
    await b.node.stop();
  }
});
