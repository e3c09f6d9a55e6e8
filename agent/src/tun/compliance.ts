/**
 * One behaviour suite for every TunDevice: memory in unit tests, Linux in the lab (inside a namespace).
 * The "OS" answers ICMP echo requests addressed to the interface: the kernel does so by itself, the
 * memory twin through `attachEchoResponder`. Each case writes requests into the device and expects the
 * replies back through onPacket, which exercises both directions of the device.
 */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { decodeEcho, encodeEcho, type Echo } from './icmp.ts';
import type { MemoryTun } from '../wg/memory-tun.ts';
import type { TunDevice } from './tun.ts';

export interface TunHarness {
  tun: TunDevice;
  expectedName: string;
  expectedMtu: number;
  /** Address of the interface (answers echo) and an address behind it (the requests' source). */
  local4: string;
  remote4: string;
  local6: string;
  remote6: string;
  /** Releases what the harness set up beyond the device (the device itself is closed by the suite). */
  cleanup?(): Promise<void>;
}

const WAIT_MS = 5000;

/** Collects echo replies from a device until `want` distinct sequence numbers arrived or time runs out. */
function collectReplies(tun: TunDevice, id: number, want: number): Promise<Map<number, Echo>> {
  const got = new Map<number, Echo>();
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(got), WAIT_MS);
    tun.onPacket((p) => {
      let e: Echo;
      try {
        e = decodeEcho(p);
      } catch {
        return; // router solicitations, MLD and the like: not ours
      }
      if (!e.reply || e.id !== id) return;
      got.set(e.seq, e);
      if (got.size >= want) {
        clearTimeout(timer);
        resolve(got);
      }
    });
  });
}

function payload(n: number, seed: number): Uint8Array {
  const p = new Uint8Array(n);
  for (let i = 0; i < n; i++) p[i] = (i * 31 + seed) & 0xff;
  return p;
}

/** Registers the compliance cases (call inside a describe()). `make` builds a fresh harness per case. */
export function tunCompliance(make: () => Promise<TunHarness>): void {
  const withHarness = (fn: (h: TunHarness) => Promise<void>) => async () => {
    const h = await make();
    try {
      await fn(h);
    } finally {
      await h.tun.close();
      await h.cleanup?.();
    }
  };

  it('reports its name and MTU', withHarness(async (h) => {
    assert.equal(h.tun.name, h.expectedName);
    assert.equal(h.tun.mtu, h.expectedMtu);
  }));

  for (const family of [4, 6] as const) {
    it(`carries an IPv${family} echo request out and its reply back`, withHarness(async (h) => {
      const [src, dst] = family === 4 ? [h.remote4, h.local4] : [h.remote6, h.local6];
      const id = 0x4000 + family;
      const replies = collectReplies(h.tun, id, 1);
      const body = payload(56, family);
      h.tun.write(encodeEcho({ src, dst, id, seq: 1, payload: body, reply: false }));
      const got = (await replies).get(1);
      assert.ok(got, 'no echo reply came back through the device');
      assert.equal(got.src, dst);
      assert.equal(got.dst, src);
      assert.deepEqual(got.payload, body);
    }));
  }

  it('carries a burst of 200 packets without loss or corruption', withHarness(async (h) => {
    const id = 0x4100;
    const count = 200;
    const replies = collectReplies(h.tun, id, count);
    for (let seq = 0; seq < count; seq++) {
      h.tun.write(encodeEcho({ src: h.remote4, dst: h.local4, id, seq, payload: payload(100 + seq, seq), reply: false }));
    }
    const got = await replies;
    assert.equal(got.size, count);
    for (const [seq, e] of got) assert.deepEqual(e.payload, payload(100 + seq, seq));
  }));

  it('carries a packet of exactly the MTU', withHarness(async (h) => {
    const id = 0x4200;
    const replies = collectReplies(h.tun, id, 1);
    const body = payload(h.tun.mtu - 28, 7);
    h.tun.write(encodeEcho({ src: h.remote4, dst: h.local4, id, seq: 9, payload: body, reply: false }));
    const got = (await replies).get(9);
    assert.ok(got, 'no reply to an MTU-sized packet');
    assert.equal(got.payload.length, body.length);
  }));

  it('drops a malformed packet without throwing and keeps working', withHarness(async (h) => {
    h.tun.write(new Uint8Array([0x45, 0, 0, 3]));
    h.tun.write(new Uint8Array(0));
    h.tun.write(payload(60, 1).map((b, i) => (i === 0 ? 0x70 : b)));
    const id = 0x4300;
    const replies = collectReplies(h.tun, id, 1);
    h.tun.write(encodeEcho({ src: h.remote4, dst: h.local4, id, seq: 1, payload: payload(8, 0), reply: false }));
    assert.ok((await replies).get(1), 'device stopped working after malformed packets');
  }));

  it('takes a batch of packets in one write', withHarness(async (h) => {
    const id = 0x4400;
    const replies = collectReplies(h.tun, id, 3);
    h.tun.write([1, 2, 3].map((seq) => encodeEcho({ src: h.remote4, dst: h.local4, id, seq, payload: payload(20, seq), reply: false })));
    assert.equal((await replies).size, 3);
  }));

  it('closes idempotently; a write afterwards neither throws nor delivers', withHarness(async (h) => {
    let seen = 0;
    h.tun.onPacket(() => seen++);
    await h.tun.close();
    await h.tun.close();
    h.tun.write(encodeEcho({ src: h.remote4, dst: h.local4, id: 0x4500, seq: 1, payload: new Uint8Array(4), reply: false }));
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(seen, 0);
  }));
}

/** Makes a MemoryTun answer echo requests to `locals`, the way a kernel does for its own addresses. */
export function attachEchoResponder(tun: MemoryTun, locals: string[]): void {
  tun.keepWritten = false;
  tun.onWrite = (p) => {
    let e: Echo;
    try {
      e = decodeEcho(p);
    } catch {
      return;
    }
    if (e.reply || !locals.includes(e.dst)) return;
    const reply = encodeEcho({ ...e, src: e.dst, dst: e.src, reply: true });
    // Asynchronous like a kernel: the reply arrives after write() returned.
    queueMicrotask(() => tun.inject(reply));
  };
}
