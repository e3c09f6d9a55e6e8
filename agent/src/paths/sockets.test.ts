/** One compliance suite for the SocketSet edge (node:dgram on loopback) and its memory twin. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { waitFor } from '../node/testkit-net.ts';
import { DgramBind } from '../wg/bind/dgram.ts';
import { MemoryNetwork } from '../wg/memory-bind.ts';
import type { Endpoint } from '../wg/ports.ts';
import { MemorySocketSet } from './memory-sockets.ts';
import { DgramSocketSet, type SocketSetEdge } from './sockets.ts';
import { MESH_SOCKET, type SocketId } from './types.ts';

interface Impl {
  name: string;
  /** Two socket sets that can reach each other, and each one's mesh address. */
  make(): Promise<{ a: SocketSetEdge; b: SocketSetEdge; aAt: Endpoint; bAt: Endpoint; extraAddress: string; done: () => Promise<void> }>;
}

const impls: Impl[] = [
  {
    name: 'memory',
    async make() {
      const net = new MemoryNetwork();
      const aAt = { address: '192.0.2.1', port: 41641 };
      const bAt = { address: '192.0.2.2', port: 41641 };
      const a = new MemorySocketSet(net, aAt);
      const b = new MemorySocketSet(net, bAt);
      return { a, b, aAt, bAt, extraAddress: aAt.address, done: async () => { await a.close(); await b.close(); } };
    },
  },
  {
    name: 'dgram',
    async make() {
      const ba = await DgramBind.open({ port: 0, host4: '127.0.0.1', ipv4Only: true, sendMode: 'main' });
      const bb = await DgramBind.open({ port: 0, host4: '127.0.0.1', ipv4Only: true, sendMode: 'main' });
      const a = new DgramSocketSet(ba);
      const b = new DgramSocketSet(bb);
      return {
        a, b, aAt: { address: '127.0.0.1', port: ba.localPort }, bAt: { address: '127.0.0.1', port: bb.localPort }, extraAddress: '127.0.0.1',
        done: async () => { await a.close(); await b.close(); await ba.close(); await bb.close(); },
      };
    },
  },
];

for (const impl of impls) {
  test(`${impl.name}: datagrams are tagged with the socket they arrived on; extra sockets open, send, receive and close`, async () => {
    const { a, b, aAt, bAt, extraAddress, done } = await impl.make();
    try {
      const got: { text: string; from: Endpoint; socket: SocketId }[] = [];
      b.onReceive((p, from, socket) => got.push({ text: Buffer.from(p).toString(), from, socket }));
      const atA: { text: string; socket: SocketId }[] = [];
      a.onReceive((p, _from, socket) => atA.push({ text: Buffer.from(p).toString(), socket }));
      a.send(MESH_SOCKET, Buffer.from('hello'), bAt);
      await waitFor(() => got.length === 1, 'mesh datagram');
      assert.deepEqual(got[0], { text: 'hello', from: aAt, socket: MESH_SOCKET });
      assert.equal(a.localPort(MESH_SOCKET), aAt.port);

      const ids = await a.openExtra(3);
      assert.equal(ids.length, 3);
      assert.ok(!ids.includes(MESH_SOCKET));
      const ports = ids.map((id) => a.localPort(id));
      assert.ok(ports.every((p) => typeof p === 'number' && p > 0 && p !== aAt.port));
      a.send(ids[1]!, Buffer.from('from-extra'), bAt);
      await waitFor(() => got.length === 2, 'extra datagram');
      assert.deepEqual(got[1], { text: 'from-extra', from: { address: extraAddress, port: ports[1] }, socket: MESH_SOCKET });
      b.send(MESH_SOCKET, Buffer.from('to-extra'), { address: extraAddress, port: ports[2]! });
      await waitFor(() => atA.length === 1, 'reply on the extra socket');
      assert.deepEqual(atA[0], { text: 'to-extra', socket: ids[2] });

      const errors: { socket: SocketId; code: string }[] = [];
      a.onSendError((socket, _to, code) => errors.push({ socket, code }));
      a.closeExtra([ids[0]!, ids[1]!, MESH_SOCKET]);
      assert.equal(a.localPort(ids[0]!), undefined);
      assert.equal(a.localPort(MESH_SOCKET), aAt.port, 'the mesh socket is never closed as an extra');
      a.send(ids[0]!, Buffer.from('x'), bAt);
      assert.deepEqual(errors, [{ socket: ids[0], code: 'no-socket' }]);
    } finally {
      await done();
    }
  });
}

test('dgram: a send to an address family without a socket is reported at once', async () => {
  const bind = await DgramBind.open({ port: 0, host4: '127.0.0.1', ipv4Only: true, sendMode: 'main' });
  const s = new DgramSocketSet(bind);
  try {
    const errors: string[] = [];
    s.onSendError((_s, to, code) => errors.push(`${to.address} ${code}`));
    s.send(MESH_SOCKET, new Uint8Array(4), { address: '2001:db8::1', port: 1 });
    assert.deepEqual(errors, ['2001:db8::1 unreachable']);
  } finally {
    await s.close();
    await bind.close();
  }
});
