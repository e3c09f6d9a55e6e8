import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket, type Socket, type RemoteInfo } from 'node:dgram';
import { createServer, connect, type Server } from 'node:net';
import fc from 'fast-check';
import { realClock } from '../../clock/clock.ts';
import { DecodeError, isConegateError } from '../../errors.ts';
import { classifyArrival, classifyReply, decodeNeutral, encodeNeutral, relayProbe, stunProbe, wireguardProbe, wireguardReply, MSG_ACK, MSG_CONTROL } from './wire.ts';
import { createResponder, type Responder } from './responder.ts';
import { runProbe } from './prober.ts';

let seq = 1000;
const deps = { clock: realClock, randomU32: () => seq++ };
const FAST = { attempts: 2, intervalMs: 20, timeoutMs: 800 };

test('wire: neutral messages round-trip and every probe classifies as its own kind', () => {
  const m = { type: MSG_ACK, kind: 'wireguard', nonce: 0xdeadbeef } as const;
  assert.deepEqual(decodeNeutral(encodeNeutral(m)), m);
  assert.deepEqual(classifyArrival(encodeNeutral({ type: MSG_CONTROL, kind: 'control', nonce: 7 })), { kind: 'control', nonce: 7 });
  assert.deepEqual(classifyArrival(stunProbe(11)), { kind: 'stun', nonce: 11 });
  assert.deepEqual(classifyArrival(wireguardProbe(12)), { kind: 'wireguard', nonce: 12 });
  assert.deepEqual(classifyArrival(relayProbe(13)), { kind: 'relay', nonce: 13 });
  assert.equal(wireguardProbe(12).length, 148, 'still exactly the initiation shape');
  assert.deepEqual(classifyReply(wireguardReply(12)), { ack: false, kind: 'wireguard', nonce: 12 });
  assert.equal(classifyArrival(encodeNeutral(m)), undefined, 'an ack is never taken for a probe');
  for (const bad of [new Uint8Array(3), new TextEncoder().encode('CGIPS2........'), Uint8Array.from([...new TextEncoder().encode('CGIPS1'), 9, 0, 0, 0, 0, 0])]) {
    assert.throws(() => decodeNeutral(bad), DecodeError);
  }
});

test('wire: property: classifiers never throw on any bytes', () => {
  fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), (b) => {
    classifyArrival(b);
    classifyReply(b);
  }), { numRuns: 5000 });
});

const cleanups: (() => Promise<void>)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

async function startResponder(): Promise<Responder> {
  const r = createResponder({ host: '127.0.0.1', port: 0 }, { clock: realClock });
  await r.start();
  cleanups.push(() => r.stop());
  return r;
}

test('probe through a clean path: every kind passes, the responder counted each arrival', async () => {
  const r = await startResponder();
  const report = await runProbe({ host: '127.0.0.1', port: r.port(), ...FAST }, deps);
  assert.deepEqual(report.results.map((x) => [x.kind, x.verdict]), [['stun', 'passes'], ['wireguard', 'passes'], ['relay', 'passes']]);
  assert.deepEqual(report.blocked, []);
  const s = r.stats();
  assert.equal(s.arrived.stun, 2);
  assert.equal(s.arrived.wireguard, 2);
  assert.equal(s.arrived.relay, 1);
});

/**
 * A loopback middlebox between prober and responder that drops what `drop` says (a stand-in for an
 * IPS, without namespaces). UDP both ways through two sockets; TCP piped unless dropTcpData.
 */
async function middlebox(target: number, drop: (b: Uint8Array, outbound: boolean) => boolean, dropTcpData = false): Promise<{ port: number }> {
  const front: Socket = createSocket('udp4');
  const back: Socket = createSocket('udp4');
  let client: RemoteInfo | undefined;
  front.on('message', (m, rinfo) => {
    client = rinfo;
    if (!drop(new Uint8Array(m), true)) back.send(m, target, '127.0.0.1');
  });
  back.on('message', (m) => {
    if (client && !drop(new Uint8Array(m), false)) front.send(m, client.port, client.address);
  });
  await new Promise<void>((r) => front.bind(0, '127.0.0.1', () => r()));
  await new Promise<void>((r) => back.bind(0, '127.0.0.1', () => r()));
  const port = front.address().port;
  const open = new Set<{ destroy(): void }>();
  const server: Server = createServer((s) => {
    const up = connect({ host: '127.0.0.1', port: target });
    open.add(s);
    open.add(up);
    s.on('error', () => up.destroy());
    up.on('error', () => s.destroy());
    if (!dropTcpData) s.pipe(up);
    else s.on('data', () => undefined);
    up.pipe(s);
  });
  await new Promise<void>((r, j) => {
    server.once('error', j);
    server.listen(port, '127.0.0.1', () => r());
  });
  cleanups.push(async () => {
    await new Promise<void>((r) => front.close(() => r()));
    await new Promise<void>((r) => back.close(() => r()));
    for (const c of open) c.destroy();
    await new Promise<void>((r) => server.close(() => r()));
  });
  return { port };
}

test('probe over IPv6 loopback: every kind passes', async () => {
  const r = createResponder({ host: '::1', port: 0 }, { clock: realClock });
  await r.start();
  cleanups.push(() => r.stop());
  const report = await runProbe({ host: '::1', port: r.port(), ...FAST }, deps);
  assert.equal(report.peer, `[::1]:${r.port()}`);
  assert.deepEqual(report.blocked, []);
});

const isWgInit = (b: Uint8Array) => b.length === 148 && b[0] === 1 && b[1] === 0 && b[2] === 0 && b[3] === 0;

test('a middlebox dropping WireGuard initiations: exactly wireguard is blocked, on the way out', async () => {
  const r = await startResponder();
  const mb = await middlebox(r.port(), (b, out) => out && isWgInit(b));
  const report = await runProbe({ host: '127.0.0.1', port: mb.port, ...FAST }, deps);
  assert.deepEqual(report.blocked, ['wireguard']);
  const wg = report.results.find((x) => x.kind === 'wireguard')!;
  assert.deepEqual([wg.verdict, wg.sent, wg.arrived], ['blocked', 2, 0]);
  assert.equal(r.stats().arrived.wireguard, 0);
});

test('a middlebox dropping STUN responses inbound and relay data: blocked-inbound and blocked', async () => {
  const r = await startResponder();
  const mb = await middlebox(r.port(), (b, out) => !out && b[0] === 0x01 && b[1] === 0x01, true);
  const report = await runProbe({ host: '127.0.0.1', port: mb.port, ...FAST }, deps);
  assert.deepEqual(report.results.map((x) => [x.kind, x.verdict]), [['stun', 'blocked-inbound'], ['wireguard', 'passes'], ['relay', 'blocked']]);
  assert.match(report.results[2]!.detail, /connected 2\/2 times but the ClientHello was never acked/);
});

test('no responder: the probe fails and sent nothing but neutral control packets', async () => {
  const silent = createSocket('udp4');
  const seen: Uint8Array[] = [];
  silent.on('message', (m) => seen.push(new Uint8Array(m)));
  await new Promise<void>((r) => silent.bind(0, '127.0.0.1', () => r()));
  cleanups.push(() => new Promise<void>((r) => silent.close(() => r())));
  await assert.rejects(runProbe({ host: '127.0.0.1', port: silent.address().port, attempts: 2, intervalMs: 20, timeoutMs: 100 }, deps), (e: unknown) => isConegateError(e) && e.code === 'CG_NETWORK');
  assert.equal(seen.length, 2);
  assert.ok(seen.every((b) => classifyArrival(b)?.kind === 'control'));
});

test('responder: stop is idempotent and frees the port', async () => {
  const r = createResponder({ host: '127.0.0.1', port: 0 }, { clock: realClock });
  await r.start();
  await r.start();
  const port = r.port();
  await r.stop();
  await r.stop();
  const again = createResponder({ host: '127.0.0.1', port }, { clock: realClock });
  await again.start();
  await again.stop();
});

test('responder: a taken TCP twin of the UDP port leaves no socket open (fixed port: error; port 0: another port)', async () => {
  // Take a TCP port, then ask for UDP+TCP on that port number: the TCP listen must fail.
  const blocker = createServer();
  await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', () => r()));
  cleanups.push(() => new Promise<void>((r) => blocker.close(() => r())));
  const port = (blocker.address() as { port: number }).port;
  const fixed = createResponder({ host: '127.0.0.1', port }, { clock: realClock });
  await assert.rejects(fixed.start(), (e: unknown) => isConegateError(e) && e.code === 'CG_NETWORK');
  // Nothing of the failed start stays bound: the same UDP port can be taken again at once.
  const probe = createSocket('udp4');
  await new Promise<void>((resolve, reject) => {
    probe.once('error', reject);
    probe.bind(port, '127.0.0.1', () => resolve());
  });
  await new Promise<void>((r) => probe.close(() => r()));
  await fixed.stop();
});
