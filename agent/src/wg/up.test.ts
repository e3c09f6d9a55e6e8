/**
 * wgUp() end to end without root: two instances on loopback UDP with memory TUNs and UAPI sockets in a
 * temporary directory. A packet injected into one TUN comes out of the other; `get` over the socket
 * reports the peer; stop() removes the socket and closes everything.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '../log/logger.ts';
import { generatePrivateKey, keyToHex, publicKey } from './keys.ts';
import { MemoryTun } from './memory-tun.ts';
import { ipv4Packet } from './testbed.ts';
import { wgUp } from './up.ts';

function uapiGet(path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const c = createConnection(path);
    let got = '';
    c.setEncoding('utf8');
    c.on('data', (d: string) => {
      got += d;
      if (got.endsWith('\n\n')) {
        c.end();
        resolve(got);
      }
    });
    c.on('error', reject);
    c.write('get=1\n\n');
  });
}

describe('wgUp (memory TUN, loopback UDP)', () => {
  it('brings two interfaces up, carries a packet, reports over UAPI, and stops cleanly', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'cg-wgup-'));
    const ka = generatePrivateKey();
    const kb = generatePrivateKey();
    const tuns: Record<string, MemoryTun> = {};
    const opts = (name: string) => ({
      name,
      uapiDir: dir,
      log: silentLogger(),
      skipIfconfig: true,
      openTun: (n: string, mtu: number) => (tuns[n] = new MemoryTun(n, mtu)),
    });
    const b = await wgUp({ privateKey: kb, listenPort: 0, addresses: [], peers: [{ publicKey: publicKey(ka), allowedIps: ['100.64.5.1/32'] }] }, opts('cgtb'));
    const a = await wgUp(
      { privateKey: ka, listenPort: 0, addresses: [], peers: [{ publicKey: publicKey(kb), allowedIps: ['100.64.5.2/32'], endpoint: { host: '127.0.0.1', port: b.bind.localPort } }] },
      opts('cgta'),
    );
    try {
      const arrived = new Promise<Uint8Array>((resolve) => {
        tuns.cgtb!.onWrite = resolve;
      });
      const pkt = ipv4Packet('100.64.5.1', '100.64.5.2', 100);
      tuns.cgta!.inject(pkt);
      const got = await Promise.race([arrived, new Promise<undefined>((r) => setTimeout(() => r(undefined), 10_000))]);
      assert.deepEqual(got, pkt, 'the packet did not come out of the other interface');
      const text = await uapiGet(a.uapi.path);
      assert.match(text, new RegExp(`public_key=${keyToHex(publicKey(kb))}\n`));
      assert.match(text, new RegExp(`endpoint=127\\.0\\.0\\.1:${b.bind.localPort}\n`));
      assert.match(text, /last_handshake_time_sec=[1-9]\d*\n/);
      assert.match(text, /tx_bytes=[1-9]\d*\n/);
      assert.match(text, /errno=0\n\n$/);
    } finally {
      await a.stop();
      await b.stop();
      await a.stop();
    }
    await assert.rejects(stat(a.uapi.path));
    await rm(dir, { recursive: true, force: true });
  });
});
