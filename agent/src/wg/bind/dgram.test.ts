import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createMemoryBindPair } from '../memory-bind.ts';
import { bindCompliance } from './compliance.ts';
import { DgramBind } from './dgram.ts';
import { isConegateError } from '../../errors.ts';

describe('MemoryBind compliance', () => {
  bindCompliance(async () => {
    const { a, b } = createMemoryBindPair();
    return { a, b, aAt: a.local, bAt: b.local };
  });
});

for (const sendMode of ['main', 'thread', 'auto'] as const) describe(`DgramBind compliance (loopback, sends on the ${sendMode} thread)`, () => {
  bindCompliance(async () => {
    const a = await DgramBind.open({ port: 0, host4: '127.0.0.1', host6: '::1', sendMode });
    const b = await DgramBind.open({ port: 0, host4: '127.0.0.1', host6: '::1', sendMode });
    const at = (x: DgramBind, address: string) => ({ address, port: x.localPort });
    return {
      a,
      b,
      aAt: at(a, '127.0.0.1'),
      bAt: at(b, '127.0.0.1'),
      v6: { a, b, aAt: at(a, '::1'), bAt: at(b, '::1') },
    };
  });
});

async function until(what: string, cond: () => boolean, ms = 10_000): Promise<void> {
  const deadline = performance.now() + ms;
  while (!cond()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('DgramBind', () => {
  it("'auto' sends: the sender thread starts under load, stops when idle, and no datagram is lost either way", { skip: process.platform !== 'linux' && 'the sender thread is Linux-only' }, async () => {
    const demand = { startPackets: 16, windowMs: 60_000, idleStopMs: 100 };
    const a = await DgramBind.open({ port: 0, host4: '127.0.0.1', ipv4Only: true, sendMode: 'auto', demand });
    const b = await DgramBind.open({ port: 0, host4: '127.0.0.1', ipv4Only: true, sendMode: 'main' });
    try {
      let got = 0;
      b.onReceive(() => got++);
      const to = { address: '127.0.0.1', port: b.localPort };
      a.send(Array.from({ length: 15 }, (_, i) => Uint8Array.of(i)), to);
      assert.equal(a.senderActive, false, 'a trickle stays on the main thread');
      a.send(Uint8Array.of(15), to);
      await until('the sender thread', () => a.senderActive);
      for (let i = 0; i < 100; i++) a.send(Uint8Array.of(i), to);
      await until('116 datagrams', () => got === 116);
      await until('the idle sender to stop', () => !a.senderActive);
      a.send(Uint8Array.of(0), to);
      await until('117 datagrams', () => got === 117);
      assert.equal(a.stats.sendErrors, 0);
      assert.equal(a.stats.txPackets, 117);
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('refuses a port in use with CG_BUSY', async () => {
    const a = await DgramBind.open({ port: 0, host4: '127.0.0.1', ipv4Only: true });
    try {
      await assert.rejects(DgramBind.open({ port: a.localPort, host4: '127.0.0.1', ipv4Only: true }), (e) => isConegateError(e) && e.code === 'CG_BUSY');
    } finally {
      a.close();
    }
  });

  it('rebinds to a new port keeping its handler', async () => {
    const a = await DgramBind.open({ port: 0, host4: '127.0.0.1', ipv4Only: true });
    const b = await DgramBind.open({ port: 0, host4: '127.0.0.1', ipv4Only: true });
    try {
      const old = a.localPort;
      let got = 0;
      a.onReceive(() => got++);
      await a.rebind(0);
      assert.notEqual(a.localPort, old);
      b.send(new Uint8Array(8), { address: '127.0.0.1', port: a.localPort });
      const deadline = Date.now() + 5000;
      while (got === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      assert.equal(got, 1);
    } finally {
      a.close();
      b.close();
    }
  });
});

