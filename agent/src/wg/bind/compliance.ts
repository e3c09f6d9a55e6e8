/**
 * One behaviour suite for every Bind: the memory bind (wg/memory-bind.ts) and the dgram bind on
 * loopback. A harness gives two binds that can reach each other and the endpoints they reach each other at.
 */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import type { Bind, Endpoint } from '../ports.ts';

export interface BindHarness {
  a: Bind;
  b: Bind;
  /** Where a reaches b, and where b sees a's datagrams come from. */
  bAt: Endpoint;
  aAt: Endpoint;
  /** Endpoints over IPv6, when the implementation and host support it. */
  v6?: { a: Bind; b: Bind; bAt: Endpoint; aAt: Endpoint };
  cleanup?(): Promise<void>;
}

const WAIT_MS = 5000;

function receive(bind: Bind, want: number): Promise<{ packet: Uint8Array; from: Endpoint }[]> {
  const got: { packet: Uint8Array; from: Endpoint }[] = [];
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(got), WAIT_MS);
    bind.onReceive((packet, from) => {
      got.push({ packet: new Uint8Array(packet), from });
      if (got.length >= want) {
        clearTimeout(timer);
        resolve(got);
      }
    });
  });
}

const msg = (n: number, len = 64) => new Uint8Array(len).fill(n & 0xff);

/** Registers the compliance cases (inside a describe()); `make` builds a fresh harness per case. */
export function bindCompliance(make: () => Promise<BindHarness>): void {
  const withHarness = (fn: (h: BindHarness) => Promise<void>) => async () => {
    const h = await make();
    try {
      await fn(h);
    } finally {
      await h.a.close();
      await h.b.close();
      if (h.v6) {
        await h.v6.a.close();
        await h.v6.b.close();
      }
      await h.cleanup?.();
    }
  };

  it('reports a local port', withHarness(async (h) => {
    assert.ok(typeof h.a.localPort === 'number' && h.a.localPort > 0);
  }));

  it('delivers a datagram both ways with the sender as source', withHarness(async (h) => {
    const atB = receive(h.b, 1);
    const atA = receive(h.a, 1);
    await h.a.send(msg(1), h.bAt);
    await h.b.send(msg(2), h.aAt);
    const [gb] = await atB;
    const [ga] = await atA;
    assert.deepEqual(gb?.packet, msg(1));
    assert.deepEqual(gb?.from, h.aAt);
    assert.deepEqual(ga?.packet, msg(2));
    assert.deepEqual(ga?.from, h.bAt);
  }));

  it('delivers a batch as separate datagrams, in full', withHarness(async (h) => {
    const atB = receive(h.b, 32);
    await h.a.send(Array.from({ length: 32 }, (_, i) => msg(i, 100 + i)), h.bAt);
    const got = await atB;
    assert.equal(got.length, 32);
    const lengths = got.map((g) => g.packet.length).sort((x, y) => x - y);
    assert.deepEqual(lengths, Array.from({ length: 32 }, (_, i) => 100 + i));
  }));

  it('carries IPv6 where available', withHarness(async (h) => {
    if (!h.v6) return;
    const atB = receive(h.v6.b, 1);
    await h.v6.a.send(msg(6, 1400), h.v6.bAt);
    const [g] = await atB;
    assert.equal(g?.packet.length, 1400);
    assert.deepEqual(g?.from, h.v6.aAt);
  }));

  it('survives sends to unreachable endpoints and closes idempotently', withHarness(async (h) => {
    await h.a.send(msg(1), { address: '192.0.2.77', port: 9 });
    await h.a.send(msg(1), { address: 'not an address', port: 9 });
    await h.a.close();
    await h.a.close();
    await h.a.send(msg(1), h.bAt);
  }));
}
