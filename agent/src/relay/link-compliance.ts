/**
 * One compliance suite for every `RelayLink`: the in-memory fabric (unit tests) and the real relay
 * client against the real relay server over TLS on loopback. What the path engine relies on is checked
 * the same way on both, so the twin cannot drift from the real thing.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { RelayMap } from '../coord/protocol.ts';
import { DISCO_MAGIC } from '../mesh/demux.ts';
import type { NodeKeyHex, RelayLink } from '../paths/types.ts';

export interface RelayLinkHarness {
  /** The relay map the links get (at least one region, `region` among them). */
  map: RelayMap;
  region: string;
  /** A new node's link (fresh key each call) and its key. */
  newLink(): Promise<{ key: NodeKeyHex; link: RelayLink }>;
  /** Waits until cond() holds (bounded; the harness knows how time moves: real or fake). */
  waitFor(cond: () => boolean, what: string): Promise<void>;
}

interface Received {
  src: NodeKeyHex;
  packet: Uint8Array;
  region: string;
}

async function pair(h: RelayLinkHarness) {
  const a = await h.newLink();
  const b = await h.newLink();
  const got = { a: [] as Received[], b: [] as Received[] };
  a.link.onReceive((src, packet, region) => got.a.push({ src, packet, region }));
  b.link.onReceive((src, packet, region) => got.b.push({ src, packet, region }));
  a.link.setRelayMap(h.map);
  b.link.setRelayMap(h.map);
  return { a, b, got };
}

function discoPacket(n: number): Uint8Array {
  const p = new Uint8Array(80).fill(n);
  p.set(DISCO_MAGIC);
  return p;
}

export function relayLinkCompliance(name: string, harness: () => Promise<RelayLinkHarness>, cleanup: () => Promise<void>): void {
  test(`${name}: two nodes exchange packets both ways through one region, bytes intact`, async () => {
    const h = await harness();
    try {
      const { a, b, got } = await pair(h);
      // b must be present in the region before a's packet can reach it: its home, or its first send.
      await h.waitFor(() => b.link.home() !== undefined && a.link.home() !== undefined, 'both homes chosen');
      b.link.send(h.region, a.key, Uint8Array.of(9, 9));
      await h.waitFor(() => got.a.length === 1, 'a receives from b');
      a.link.send(h.region, b.key, Uint8Array.of(1, 2, 3));
      await h.waitFor(() => got.b.length === 1, 'b receives from a');
      assert.deepEqual(got.b[0], { src: a.key, packet: Uint8Array.of(1, 2, 3), region: h.region });
      assert.deepEqual(got.a[0], { src: b.key, packet: Uint8Array.of(9, 9), region: h.region });
      await a.link.close();
      await b.link.close();
    } finally {
      await cleanup();
    }
  });

  test(`${name}: a discovery packet to a key nobody holds is answered with peer-gone not-here`, async () => {
    const h = await harness();
    try {
      const a = await h.newLink();
      const gone: { key: string; region: string; reason: string }[] = [];
      a.link.onPeerGone((key, region, reason) => gone.push({ key, region, reason }));
      a.link.setRelayMap(h.map);
      const nobody = 'ab'.repeat(32);
      a.link.send(h.region, nobody, discoPacket(1));
      await h.waitFor(() => gone.length >= 1, 'peer-gone');
      assert.deepEqual(gone[0], { key: nobody, region: h.region, reason: 'not-here' });
      await a.link.close();
    } finally {
      await cleanup();
    }
  });

  test(`${name}: a peer that closes is announced to the node that sent to it (disconnected)`, async () => {
    const h = await harness();
    try {
      const { a, b, got } = await pair(h);
      const gone: { key: string; reason: string }[] = [];
      a.link.onPeerGone((key, _region, reason) => gone.push({ key, reason }));
      await h.waitFor(() => b.link.home() !== undefined, 'b home');
      b.link.send(h.region, a.key, Uint8Array.of(5));
      await h.waitFor(() => got.a.length === 1, 'b reached a');
      a.link.send(h.region, b.key, Uint8Array.of(6));
      await h.waitFor(() => got.b.length === 1, 'a reached b');
      await b.link.close();
      await h.waitFor(() => gone.some((g) => g.key === b.key && g.reason === 'disconnected'), 'peer-gone disconnected');
      await a.link.close();
    } finally {
      await cleanup();
    }
  });

  test(`${name}: home, status and close`, async () => {
    const h = await harness();
    try {
      const a = await h.newLink();
      const homes: string[] = [];
      a.link.onHomeChange((r) => homes.push(r));
      assert.equal(a.link.home(), undefined, 'no home before a relay map');
      a.link.setRelayMap(h.map);
      await h.waitFor(() => a.link.home() !== undefined, 'home chosen');
      assert.ok(h.map.regions.some((r) => r.id === a.link.home()));
      assert.deepEqual(homes, [a.link.home()]);
      const st = a.link.status();
      assert.equal(st.home, a.link.home());
      assert.deepEqual(st.regions.map((r) => r.id).sort(), h.map.regions.map((r) => r.id).sort());
      await h.waitFor(() => a.link.status().regions.some((r) => r.id === a.link.home() && r.connected), 'home connected');
      await a.link.close();
      await a.link.close();
      a.link.send(h.region, 'cd'.repeat(32), Uint8Array.of(1)); // after close: dropped, never throws
    } finally {
      await cleanup();
    }
  });
}
