// RFC 6886 (NAT-PMP) section 3, clause by clause, against the whole server (core on a FakeClock and
// the memory backend). Each title names the section and the requirement; where the RFC says SHOULD or
// leaves room, the title says what we chose.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PmpResult, decodePmpResponse, encodePmpRequest, type PmpResponse } from '../pmp/codec.ts';
import { LAN, makeCore, type TestCore } from './testkit.ts';

const B = { address: '192.168.1.11', port: 40002 };
const bytes = (hex: string) => new Uint8Array(Buffer.from(hex.replaceAll(' ', ''), 'hex'));

async function map(t: TestCore, protocol: 'udp' | 'tcp', internalPort: number, suggested: number, lifetimeSec: number, src = LAN) {
  const out = await t.core.handle(encodePmpRequest({ kind: 'map', protocol, internalPort, suggestedExternalPort: suggested, lifetimeSec }), src);
  assert.ok(out, 'expected an answer');
  const r = decodePmpResponse(out);
  assert.equal(r.kind, 'map');
  return r as Extract<PmpResponse, { kind: 'map' }>;
}

async function started(...a: Parameters<typeof makeCore>): Promise<TestCore> {
  const t = makeCore(...a);
  await t.core.start();
  return t;
}

test('RFC 6886 3: a version other than 0 gets result 1 with the highest version we speak (we speak PCP too, so PCP version 2, RFC 6887 9)', async () => {
  const t = await started();
  const out = (await t.core.handle(bytes('0100'), LAN))!;
  assert.equal(out[0], 2, 'highest supported version');
  assert.equal(out[3], 1, 'UNSUPP_VERSION / Unsupported Version');
  await t.core.stop();
});

test('RFC 6886 3.2: the public address response is 12 octets: version 0, op 128, result, SSSoE, external IPv4', async () => {
  const t = await started();
  t.clock.advance(3000);
  const out = (await t.core.handle(bytes('0000'), LAN))!;
  assert.equal(Buffer.from(out).toString('hex'), '00800000' + '00000003' + 'cb007101');
  await t.core.stop();
});

test('RFC 6886 3.2: with a non-zero result the external address MUST be zero', async () => {
  const t = await started({}, null);
  const r = decodePmpResponse((await t.core.handle(bytes('0000'), LAN))!);
  assert.deepEqual(r, { kind: 'publicAddress', result: PmpResult.NETWORK_FAILURE, epochSec: 0, externalAddress: new Uint8Array(4) });
  await t.core.stop();
});

test('RFC 6886 3.2.1: at start 10 gratuitous responses to 224.0.0.1:5350, 250 ms then doubling, SSSoE current in each', async () => {
  const t = await started();
  t.clock.advance(200_000);
  const pmp = t.sent.filter((s) => s.a.protocol === 'pmp');
  assert.equal(pmp.length, 10);
  assert.ok(pmp.every((s) => s.a.group === '224.0.0.1' && s.a.port === 5350));
  const start = pmp[0]!.atMs;
  assert.deepEqual(pmp.map((s) => s.atMs - start), [0, 250, 750, 1750, 3750, 7750, 15750, 31750, 63750, 127750]);
  for (const s of pmp) {
    const r = decodePmpResponse(s.packet);
    assert.equal(r.kind, 'publicAddress');
    assert.equal(r.epochSec, Math.floor((s.atMs - start) / 1000));
  }
  await t.core.stop();
});

test('RFC 6886 3.2.1: acquiring an external address after start is announced at once', async () => {
  const t = await started({}, null);
  t.clock.advance(200_000);
  t.sent.length = 0;
  await t.core.setExternalAddress('203.0.113.9');
  t.clock.advance(0);
  const first = t.sent.find((s) => s.a.protocol === 'pmp');
  assert.ok(first, 'announced');
  assert.deepEqual(decodePmpResponse(first.packet), { kind: 'publicAddress', result: 0, epochSec: 200, externalAddress: Uint8Array.of(203, 0, 113, 9) });
  await t.core.stop();
});

test('RFC 6886 3.2.1, 3.6: a changed external address loses the mappings: SSSoE back to 0 and announced', async () => {
  const t = await started();
  await map(t, 'udp', 5000, 5000, 3600);
  t.clock.advance(50_000);
  t.sent.length = 0;
  await t.core.setExternalAddress('203.0.113.9');
  t.clock.advance(0);
  const first = t.sent.find((s) => s.a.protocol === 'pmp')!;
  assert.deepEqual(decodePmpResponse(first.packet), { kind: 'publicAddress', result: 0, epochSec: 0, externalAddress: Uint8Array.of(203, 0, 113, 9) });
  assert.equal(t.core.table.size, 0);
  await t.core.stop();
});

test('RFC 6886 3.3: the response op is 128 + the request op, and UDP and TCP mappings are created alone', async () => {
  const t = await started();
  const u = (await t.core.handle(encodePmpRequest({ kind: 'map', protocol: 'udp', internalPort: 6000, suggestedExternalPort: 6000, lifetimeSec: 600 }), LAN))!;
  const c = (await t.core.handle(encodePmpRequest({ kind: 'map', protocol: 'tcp', internalPort: 6001, suggestedExternalPort: 6001, lifetimeSec: 600 }), LAN))!;
  assert.deepEqual([u[1], c[1]], [129, 130]);
  assert.deepEqual((await t.backend.list()).map((m) => `${m.transport}/${m.externalPort}`).sort(), ['tcp/6001', 'udp/6000']);
  await t.core.stop();
});

test('RFC 6886 3.3: the companion port stays reserved: TCP 8080 held by A, so B cannot get UDP 8080', async () => {
  const t = await started();
  assert.equal((await map(t, 'tcp', 8080, 8080, 600)).externalPort, 8080);
  const b = await map(t, 'udp', 8080, 8080, 600, B);
  assert.equal(b.result, 0);
  assert.notEqual(b.externalPort, 8080, 'another port is chosen for B');
  assert.equal((await map(t, 'udp', 8080, 8080, 600)).externalPort, 8080, 'A itself may map its companion port');
  await t.core.stop();
});

test('RFC 6886 3.3: the companion port is reserved for the scan too (no free port that is a companion of another host)', async () => {
  const t = await started({ policy: { externalPorts: { from: 30000, to: 30001 } } });
  assert.equal((await map(t, 'tcp', 30000, 30000, 600)).externalPort, 30000);
  assert.equal((await map(t, 'tcp', 30001, 30001, 600)).externalPort, 30001);
  const b = await map(t, 'udp', 30000, 0, 600, B);
  assert.deepEqual([b.result, b.externalPort, b.lifetimeSec], [PmpResult.OUT_OF_RESOURCES, 0, 0]);
  await t.core.stop();
});

test('RFC 6886 3.3: a taken suggested port gets another available port', async () => {
  const t = await started();
  await map(t, 'udp', 7000, 7000, 600);
  const b = await map(t, 'udp', 7000, 7000, 600, B);
  assert.equal(b.result, 0);
  assert.notEqual(b.externalPort, 7000);
  await t.core.stop();
});

test('RFC 6886 3.3: a repeated request for a mapped internal port returns the already-assigned external port', async () => {
  const t = await started();
  const first = await map(t, 'udp', 7100, 0, 600);
  const again = await map(t, 'udp', 7100, 9999, 600);
  assert.equal(again.externalPort, first.externalPort);
  await t.core.stop();
});

test('RFC 6886 3.3: the source address is the internal address of the mapping', async () => {
  const t = await started();
  await map(t, 'udp', 7200, 7200, 600, B);
  assert.equal((await t.backend.list())[0]!.internalAddress, B.address);
  await t.core.stop();
});

test('RFC 6886 3.3: MAY reduce the lifetime (capped at pmp.maxLifetimeSec); SHOULD NOT exceed the request: we do raise it to pmp.minLifetimeSec against churn', async () => {
  const t = await started();
  assert.equal((await map(t, 'udp', 7300, 0, 999_999)).lifetimeSec, 7200);
  assert.equal((await map(t, 'udp', 7301, 0, 5)).lifetimeSec, 120);
  assert.equal((await map(t, 'udp', 7302, 0, 600)).lifetimeSec, 600);
  await t.core.stop();
});

test('RFC 6886 3.4: a deletion answers result 0, the internal port, external port 0, lifetime 0; a missing mapping gets the same answer', async () => {
  const t = await started();
  await map(t, 'udp', 7400, 7400, 600);
  const del = await map(t, 'udp', 7400, 1234, 0);
  assert.deepEqual([del.result, del.internalPort, del.externalPort, del.lifetimeSec], [0, 7400, 0, 0]);
  assert.deepEqual(await t.backend.list(), []);
  const again = await map(t, 'udp', 7400, 1234, 0);
  assert.deepEqual(again, del);
  await t.core.stop();
});

test('RFC 6886 3.4: internal port 0 with lifetime 0 deletes all of the client\'s mappings of that protocol, answer with internal port 0', async () => {
  const t = await started();
  await map(t, 'udp', 7500, 0, 600);
  await map(t, 'udp', 7501, 0, 600);
  await map(t, 'tcp', 7502, 0, 600);
  await map(t, 'udp', 7503, 0, 600, B);
  const all = await map(t, 'udp', 0, 0, 0);
  assert.deepEqual([all.result, all.internalPort, all.externalPort, all.lifetimeSec], [0, 0, 0, 0]);
  assert.deepEqual((await t.backend.list()).map((m) => `${m.transport}/${m.internalAddress}/${m.internalPort}`).sort(), ['tcp/192.168.1.10/7502', 'udp/192.168.1.11/7503']);
  await t.core.stop();
});

test('RFC 6886 3.4: a mapping not renewed is deleted when its lifetime runs out', async () => {
  const t = await started();
  await map(t, 'udp', 7600, 0, 300);
  t.clock.advance(300_000);
  await t.core.idle();
  assert.deepEqual(await t.backend.list(), []);
  await t.core.stop();
});

test('RFC 6886 3.5: an opcode of 128 or more is a response and MUST be silently ignored', async () => {
  const t = await started();
  assert.equal(await t.core.handle(bytes('0080'), LAN), undefined);
  assert.equal(await t.core.handle(bytes('0081 0000 00000000 0000 0000'), LAN), undefined);
  await t.core.stop();
});

test('RFC 6886 3.5: an unsupported opcode below 128 gets the entire request back, top bit set, result 5 (SSSoE in its usual place, 3.6)', async () => {
  const t = await started();
  t.clock.advance(7000);
  const req = bytes('0003 abcd 1111 2222 33334444 5555 6666');
  const out = (await t.core.handle(req, LAN))!;
  assert.equal(out.length, req.length, 'the entire request');
  assert.equal(Buffer.from(out.subarray(0, 8)).toString('hex'), '0083' + '0005' + '00000007');
  assert.deepEqual(out.subarray(8), req.subarray(8), 'the rest of the request as sent');
  // A bare two-octet request still gets room for the result code and SSSoE.
  const short = (await t.core.handle(bytes('007f'), LAN))!;
  assert.equal(Buffer.from(short).toString('hex'), '00ff' + '0005' + '00000007');
  assert.deepEqual(decodePmpResponse(short), { kind: 'error', opcode: 0x7f, result: PmpResult.UNSUPPORTED_OPCODE, epochSec: 7 });
  await t.core.stop();
});

test('RFC 6886 3.5: a refused mapping MUST carry the requested internal port, external port 0, lifetime 0 and a correct SSSoE', async () => {
  const t = await started({ policy: { internalPorts: { from: 10000, to: 20000 } } });
  t.clock.advance(4000);
  const r = await map(t, 'udp', 5000, 5000, 600);
  assert.deepEqual(r, { kind: 'map', protocol: 'udp', result: PmpResult.NOT_AUTHORIZED, epochSec: 4, internalPort: 5000, externalPort: 0, lifetimeSec: 0 });
  await t.core.stop();
});

test('RFC 6886 3.5: no external address is result 3 (Network Failure)', async () => {
  const t = await started({}, null);
  assert.equal((await map(t, 'udp', 5000, 5000, 600)).result, PmpResult.NETWORK_FAILURE);
  await t.core.stop();
});

test('RFC 6886 3.5: the global mapping cap (pmp.maxMappings) answers result 4 (Out of resources)', async () => {
  const t = await started({ policy: { maxMappings: 2 } });
  await map(t, 'udp', 8000, 0, 600);
  await map(t, 'udp', 8001, 0, 600, B);
  const r = await map(t, 'udp', 8002, 0, 600, { address: '192.168.1.12', port: 1 });
  assert.deepEqual([r.result, r.externalPort, r.lifetimeSec], [PmpResult.OUT_OF_RESOURCES, 0, 0]);
  assert.equal((await map(t, 'udp', 8000, 0, 600)).result, 0, 'renewing an existing mapping is not refused');
  await t.core.stop();
});

test('RFC 6886 3.6: SSSoE counts seconds since the table was initialised and restarts at 0 when the table is lost', async () => {
  const t = await started();
  await map(t, 'udp', 8100, 8100, 3600);
  t.clock.advance(90_000);
  assert.equal((await map(t, 'udp', 8100, 8100, 3600)).epochSec, 90);
  await t.backend.flush();
  await t.core.checkBackend();
  assert.equal(decodePmpResponse((await t.core.handle(bytes('0000'), LAN))!).epochSec, 0);
  await t.core.stop();
});

test('RFC 6886 3.3: MUST NOT accept requests on the external interface or to the external address: a LAN on the WAN is refused at start', async () => {
  const { resolveLan } = await import('./setup.ts');
  const ifs = {
    lan0: [{ address: '192.168.1.1', netmask: '', family: 'IPv4', mac: '', internal: false, cidr: '192.168.1.1/24' }],
    wan0: [{ address: '203.0.113.5', netmask: '', family: 'IPv4', mac: '', internal: false, cidr: '203.0.113.5/24' }],
  } as unknown as Parameters<typeof resolveLan>[1];
  for (const spec of ['wan0', '203.0.113.5', '0.0.0.0', '0.0.0.0/0']) assert.throws(() => resolveLan([spec], ifs, { wan: 'wan0' }), { code: 'CG_CONFIG_INVALID' }, spec);
  assert.deepEqual(resolveLan(['lan0'], ifs, { wan: 'wan0' }).map((l) => l.address), ['192.168.1.1']);
});
