import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import { FakeClock } from '../clock/clock.ts';
import { silentLogger } from '../log/logger.ts';
import { MemoryBackend } from '../fw/memory.ts';
import { parseCidr } from '../net/ip.ts';
import { decodePmpResponse, encodePmpRequest } from '../pmp/codec.ts';
import { PmpServer } from './server.ts';
import { defaultPolicy } from './testkit.ts';
import { resolveLan, wanSource } from './setup.ts';

/** Sends from a given local address and returns the answer, or null after a bounded wait. */
async function ask(from: string, to: number, packet: Uint8Array): Promise<Uint8Array | null> {
  const s = createSocket('udp4');
  s.bind(0, from);
  await once(s, 'listening');
  try {
    const got = once(s, 'message').then(([m]) => new Uint8Array(m as Buffer));
    s.send(packet, to, '127.0.0.1');
    return await Promise.race([got, new Promise<null>((r) => setTimeout(() => r(null), 500))]);
  } finally {
    s.close();
  }
}

test('server on loopback: answers its LAN subnet, ignores other sources, stop() closes everything', async () => {
  const clock = new FakeClock();
  const server = new PmpServer(
    { lan: [{ address: '127.0.0.1', prefixLen: 32 }], port: 0, policy: defaultPolicy({ allow: [parseCidr('127.0.0.1/32')!] }) },
    { clock, log: silentLogger(), backend: new MemoryBackend(), wan: () => '203.0.113.7', watch: { start: () => undefined, stop: () => undefined } },
  );
  await server.start();
  const port = server.port();
  const ok = await ask('127.0.0.1', port, encodePmpRequest({ kind: 'publicAddress' }));
  assert.ok(ok);
  assert.deepEqual(decodePmpResponse(ok), { kind: 'publicAddress', result: 0, epochSec: 0, externalAddress: Uint8Array.of(203, 0, 113, 7) });
  // 127.0.0.2 is outside the /32 "LAN": no answer at all.
  assert.equal(await ask('127.0.0.2', port, encodePmpRequest({ kind: 'publicAddress' })), null);
  assert.equal(server.ignored, 1);
  await server.stop();
  await server.stop();
  assert.equal(clock.pendingTimers(), 0);
});

test('setup: LAN and WAN specs resolve from interface data; bad ones are config errors', () => {
  const ifs = {
    lan0: [{ address: '192.168.1.1', netmask: '255.255.255.0', family: 'IPv4', mac: '', internal: false, cidr: '192.168.1.1/24' }],
    wan0: [{ address: '203.0.113.5', netmask: '255.255.255.0', family: 'IPv4', mac: '', internal: false, cidr: '203.0.113.5/24' }],
  } as unknown as ReturnType<typeof import('node:os').networkInterfaces>;
  assert.deepEqual(resolveLan(['lan0'], ifs), [{ address: '192.168.1.1', prefixLen: 24, ifname: 'lan0' }]);
  assert.deepEqual(resolveLan(['192.168.1.1'], ifs), [{ address: '192.168.1.1', prefixLen: 24, ifname: 'lan0' }]);
  assert.deepEqual(resolveLan(['192.168.1.1/25'], ifs), [{ address: '192.168.1.1', prefixLen: 25, ifname: 'lan0' }]);
  assert.throws(() => resolveLan(['nope0'], ifs), { code: 'CG_CONFIG_INVALID' });
  assert.equal(wanSource('wan0', () => ifs)(), '203.0.113.5');
  assert.equal(wanSource('198.51.100.1')(), '198.51.100.1');
  assert.equal(wanSource('gone0', () => ifs)(), undefined);
});

test('server: a WAN address that appears after start is used at once, from the address monitor or from the next request, not the next poll', async () => {
  const clock = new FakeClock();
  let wan: string | undefined;
  let onChange: (() => void) | undefined;
  const server = new PmpServer(
    { lan: [{ address: '127.0.0.1', prefixLen: 32 }], port: 0, wanCheckMs: 3_600_000, policy: defaultPolicy({ allow: [parseCidr('127.0.0.1/32')!] }) },
    { clock, log: silentLogger(), backend: new MemoryBackend(), wan: () => wan, watch: { start: (cb) => void (onChange = cb), stop: () => undefined } },
  );
  await server.start();
  const port = server.port();
  const before = decodePmpResponse((await ask('127.0.0.1', port, encodePmpRequest({ kind: 'publicAddress' })))!);
  assert.equal(before.result, 3, 'no WAN yet: NETWORK_FAILURE');
  // The address comes up; nobody tells the server: the next request finds it.
  wan = '203.0.113.8';
  const after1 = decodePmpResponse((await ask('127.0.0.1', port, encodePmpRequest({ kind: 'publicAddress' })))!);
  assert.deepEqual(after1, { kind: 'publicAddress', result: 0, epochSec: 0, externalAddress: Uint8Array.of(203, 0, 113, 8) });
  // A change reported by the monitor is applied without waiting for the poll.
  wan = '203.0.113.9';
  onChange!();
  await server.core.idle();
  assert.equal(server.core.wanAddress(), '203.0.113.9');
  await server.stop();
  assert.equal(clock.pendingTimers(), 0);
});
