import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, statSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { PmpResult, decodePmpResponse, encodePmpRequest, type PmpResponse } from '../pmp/codec.ts';
import { PcpResult, decodePcpResponse, encodePcpRequest, type PcpOption, type PcpRequest } from '../pcp/codec.ts';
import { parseIp, toMappedV6 } from '../net/ip.ts';
import { LAN, makeCore, type TestCore } from './testkit.ts';
import type { PmpPolicy } from './policy.ts';

const v6 = (s: string): Uint8Array => toMappedV6(parseIp(s)!.bytes);
const NONCE = Uint8Array.from({ length: 12 }, (_, i) => i + 1);

async function pmpMap(t: TestCore, protocol: 'udp' | 'tcp', internalPort: number, suggested: number, lifetimeSec: number, src = LAN) {
  const out = await t.core.handle(encodePmpRequest({ kind: 'map', protocol, internalPort, suggestedExternalPort: suggested, lifetimeSec }), src);
  assert.ok(out, 'expected an answer');
  const r = decodePmpResponse(out);
  assert.equal(r.kind, 'map');
  return r as Extract<PmpResponse, { kind: 'map' }>;
}

function pcpMap(over: { lifetimeSec?: number; protocol?: number; internalPort?: number; externalPort?: number; options?: PcpOption[]; client?: string; nonce?: Uint8Array; extAddr?: Uint8Array } = {}): Uint8Array {
  const req: PcpRequest = {
    opcode: 'map',
    lifetimeSec: over.lifetimeSec ?? 3600,
    clientAddress: v6(over.client ?? LAN.address),
    map: { nonce: over.nonce ?? NONCE, protocol: over.protocol ?? 17, internalPort: over.internalPort ?? 5555, externalPort: over.externalPort ?? 0, externalAddress: over.extAddr ?? new Uint8Array(16) },
    options: over.options ?? [],
  };
  return encodePcpRequest(req);
}

async function pcp(t: TestCore, b: Uint8Array, src = LAN) {
  const out = await t.core.handle(b, src);
  assert.ok(out, 'expected an answer');
  return decodePcpResponse(out);
}

test('nat-pmp public address, map, renew, delete, with the firewall following', async () => {
  const t = makeCore();
  await t.core.start();
  const pa = decodePmpResponse((await t.core.handle(encodePmpRequest({ kind: 'publicAddress' }), LAN))!);
  assert.deepEqual(pa, { kind: 'publicAddress', result: 0, epochSec: 0, externalAddress: Uint8Array.of(203, 0, 113, 1) });
  const m = await pmpMap(t, 'udp', 5555, 5555, 3600);
  assert.deepEqual([m.result, m.externalPort, m.lifetimeSec], [0, 5555, 3600]);
  assert.deepEqual((await t.backend.list()).map((r) => [r.transport, r.externalPort, r.internalAddress, r.internalPort, r.externalAddress]), [['udp', 5555, '192.168.1.10', 5555, '203.0.113.1']]);
  const adds = t.backend.calls.add;
  t.clock.advance(10_000);
  const renew = await pmpMap(t, 'udp', 5555, 5555, 3600);
  assert.equal(renew.externalPort, 5555);
  assert.equal(renew.epochSec, 10);
  assert.equal(t.backend.calls.add, adds, 'a renewal does not rewrite the firewall');
  const del = await pmpMap(t, 'udp', 5555, 0, 0);
  assert.deepEqual([del.result, del.externalPort, del.lifetimeSec], [0, 0, 0]);
  assert.deepEqual(await t.backend.list(), []);
  await t.core.stop();
  assert.equal(t.clock.pendingTimers(), 0);
});

test('nat-pmp: taken external port gives another one; delete-all by internal port 0', async () => {
  const t = makeCore();
  await t.core.start();
  const a = await pmpMap(t, 'tcp', 8080, 8080, 600);
  const b = await pmpMap(t, 'tcp', 8080, 8080, 600, { address: '192.168.1.11', port: 1 });
  assert.equal(a.externalPort, 8080);
  assert.notEqual(b.externalPort, 8080);
  await pmpMap(t, 'tcp', 9090, 0, 600);
  assert.equal(t.core.table.ofInternal(LAN.address).length, 2);
  const all = await pmpMap(t, 'tcp', 0, 0, 0);
  assert.equal(all.result, 0);
  assert.equal(t.core.table.ofInternal(LAN.address).length, 0);
  assert.equal(t.core.table.size, 1);
  await t.core.stop();
});

test('mappings expire on the monotonic clock and leave the firewall', async () => {
  const t = makeCore();
  await t.core.start();
  const m = await pmpMap(t, 'udp', 6000, 0, 200);
  assert.equal(m.lifetimeSec, 200);
  t.clock.advance(199_000);
  await t.core.idle();
  assert.equal((await t.backend.list()).length, 1);
  t.clock.advance(1_000);
  await t.core.idle();
  assert.deepEqual(await t.backend.list(), []);
  await t.core.stop();
});

test('lifetimes are clamped into [min, max]', async () => {
  const t = makeCore();
  await t.core.start();
  assert.equal((await pmpMap(t, 'udp', 6001, 0, 5)).lifetimeSec, 120);
  assert.equal((await pmpMap(t, 'udp', 6002, 0, 999_999)).lifetimeSec, 7200);
  await t.core.stop();
});

// Each policy rule refused with the RFC's named result code, for both protocols.
const POLICY_CASES: { name: string; policy?: Partial<PmpPolicy>; pmp?: [number, number, number, number, string?]; pcp?: Parameters<typeof pcpMap>[0]; src?: string; want: { pmp?: number; pcp?: number } }[] = [
  { name: 'client outside allowed subnets', src: '192.168.2.5', pmp: [17, 5000, 0, 600], pcp: { client: '192.168.2.5' }, want: { pmp: PmpResult.NOT_AUTHORIZED, pcp: PcpResult.NOT_AUTHORIZED } },
  { name: 'privileged internal port', policy: { internalPorts: { from: 1, to: 65535 } }, pmp: [6, 80, 0, 600], pcp: { internalPort: 80, protocol: 6 }, want: { pmp: PmpResult.NOT_AUTHORIZED, pcp: PcpResult.NOT_AUTHORIZED } },
  { name: 'internal port outside range', policy: { internalPorts: { from: 10000, to: 20000 } }, pmp: [17, 5000, 0, 600], pcp: { internalPort: 5000 }, want: { pmp: PmpResult.NOT_AUTHORIZED, pcp: PcpResult.NOT_AUTHORIZED } },
  { name: 'mesh-port-only mode', policy: { meshPortOnly: true }, pmp: [17, 5000, 0, 600], pcp: { internalPort: 5000 }, want: { pmp: PmpResult.NOT_AUTHORIZED, pcp: PcpResult.NOT_AUTHORIZED } },
  { name: 'quota per client', policy: { maxMappingsPerClient: 1 }, want: { pmp: PmpResult.OUT_OF_RESOURCES, pcp: PcpResult.USER_EX_QUOTA } },
  { name: 'no external port left', policy: { externalPorts: { from: 30000, to: 30000 } }, want: { pmp: PmpResult.OUT_OF_RESOURCES, pcp: PcpResult.NO_RESOURCES } },
  { name: 'PCP protocol other than UDP/TCP', pcp: { protocol: 0 }, want: { pcp: PcpResult.UNSUPP_PROTOCOL } },
  { name: 'PCP THIRD_PARTY refused by default', pcp: { options: [{ kind: 'thirdParty', internalAddress: v6('192.168.1.99') }] }, want: { pcp: PcpResult.NOT_AUTHORIZED } },
  { name: 'PCP PREFER_FAILURE with a taken port', policy: { externalPorts: { from: 30000, to: 30001 } }, pcp: { externalPort: 30000, options: [{ kind: 'preferFailure' }] }, want: { pcp: PcpResult.CANNOT_PROVIDE_EXTERNAL } },
  { name: 'PCP two FILTERs', pcp: { options: [1, 2].map((i) => ({ kind: 'filter' as const, prefixLength: 128, remotePeerPort: 0, remotePeerAddress: v6(`198.51.100.${i}`) })) }, want: { pcp: PcpResult.EXCESSIVE_REMOTE_PEERS } },
  { name: 'PCP client field not the source', pcp: { client: '192.168.1.77' }, want: { pcp: PcpResult.ADDRESS_MISMATCH } },
  { name: 'PCP unknown mandatory option', pcp: { options: [{ kind: 'unknown', code: 99, data: new Uint8Array(0) }] }, want: { pcp: PcpResult.UNSUPP_OPTION } },
];

for (const c of POLICY_CASES) {
  test(`policy refuses: ${c.name}`, async () => {
    const src = { address: c.src ?? LAN.address, port: 1 };
    if (c.want.pmp !== undefined) {
      const t = makeCore({ policy: c.policy ?? {} });
      await t.core.start();
      if (c.name.startsWith('quota') || c.name.startsWith('no external')) assert.equal((await pmpMap(t, 'udp', 30000, 30000, 600, src)).result, 0);
      const [proto, ip, ep, life] = c.pmp ?? [17, 30001, 30000, 600];
      const r = await pmpMap(t, proto === 6 ? 'tcp' : 'udp', ip, ep, life, src);
      assert.equal(r.result, c.want.pmp);
      assert.equal(r.lifetimeSec, 0);
      await t.core.stop();
    }
    if (c.want.pcp !== undefined) {
      const t = makeCore({ policy: c.policy ?? {} });
      await t.core.start();
      if (c.name.startsWith('quota') || c.name.startsWith('no external') || c.name.includes('PREFER_FAILURE')) {
        assert.equal((await pcp(t, pcpMap({ internalPort: 30000, externalPort: 30000, nonce: new Uint8Array(12) }), src)).result, 0);
      }
      const r = await pcp(t, pcpMap(c.pcp ?? { internalPort: 30001, externalPort: 30000 }), src);
      assert.equal(r.result, c.want.pcp);
      await t.core.stop();
    }
  });
}

test('PCP MAP grant, FILTER narrowing, nonce protection, delete', async () => {
  const t = makeCore();
  await t.core.start();
  const filter: PcpOption = { kind: 'filter', prefixLength: 128, remotePeerPort: 51820, remotePeerAddress: v6('198.51.100.9') };
  const r = await pcp(t, pcpMap({ options: [filter] }));
  assert.equal(r.result, 0);
  assert.ok(r.opcode === 'map');
  assert.equal(r.map.externalPort, 5555);
  assert.deepEqual(r.map.externalAddress, v6('203.0.113.1'));
  assert.deepEqual(r.options, [filter]);
  assert.deepEqual((await t.backend.list())[0]!.remote, { address: '198.51.100.9', prefixLength: 32, port: 51820 });
  const other = await pcp(t, pcpMap({ nonce: new Uint8Array(12).fill(9) }));
  assert.equal(other.result, PcpResult.NOT_AUTHORIZED);
  const del = await pcp(t, pcpMap({ lifetimeSec: 0 }));
  assert.deepEqual([del.result, del.lifetimeSec], [0, 0]);
  assert.deepEqual(await t.backend.list(), []);
  await t.core.stop();
});

test('PCP PEER creates a mapping narrowed to the remote peer', async () => {
  const t = makeCore();
  await t.core.start();
  const req = encodePcpRequest({
    opcode: 'peer',
    lifetimeSec: 600,
    clientAddress: v6(LAN.address),
    peer: { nonce: NONCE, protocol: 6, internalPort: 2222, externalPort: 2222, externalAddress: new Uint8Array(16), remotePeerPort: 443, remotePeerAddress: v6('198.51.100.20') },
    options: [],
  });
  const r = await pcp(t, req);
  assert.equal(r.result, 0);
  assert.ok(r.opcode === 'peer');
  assert.equal(r.peer.remotePeerPort, 443);
  assert.deepEqual((await t.backend.list()).map((m) => [m.transport, m.externalPort, m.remote]), [['tcp', 2222, { address: '198.51.100.20', prefixLength: 32, port: 443 }]]);
  await t.core.stop();
});

test('PCP THIRD_PARTY granted when allowed, inside the allowed subnets only', async () => {
  const t = makeCore({ policy: { allowThirdParty: true } });
  await t.core.start();
  const ok = await pcp(t, pcpMap({ options: [{ kind: 'thirdParty', internalAddress: v6('192.168.1.99') }] }));
  assert.equal(ok.result, 0);
  assert.equal((await t.backend.list())[0]!.internalAddress, '192.168.1.99');
  const out = await pcp(t, pcpMap({ internalPort: 7000, options: [{ kind: 'thirdParty', internalAddress: v6('10.9.9.9') }] }));
  assert.equal(out.result, PcpResult.NOT_AUTHORIZED);
  await t.core.stop();
});

test('version negotiation and malformed packets', async () => {
  const t = makeCore();
  await t.core.start();
  const h = (hex: string) => t.core.handle(new Uint8Array(Buffer.from(hex, 'hex')), LAN);
  assert.equal(await h(''), undefined);
  assert.equal(await h('00'), undefined);
  assert.equal(await h('0081000000000000'), undefined, 'responses are ignored');
  assert.equal(await h('000100'), undefined, 'truncated nat-pmp map dropped');
  assert.deepEqual(decodePmpResponse((await h('0007'))!), { kind: 'error', opcode: 7, result: PmpResult.UNSUPPORTED_OPCODE, epochSec: 0 });
  const v1 = decodePcpResponse((await h('0101' + '00'.repeat(22)))!);
  assert.equal(v1.result, PcpResult.UNSUPP_VERSION);
  assert.equal(await h('0201' + '00'.repeat(10)), undefined, 'shorter than the PCP header: dropped (RFC 6887 8.3)');
  const big = decodePcpResponse((await h('0201' + '00'.repeat(1200)))!);
  assert.equal(big.result, PcpResult.MALFORMED_REQUEST);
  const op = decodePcpResponse((await h('0209' + '00'.repeat(22)))!);
  assert.equal(op.result, PcpResult.UNSUPP_OPCODE);
  const ann = decodePcpResponse((await h('0200' + '0000' + '00000000' + '00'.repeat(16)))!);
  assert.deepEqual([ann.opcode, ann.result], ['announce', 0]);
  await t.core.stop();
});

test('no WAN address: NETWORK_FAILURE', async () => {
  const t = makeCore({}, null);
  await t.core.start();
  const pa = decodePmpResponse((await t.core.handle(encodePmpRequest({ kind: 'publicAddress' }), LAN))!);
  assert.equal(pa.result, PmpResult.NETWORK_FAILURE);
  assert.equal((await pmpMap(t, 'udp', 5000, 0, 600)).result, PmpResult.NETWORK_FAILURE);
  await t.core.stop();
});

test('rate limit drops the excess of one client only', async () => {
  const t = makeCore({ policy: { requestsPerClientPerSec: 5 } });
  await t.core.start();
  const req = encodePmpRequest({ kind: 'publicAddress' });
  const answers = [];
  for (let i = 0; i < 8; i++) answers.push(await t.core.handle(req, LAN));
  assert.equal(answers.filter(Boolean).length, 5);
  assert.ok(await t.core.handle(req, { address: '192.168.1.11', port: 1 }));
  t.clock.advance(1000);
  assert.ok(await t.core.handle(req, LAN));
  assert.equal(t.core.stats.rateLimited, 3);
  await t.core.stop();
});

test('firewall failure answers NETWORK_FAILURE and leaves the table unchanged', async () => {
  const t = makeCore();
  await t.core.start();
  t.backend.failNextAdd = true;
  assert.equal((await pmpMap(t, 'udp', 5000, 0, 600)).result, PmpResult.NETWORK_FAILURE);
  assert.equal(t.core.table.size, 0);
  await t.core.stop();
});

test('announcements: 10 per protocol at 0, 250, 750 ms ... with the current epoch', async () => {
  const t = makeCore();
  await t.core.start();
  t.clock.advance(200_000);
  const pmp = t.sent.filter((s) => s.a.protocol === 'pmp');
  assert.deepEqual(pmp.map((s) => s.atMs - 1_000_000), [0, 250, 750, 1750, 3750, 7750, 15750, 31750, 63750, 127750]);
  assert.equal(t.sent.filter((s) => s.a.protocol === 'pcp').length, 10);
  assert.deepEqual(pmp.map((s) => (decodePmpResponse(s.packet) as { epochSec: number }).epochSec), [0, 0, 0, 1, 3, 7, 15, 31, 63, 127]);
  assert.deepEqual([...new Set(t.sent.map((s) => `${s.a.group}:${s.a.port}`))], ['224.0.0.1:5350']);
  await t.core.stop();
  assert.equal(t.clock.pendingTimers(), 0);
});

test('firewall flushed behind our back: detected, epoch reset, announced', async () => {
  const t = makeCore();
  await t.core.start();
  await pmpMap(t, 'udp', 5000, 0, 3600);
  t.clock.advance(60_000);
  const before = t.sent.length;
  t.backend.externalFlush();
  t.clock.advance(30_000);
  await t.core.checkBackend();
  assert.equal(t.core.table.size, 0);
  assert.equal(t.core.epochSec(), 0);
  assert.ok(t.sent.length > before);
  await t.core.stop();
});

test('WAN address change resets the table and the epoch', async () => {
  const t = makeCore();
  await t.core.start();
  await pmpMap(t, 'udp', 5000, 0, 3600);
  t.clock.advance(5000);
  await t.core.setExternalAddress('203.0.113.2');
  assert.equal(t.core.table.size, 0);
  assert.deepEqual(await t.backend.list(), []);
  const pa = decodePmpResponse((await t.core.handle(encodePmpRequest({ kind: 'publicAddress' }), LAN))!);
  assert.deepEqual(pa, { kind: 'publicAddress', result: 0, epochSec: 0, externalAddress: Uint8Array.of(203, 0, 113, 2) });
  await t.core.stop();
});

test('persistence: clean restart keeps table and epoch; crash or missing file starts a new epoch', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pmpd-state-'));
  const stateFile = join(dir, 'pmp-state.json');
  const a = makeCore({ stateFile });
  await a.core.start();
  await pmpMap(a, 'udp', 5000, 0, 3600);
  a.clock.advance(100_000);
  await a.core.stop();
  assert.equal(statSync(stateFile).mode & 0o777, 0o600);
  assert.equal(JSON.parse(readFileSync(stateFile, 'utf8')).clean, true);

  // Same backend (rules survive), new process 10 s later: mapping and epoch carried over.
  let wall = 1_700_000_000_000 + a.clock.nowMs() + 10_000;
  const b = makeCore({ stateFile, backend: a.backend, wallNowMs: () => wall });
  await b.core.start();
  assert.equal(b.core.table.size, 1);
  assert.equal(b.core.epochSec(), 110);
  assert.equal(b.core.table.all()[0]!.expiresAtMs - b.clock.nowMs(), (3600 - 110) * 1000);
  // Crash: no stop(), so the file still says "running".
  wall += 5_000;
  const c = makeCore({ stateFile, backend: a.backend, wallNowMs: () => wall });
  await c.core.start();
  assert.equal(c.core.table.size, 0);
  assert.equal(c.core.epochSec(), 0);
  assert.deepEqual(await a.backend.list(), [], 'rules of the crashed run are flushed');
  await c.core.stop();
  await b.core.stop();
  // Corrupt file: new epoch, no crash.
  writeFileSync(stateFile, '{nope');
  const d = makeCore({ stateFile });
  await d.core.start();
  assert.equal(d.core.epochSec(), 0);
  await d.core.stop();
});

test('clean restart but firewall lost the rules meanwhile: new epoch', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pmpd-state-'));
  const stateFile = join(dir, 's.json');
  const a = makeCore({ stateFile });
  await a.core.start();
  await pmpMap(a, 'udp', 5000, 0, 3600);
  a.clock.advance(50_000);
  await a.core.stop();
  a.backend.externalFlush();
  const b = makeCore({ stateFile, backend: a.backend });
  await b.core.start();
  assert.equal(b.core.table.size, 0);
  assert.equal(b.core.epochSec(), 0);
  await b.core.stop();
});

test('a second request for a live mapping renews it in place, whatever port it suggests', async () => {
  const t = makeCore();
  await t.core.start();
  assert.equal((await pmpMap(t, 'udp', 5000, 5000, 600)).externalPort, 5000);
  const again = await pmpMap(t, 'udp', 5000, 6000, 600);
  assert.deepEqual([again.result, again.externalPort], [0, 5000]);
  const pf = await pcp(t, pcpMap({ internalPort: 5000, externalPort: 6000, options: [{ kind: 'preferFailure' }] }));
  assert.equal(pf.result, PcpResult.CANNOT_PROVIDE_EXTERNAL);
  await t.core.stop();
});
