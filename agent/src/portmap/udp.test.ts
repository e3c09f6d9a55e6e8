import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import { FakeClock } from '../clock/clock.ts';
import { isConegateError } from '../errors.ts';
import { natpmpExternalAddress, natpmpMap, NatpmpError } from './natpmp.ts';
import { pcpAnnounce } from './pcp.ts';
import { natpmpSchedule } from './schedule.ts';
import { encodePmpResponse, PmpResult } from '../pmp/codec.ts';

/** A UDP "gateway" on loopback that hands each datagram to a script (which may answer through reply). */
async function server(onMessage: (msg: Buffer, reply: (b: Uint8Array, from?: Socket) => void) => void): Promise<{ port: number; got: Buffer[]; close: () => void; other: Socket }> {
  const sock = createSocket('udp4');
  const other = createSocket('udp4');
  const got: Buffer[] = [];
  sock.on('message', (msg, rinfo) => {
    got.push(msg);
    onMessage(msg, (b, from = sock) => from.send(b, rinfo.port, rinfo.address));
  });
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
  await new Promise<void>((r) => other.bind(0, '127.0.0.1', () => r()));
  return { port: sock.address().port, got, other, close: () => (sock.close(), other.close()) };
}

async function until(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 400 && !cond(); i++) await new Promise((r) => setTimeout(r, 5));
  assert.ok(cond(), 'condition not reached');
}

test('udp: NAT-PMP retransmits on the RFC 6886 schedule, then gives up with CG_TIMEOUT', async () => {
  const srv = await server(() => undefined);
  const clock = new FakeClock();
  try {
    const p = natpmpExternalAddress({ gateway: '127.0.0.1', port: srv.port, clock, schedule: natpmpSchedule(4) });
    const outcome = p.then(() => 'resolved', (e: unknown) => (isConegateError(e) ? e.code : 'other'));
    await until(() => srv.got.length === 1);
    for (const [step, expected] of [[249, 1], [1, 2], [500, 3], [1000, 4]] as const) {
      clock.advance(step);
      await until(() => srv.got.length === expected);
    }
    clock.advance(2000);
    assert.equal(await outcome, 'CG_TIMEOUT');
    assert.equal(srv.got.length, 4);
    assert.equal(clock.pendingTimers(), 0);
  } finally {
    srv.close();
  }
});

test('udp: junk, a 3-byte reply, replies from another port and the wrong opcode are ignored; the right one wins', async () => {
  const good = encodePmpResponse({ kind: 'publicAddress', result: PmpResult.SUCCESS, epochSec: 77, externalAddress: Uint8Array.of(203, 0, 113, 9) });
  const srv = await server((_m, reply) => {
    reply(Uint8Array.of(0, 0x80, 0)); // the short reply that crashes the npm nat-pmp package
    reply(new Uint8Array(64).fill(0xff));
    reply(good, srv.other); // right bytes, wrong source port: a connected socket never sees it
    reply(encodePmpResponse({ kind: 'map', protocol: 'udp', result: 0, epochSec: 1, internalPort: 1, externalPort: 1, lifetimeSec: 1 }));
    reply(good);
  });
  try {
    const r = await natpmpExternalAddress({ gateway: '127.0.0.1', port: srv.port, clock: new FakeClock(), schedule: natpmpSchedule(1) });
    assert.deepEqual({ externalAddress: r.externalAddress, epochSec: r.epochSec }, { externalAddress: '203.0.113.9', epochSec: 77 });
  } finally {
    srv.close();
  }
});

test('udp: a NAT-PMP result code is an error with that code; an 8-byte error answer too', async () => {
  const srv = await server((m, reply) => {
    reply(encodePmpResponse({ kind: 'error', opcode: m[1]!, result: PmpResult.NOT_AUTHORIZED, epochSec: 5 }));
  });
  try {
    await assert.rejects(
      natpmpMap({ protocol: 'udp', internalPort: 5000, suggestedExternalPort: 5000, lifetimeSec: 60 }, { gateway: '127.0.0.1', port: srv.port, clock: new FakeClock(), schedule: natpmpSchedule(1) }),
      (e: unknown) => e instanceof NatpmpError && e.result === PmpResult.NOT_AUTHORIZED,
    );
  } finally {
    srv.close();
  }
});

test('udp: a closed port (ICMP unreachable) fails fast as CG_NETWORK, without waiting for the schedule', async () => {
  const srv = await server(() => undefined);
  const port = srv.port;
  srv.close();
  await assert.rejects(pcpAnnounce({ gateway: '127.0.0.1', port, clock: new FakeClock() }), (e: unknown) => isConegateError(e) && e.code === 'CG_NETWORK');
});
