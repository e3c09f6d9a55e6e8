import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConegateError } from '../errors.ts';
import type { UdpBind, UdpEndpoint } from './bind.ts';
import { canonicalIp, sameEndpoint } from './bind.ts';
import { openDgramBind } from './dgram-bind.ts';
import { MemoryNetwork } from './memory-bind.ts';

/** One compliance suite for every UdpBind implementation. */
function compliance(name: string, open: (address: string) => Promise<UdpBind>, addrs: [string, string]): void {
  test(`${name}: datagrams reach every handler with the sender's address; removed handlers and closed binds hear nothing`, async () => {
    const a = await open(addrs[0]);
    const b = await open(addrs[1]);
    try {
      assert.ok(a.local.port > 0);
      const got: [string, UdpEndpoint][] = [];
      const second: string[] = [];
      const wait = new Promise<void>((resolve) => {
        b.onMessage((bytes, from) => {
          got.push([Buffer.from(bytes).toString(), from]);
          if (got.length === 2) resolve();
        });
      });
      const remove = b.onMessage((bytes) => second.push(Buffer.from(bytes).toString()));
      remove();
      await a.send(Buffer.from('one'), b.local.address, b.local.port);
      await a.send(Buffer.from('two'), b.local.address, b.local.port);
      await wait;
      assert.deepEqual(got.map((g) => g[0]).sort(), ['one', 'two']);
      assert.ok(sameEndpoint(got[0]![1], a.local));
      assert.deepEqual(second, []);
    } finally {
      await a.close();
      await a.close();
      await b.close();
    }
    await assert.rejects(a.send(new Uint8Array(1), addrs[1], 9), (e: unknown) => e instanceof ConegateError && e.code === 'CG_NETWORK');
  });
}

const net = new MemoryNetwork();
compliance('memory bind', async (a) => net.bind(a), ['192.0.2.1', '198.51.100.1']);
compliance('dgram bind (IPv4 loopback)', (a) => openDgramBind(a), ['127.0.0.1', '127.0.0.1']);
compliance('dgram bind (IPv6 loopback)', (a) => openDgramBind(a), ['::1', '::1']);

test('canonicalIp folds IPv4-mapped IPv6 and IPv6 spelling', () => {
  assert.equal(canonicalIp('::ffff:192.0.2.1'), '192.0.2.1');
  assert.equal(canonicalIp('2001:DB8:0:0::1'), '2001:db8::1');
  assert.ok(sameEndpoint({ address: '::ffff:c000:201', port: 1 }, { address: '192.0.2.1', port: 1 }));
});
