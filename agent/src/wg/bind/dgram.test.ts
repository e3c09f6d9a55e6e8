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

for (const sendMode of ['main', 'thread'] as const) describe(`DgramBind compliance (loopback, sends on the ${sendMode} thread)`, () => {
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

describe('DgramBind', () => {
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

