// One compliance suite for both socket sets: node:dgram on loopback and the memory twin.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryNetwork } from '../wg/memory-bind.ts';
import { seededRandom } from '../wg/testbed.ts';
import type { Endpoint } from '../wg/ports.ts';
import { DgramSocketSet, MemorySocketSet } from './birthday-sockets.ts';
import { MESH_SOCKET, type SocketId } from './types.ts';

interface Impl {
  name: string;
  make(): Promise<{ a: DgramSocketSet | MemorySocketSet; b: DgramSocketSet | MemorySocketSet; addr: string; settle(): Promise<void> }>;
}

const impls: Impl[] = [
  {
    name: 'dgram',
    async make() {
      const a = await DgramSocketSet.open('127.0.0.1', 0);
      const b = await DgramSocketSet.open('127.0.0.1', 0);
      return { a, b, addr: '127.0.0.1', settle: () => Promise.resolve() };
    },
  },
  {
    name: 'memory',
    async make() {
      const net = new MemoryNetwork();
      const a = new MemorySocketSet(net, { address: '192.0.2.1', port: 41641 }, seededRandom('a'));
      const b = new MemorySocketSet(net, { address: '192.0.2.1', port: 41642 }, seededRandom('b'));
      return { a, b, addr: '192.0.2.1', settle: () => net.idle() };
    },
  },
];

/** Resolves when `want` datagrams arrived (bounded: rejects after 5 s). */
function collect(set: DgramSocketSet | MemorySocketSet, want: number): Promise<{ packet: string; from: Endpoint; socket: SocketId }[]> {
  const got: { packet: string; from: Endpoint; socket: SocketId }[] = [];
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`only ${got.length} of ${want} datagrams arrived`)), 5000);
    set.onReceive((p, from, socket) => {
      got.push({ packet: Buffer.from(p).toString(), from, socket });
      if (got.length === want) {
        clearTimeout(t);
        resolve(got);
      }
    });
  });
}

for (const impl of impls) {
  describe(`SocketSet (${impl.name})`, () => {
    test('extra sockets get distinct ports, send and receive tagged with their id, and close', async () => {
      const { a, b, addr } = await impl.make();
      try {
        const ids = await a.openExtra(3);
        assert.equal(ids.length, 3);
        assert.ok(!ids.includes(MESH_SOCKET));
        const ports = ids.map((id) => a.localPort(id));
        assert.equal(new Set([a.localPort(MESH_SOCKET), ...ports]).size, 4);
        const bTo = { address: addr, port: b.localPort(MESH_SOCKET)! };
        const atB = collect(b, 3);
        for (const id of ids) a.send(id, Buffer.from(`from ${id}`), bTo);
        const got = await atB;
        assert.deepEqual(got.map((g) => g.from.port).sort(), ports.slice().sort());
        assert.ok(got.every((g) => g.socket === MESH_SOCKET));
        // B answers each source; A sees the answer on the socket that sent.
        const atA = collect(a, 3);
        for (const g of got) b.send(MESH_SOCKET, Buffer.from(`re ${g.packet}`), g.from);
        const back = await atA;
        assert.ok(back.every((r) => r.packet === `re from ${r.socket}`));
        a.closeExtra([ids[0]!]);
        assert.equal(a.localPort(ids[0]!), undefined);
        assert.equal(a.extraCount(), 2);
        a.send(ids[0]!, Buffer.from('x'), bTo);
        assert.equal(a.counters.sendErrors, 1);
        assert.equal(a.counters.sent, 3);
      } finally {
        a.close();
        b.close();
      }
    });

    test('at most 256 extra sockets per call, and none after close', async () => {
      const { a, b } = await impl.make();
      try {
        const ids = await a.openExtra(300);
        assert.equal(ids.length, 256);
        assert.equal(a.extraCount(), 256);
        a.closeExtra(ids);
        assert.equal(a.extraCount(), 0);
        a.close();
        assert.deepEqual(await a.openExtra(2), []);
        a.close();
      } finally {
        a.close();
        b.close();
      }
    });
  });
}
