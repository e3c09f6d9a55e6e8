/**
 * A UAPI set is all or nothing (as wireguard-go): a busy listen_port, or a fwmark the bind cannot
 * apply, fails with an errno and leaves the private key, the port (still receiving), the mark and the
 * peers as they were. Run over the memory bind and the dgram bind (loopback).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import { FakeClock } from '../../clock/clock.ts';
import { createDevice } from '../device.ts';
import { generatePrivateKey, publicKey } from '../keys.ts';
import { MemoryNetwork } from '../memory-bind.ts';
import { MemoryTun } from '../memory-tun.ts';
import type { Bind } from '../ports.ts';
import { DgramBind } from '../bind/dgram.ts';
import { DeviceUapiHost, type RebindableBind } from './host.ts';
import { parseSet, UAPI_ERRNO, UapiError } from './protocol.ts';

const hex = (k: Uint8Array) => Buffer.from(k).toString('hex');

function hostOver(bind: Bind & RebindableBind) {
  const key = generatePrivateKey();
  const device = createDevice({ privateKey: key }, { clock: new FakeClock(), bind, tun: new MemoryTun('t0', 1420) });
  device.start();
  return { host: new DeviceUapiHost({ device, bind, privateKey: key }), key, device };
}

/** A set that changes the key, adds a peer and asks for `port`: none of it may stick if the port fails. */
function bigSet(port: number, extra: string[] = []) {
  const peer = publicKey(generatePrivateKey());
  return parseSet([`private_key=${hex(generatePrivateKey())}`, `listen_port=${port}`, ...extra, `public_key=${hex(peer)}`, 'allowed_ip=10.9.0.2/32']);
}

async function errnoOf(p: Promise<void>): Promise<number> {
  try {
    await p;
    return 0;
  } catch (e) {
    assert.ok(e instanceof UapiError, String(e));
    return e.errno;
  }
}

describe('DeviceUapiHost: a failed set changes nothing', () => {
  it('memory bind: busy listen_port -> EADDRINUSE; key, port and peers unchanged; the old port still receives', async () => {
    const net = new MemoryNetwork();
    const bind = net.bind({ address: '192.0.2.1', port: 51820 });
    // The memory bind moves by endpoint (roaming); the UAPI moves it by port.
    const rebindable: Bind & RebindableBind = {
      get localPort() {
        return bind.localPort;
      },
      send: (p, to) => bind.send(p, to),
      onReceive: (h) => bind.onReceive(h),
      close: () => bind.close(),
      rebind: async (port: number) => bind.rebind({ address: bind.local.address, port }),
    };
    net.bind({ address: '192.0.2.1', port: 51821 }); // the busy port
    const { host, key } = hostOver(rebindable);
    const before = host.get();
    assert.equal(await errnoOf(host.set(bigSet(51821))), UAPI_ERRNO.EADDRINUSE);
    const after = host.get();
    assert.equal(after.listenPort, 51820);
    assert.deepEqual(after.privateKey, key);
    assert.deepEqual(after.peers, before.peers);
    let got = 0;
    bind.onReceive(() => got++);
    net.bind({ address: '192.0.2.9', port: 1 }).send(new Uint8Array([1]), { address: '192.0.2.1', port: 51820 });
    await net.idle();
    assert.equal(got, 1, 'still bound to the old port');
    // A fwmark the memory bind cannot apply is refused the same way.
    assert.equal(await errnoOf(host.set(parseSet(['fwmark=66', `private_key=${hex(generatePrivateKey())}`]))), UAPI_ERRNO.EOPNOTSUPP);
    assert.deepEqual(host.get().privateKey, key);
    // And a good set applies everything.
    assert.equal(await errnoOf(host.set(bigSet(51822))), 0);
    assert.equal(host.get().listenPort, 51822);
    assert.equal(host.get().peers.length, 1);
  });

  it('dgram bind: busy listen_port -> EADDRINUSE; the old socket stays open and receiving', async () => {
    const bind = await DgramBind.open({ port: 0, host4: '127.0.0.1', ipv4Only: true, sendMode: 'main' });
    const busy: Socket = createSocket('udp4');
    await new Promise<void>((resolve) => busy.bind(0, '127.0.0.1', () => resolve()));
    try {
      const { host, key } = hostOver(bind);
      const oldPort = bind.localPort;
      assert.equal(await errnoOf(host.set(bigSet(busy.address().port))), UAPI_ERRNO.EADDRINUSE);
      assert.equal(host.get().listenPort, oldPort);
      assert.equal(bind.localPort, oldPort);
      assert.deepEqual(host.get().privateKey, key);
      assert.equal(host.get().peers.length, 0);
      const received = new Promise<void>((resolve) => bind.onReceive(() => resolve()));
      busy.send(new Uint8Array([1]), oldPort, '127.0.0.1');
      await received;
      // Moving to a free port works, and the new socket receives.
      assert.equal(await errnoOf(host.set(parseSet(['listen_port=0']))), 0);
      assert.notEqual(bind.localPort, oldPort);
    } finally {
      busy.close();
      await bind.close();
    }
  });

  it('dgram bind: fwmark is applied to the sockets (SO_MARK), kept across a rebind, and reported', async (t) => {
    if (process.platform !== 'linux') return t.diagnostic('SO_MARK is Linux-only; elsewhere a non-zero fwmark is EOPNOTSUPP');
    const bind = await DgramBind.open({ port: 0, host4: '127.0.0.1', host6: '::1', sendMode: 'main' });
    try {
      const { host } = hostOver(bind);
      if (process.getuid?.() !== 0) {
        // Without CAP_NET_ADMIN the kernel refuses SO_MARK: EPERM, and nothing changes.
        assert.equal(await errnoOf(host.set(parseSet(['fwmark=4660']))), UAPI_ERRNO.EPERM);
        assert.equal(host.get().fwmark, 0);
        return;
      }
      assert.equal(await errnoOf(host.set(parseSet(['fwmark=4660']))), 0);
      assert.equal(host.get().fwmark, 4660);
      assert.ok(bind.socketMarks().every((m) => m === 4660), JSON.stringify(bind.socketMarks()));
      assert.equal(await errnoOf(host.set(parseSet(['listen_port=0']))), 0);
      assert.ok(bind.socketMarks().length > 0 && bind.socketMarks().every((m) => m === 4660));
      assert.equal(await errnoOf(host.set(parseSet(['fwmark=0']))), 0);
      assert.ok(bind.socketMarks().every((m) => m === 0));
    } finally {
      await bind.close();
    }
  });
});
