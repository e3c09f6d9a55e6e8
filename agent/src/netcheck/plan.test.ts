import { test } from 'node:test';
import assert from 'node:assert/strict';
import { planFollowUp, planInitial, probeRetransmit } from './plan.ts';
import { classifyFiltering, classifyMapping } from './classify.ts';
import type { ProbeResult } from './types.ts';

const RT = probeRetransmit(1000);
const S4 = { label: 'stun.example:3478', endpoint: { address: '203.0.113.1', port: 3478 }, family: 4 as const };
const S6 = { label: 'stun.example:3478', endpoint: { address: '2001:db8::1', port: 3478 }, family: 6 as const };

test('phase 1 plan: one Binding per server endpoint, only for families with a socket', () => {
  assert.deepEqual(planInitial([S4, S6], [4], 1000), [
    { id: 'v4:binding:203.0.113.1:3478', kind: 'binding', family: 4, socket: 'mapping', server: 0, target: S4.endpoint, atMs: 0, retransmit: RT },
  ]);
  assert.deepEqual(planInitial([S4, S6], [4, 6], 1000).map((p) => p.id), ['v4:binding:203.0.113.1:3478', 'v6:binding:[2001:db8::1]:3478']);
  assert.deepEqual(RT, { rtoMs: 250, rc: 7, rm: 16, deadlineMs: 1000 });
});

test('phase 2 plan: RFC 5780 mapping tests on the mapping socket, filtering on a fresh one, hairpin to ourselves', () => {
  const plan = planFollowUp({ family: 4, rfc5780: { server: 0, primary: S4.endpoint, other: { address: '203.0.113.2', port: 3479 } }, mapped: { address: '198.51.100.7', port: 20000 } }, 1000);
  assert.deepEqual(
    plan.map((p) => [p.kind, p.socket, `${p.target.address}:${p.target.port}`, p.changeIp ?? false, p.changePort ?? false, p.expectFrom ? `${p.expectFrom.address}:${p.expectFrom.port}` : '']),
    [
      ['mapping-alt-ip', 'mapping', '203.0.113.2:3478', false, false, ''],
      ['mapping-alt-both', 'mapping', '203.0.113.2:3479', false, false, ''],
      ['mapping-alt-port', 'mapping', '203.0.113.1:3479', false, false, ''],
      ['filter-change-both', 'filtering', '203.0.113.1:3478', true, true, '203.0.113.2:3479'],
      ['filter-change-port', 'filtering', '203.0.113.1:3478', false, true, '203.0.113.1:3479'],
      ['filter-control', 'filtering', '203.0.113.1:3478', false, false, ''],
      ['hairpin', 'mapping', '198.51.100.7:20000', false, false, ''],
    ],
  );
  assert.deepEqual(planFollowUp({ family: 6 }, 1000), []);
});

const A1P1 = { address: '203.0.113.1', port: 3478 };
const A2P1 = { address: '203.0.113.2', port: 3478 };
const A2P2 = { address: '203.0.113.2', port: 3479 };
const A1P2 = { address: '203.0.113.1', port: 3479 };

test('mapping classification table (RFC 5780 section 4.3)', () => {
  const m = (a: string, b: string, c: string, d: string): ReturnType<typeof classifyMapping> =>
    classifyMapping([{ dst: A1P1, mapped: a }, { dst: A2P1, mapped: b }, { dst: A2P2, mapped: c }, { dst: A1P2, mapped: d }]);
  assert.deepEqual(m('x:1', 'x:1', 'x:1', 'x:1'), { mapping: 'endpoint-independent', byAddr: false, byPort: false });
  assert.deepEqual(m('x:1', 'x:2', 'x:2', 'x:1'), { mapping: 'address-dependent', byAddr: true, byPort: false });
  assert.deepEqual(m('x:1', 'x:2', 'x:3', 'x:4'), { mapping: 'address-and-port-dependent', byAddr: true, byPort: true });
  assert.equal(classifyMapping([{ dst: A1P1, mapped: 'x:1' }]).mapping, 'unknown');
  assert.equal(classifyMapping([{ dst: A1P1, mapped: 'x:1' }, { dst: A2P2, mapped: 'x:2' }]).mapping, 'dependent');
  assert.equal(classifyMapping([{ dst: A1P1, mapped: 'x:1' }, { dst: A2P1, mapped: 'x:2' }]).mapping, 'dependent');
});

test('filtering classification table (RFC 5780 section 4.4)', () => {
  const r = (ok: boolean, reason = 'timeout'): ProbeResult => ({ probe: {} as ProbeResult['probe'], outcome: ok ? { ok: true } : { ok: false, reason } });
  assert.equal(classifyFiltering(r(true), r(true), r(true)), 'endpoint-independent');
  assert.equal(classifyFiltering(r(false), r(true), r(true)), 'address-dependent');
  assert.equal(classifyFiltering(r(false), r(false), r(true)), 'address-and-port-dependent');
  assert.equal(classifyFiltering(r(false), r(false), r(false)), 'unknown'); // server gone: no conclusion
  assert.equal(classifyFiltering(r(false, 'error-response'), r(false), r(true)), 'unknown'); // 420: cannot change
  assert.equal(classifyFiltering(undefined, undefined, undefined), 'unknown');
});
