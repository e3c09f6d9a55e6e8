import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { realClock } from '../../clock/clock.ts';
import { createLogger } from '../../log/logger.ts';
import { encodeForward, encodeSend } from '../frames.ts';
import type { RelayMessage } from '../frames-message.ts';
import { staticAdmission } from '../server/admission.ts';
import { connectClient, newNode, startTestRelay, waitUntil, type TestRelay } from '../server/testing.ts';
import { RelayMesh } from './mesh.ts';

const MESH_KEY = randomBytes(32).toString('hex');
const recv = (payload: string) => (m: RelayMessage) => m.kind === 'recv' && Buffer.from(m.data).toString() === payload;

/** Relays of one region, each meshed with all the others. */
async function region(n: number, keys: string[]): Promise<{ relays: TestRelay[]; meshes: RelayMesh[]; stop: () => Promise<void> }> {
  const admission = staticAdmission(keys);
  const relays = await Promise.all(Array.from({ length: n }, () => startTestRelay({ admission, config: { meshKey: MESH_KEY } })));
  const meshes = relays.map((r, i) => {
    const peers = relays.filter((_, j) => j !== i).map((p) => ({ url: p.url, trust: { fingerprint: p.fingerprint } }));
    const mesh = new RelayMesh({ peers, meshKey: MESH_KEY, secret: (r.relay as any).config.serverSecret, backoffStartMs: 50, backoffMaxMs: 200 }, { clock: realClock, log: createLogger({ level: 'silent' }) });
    mesh.onPeerGone = (k, h) => r.relay.peerGone(k, h);
    r.relay.attachMesh(mesh);
    mesh.start();
    return mesh;
  });
  await waitUntil(() => meshes.every((m) => m.linksUp() === n - 1), 10_000, 'mesh links');
  return {
    relays,
    meshes,
    async stop() {
      for (const m of meshes) m.stop();
      await Promise.all(relays.map((r) => r.stop()));
    },
  };
}

test('two relays of a region: A on the first, B on the second, traffic flows both ways; the first dies, A reconnects to the second and traffic flows again', async () => {
  const [a, b] = [newNode(), newNode()];
  const reg = await region(2, [a.hex, b.hex]);
  const [r1, r2] = reg.relays as [TestRelay, TestRelay];
  try {
    let ca = await connectClient(r1, a);
    const cb = await connectClient(r2, b);
    await waitUntil(() => reg.meshes[1]!.holds(a.hex) && reg.meshes[0]!.holds(b.hex), 5_000, 'peer-present');
    ca.link.write(encodeSend(b.key, Buffer.from('a->b')));
    await cb.waitFor(recv('a->b'));
    cb.link.write(encodeSend(a.key, Buffer.from('b->a')));
    await ca.waitFor(recv('b->a'));
    assert.equal(r1.relay.counters.packetsForwarded + r2.relay.counters.packetsForwarded, 2);

    // The first relay dies: A's connection ends, the second forgets A (B, who sent to A, is told).
    reg.meshes[0]!.stop();
    await r1.stop();
    await ca.closed;
    await cb.waitFor((m) => m.kind === 'peer-gone' && Buffer.from(m.key).toString('hex') === a.hex);
    assert.equal(reg.meshes[1]!.holds(a.hex), false);
    ca = await connectClient(r2, a);
    cb.link.write(encodeSend(a.key, Buffer.from('b->a again')));
    await ca.waitFor(recv('b->a again'));
    ca.link.write(encodeSend(b.key, Buffer.from('a->b again')));
    await cb.waitFor(recv('a->b again'));
    ca.link.close();
    cb.link.close();
  } finally {
    await reg.stop();
  }
});

test('a forward frame is delivered locally or dropped, never forwarded again', async () => {
  const [a, b] = [newNode(), newNode()];
  const reg = await region(2, [a.hex, b.hex]);
  const [r1, r2] = reg.relays as [TestRelay, TestRelay];
  try {
    const cb = await connectClient(r2, b);
    await waitUntil(() => reg.meshes[0]!.holds(b.hex), 5_000, 'peer-present');
    // A relay of the region (mesh key) forwards to r1 a packet for b, whom r1 does not hold but knows on r2.
    const fake = await connectClient(r1, newNode(), { meshKey: MESH_KEY });
    fake.link.write(encodeForward(a.key, b.key, Buffer.from('loop?')));
    fake.link.write(encodeSend(a.key, Buffer.from('x')));
    await waitUntil(() => r1.relay.counters.packetsDropped === 2, 5_000, 'drop');
    assert.equal(r1.relay.counters.packetsForwarded, 0);
    assert.equal(cb.messages.some(recv('loop?')), false);
    fake.link.close();
    cb.link.close();
  } finally {
    await reg.stop();
  }
});

test('a wrong mesh key is refused', async () => {
  const reg = await region(1, []);
  try {
    await assert.rejects(connectClient(reg.relays[0]!, newNode(), { meshKey: 'ab'.repeat(32) }), /closed the connection during login/);
  } finally {
    await reg.stop();
  }
});
