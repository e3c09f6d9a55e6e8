import { test } from 'node:test';
import assert from 'node:assert/strict';
import { judgeHealth, type JudgeOptions } from './health-judge.ts';
import type { HostHealthSample, PeerPathSample } from './health.ts';

const peer = (name: string, path: string, online = true): PeerPathSample => ({ name, path, via: null, rttMs: null, online });

/** A sample with `up` peers of `total`, `direct` of them direct. */
function s(up: number, direct: number, extra: Partial<HostHealthSample> = {}, total = up): HostHealthSample {
  const peers = [
    ...Array.from({ length: direct }, (_, i) => peer(`d${i}`, 'direct')),
    ...Array.from({ length: up - direct }, (_, i) => peer(`r${i}`, 'tcp-relay')),
    ...Array.from({ length: total - up }, (_, i) => peer(`x${i}`, 'none')),
  ];
  return { atMs: 0, agentAnswering: true, version: '1.1.0', peersTotal: total, peersUp: up, directShare: up === 0 ? 0 : direct / up, mappingServer: null, rssMB: 70, mesh: true, coordinator: { phase: 'streaming', lastError: null }, peers, ...extra };
}
const silent = (error = 'conegate is not running'): HostHealthSample => ({ atMs: 0, agentAnswering: false, peersTotal: 0, peersUp: 0, directShare: 0, mappingServer: null, rssMB: null, error });

interface Case {
  name: string;
  baseline?: HostHealthSample;
  after: HostHealthSample[];
  opts?: JudgeOptions;
  ok: boolean;
  /** Each must match one reason (and there are exactly this many reasons). */
  reasons?: RegExp[];
}

const CASES: Case[] = [
  { name: 'upgrade, nothing changed', baseline: s(5, 4), after: [s(5, 4), s(5, 4), s(5, 4)], ok: true },
  { name: 'no sample at all', baseline: s(5, 4), after: [], ok: false, reasons: [/no health sample was taken/] },
  { name: 'agent silent at the end, with the host\'s own words', baseline: s(5, 4), after: [s(5, 4), silent(), silent('conegate: not running (CG_NOT_RUNNING)')], ok: false, reasons: [/did not answer `conegate status` in any of the last 2 samples.*CG_NOT_RUNNING/] },
  { name: 'agent silent in one of the last two', baseline: s(5, 4), after: [s(5, 4), silent(), s(5, 4)], ok: false, reasons: [/in 1 of the last 2 samples/] },
  { name: 'agent silent at first (restart), answering at the end', baseline: s(5, 4), after: [silent(), s(2, 2, {}, 5), s(5, 4), s(5, 4)], ok: true },
  { name: 'a single sample that answers', baseline: s(1, 1), after: [s(1, 1)], ok: true },
  { name: 'peers up dropped', baseline: s(5, 4), after: [s(5, 4), s(3, 3, {}, 5), s(3, 3, {}, 5)], ok: false, reasons: [/mesh peers with a path fell from 5 to 3 \(of 5 known\); none may drop \(no path: x0, x1\)/] },
  { name: 'one flapping peer among ten is tolerated', baseline: s(10, 8), after: [s(10, 8), s(9, 8, {}, 10), s(9, 8, {}, 10)], ok: true },
  { name: 'two down among ten is not', baseline: s(10, 8), after: [s(8, 7, {}, 10), s(8, 7, {}, 10), s(8, 7, {}, 10)], ok: false, reasons: [/fell from 10 to 8 \(of 10 known\); at most 1 may drop/] },
  { name: 'a flapping peer up in one of the end samples counts', baseline: s(3, 2), after: [s(3, 2), s(2, 2, {}, 3), s(3, 2), s(2, 2, {}, 3), s(3, 2), s(2, 2, {}, 3)], ok: true },
  { name: 'a peer removed from the map meanwhile is not counted against the change', baseline: s(5, 4), after: [s(4, 4), s(4, 4), s(4, 4)], ok: true },
  { name: 'direct share fell by more than the margin', baseline: s(5, 5), after: [s(5, 2), s(5, 2), s(5, 2)], ok: false, reasons: [/direct paths fell from 100% to 40% of the peers up \(at most 20 points less allowed\); the rest go through a relay \(relayed: r0, r1, r2\)/] },
  { name: 'direct share fell by exactly the margin', baseline: s(5, 5), after: [s(5, 4), s(5, 4), s(5, 4)], ok: true },
  { name: 'direct share: a wider margin from the options', baseline: s(5, 5), after: [s(5, 2)], opts: { limits: { directShareDrop: 0.7 } }, ok: true },
  { name: 'mapping server answered before, not now', baseline: s(2, 2, { mappingServer: true }), after: [s(2, 2, { mappingServer: true }), s(2, 2, { mappingServer: false })], ok: false, reasons: [/NAT-PMP\/PCP server answered before the change and does not now/] },
  { name: 'mapping server ran before, not enabled now', baseline: s(2, 2, { mappingServer: true }), after: [s(2, 2)], ok: false, reasons: [/ran before the change and is not enabled now/] },
  { name: 'mapping server not enabled before: not asked for', baseline: s(2, 2), after: [s(2, 2, { mappingServer: false })], ok: true },
  { name: 'memory above 2x the baseline', baseline: s(2, 2, { rssMB: 60 }), after: [s(2, 2, { rssMB: 70 }), s(2, 2, { rssMB: 130 }), s(2, 2, { rssMB: 90 })], ok: false, reasons: [/uses 130 MB of memory, above 2x the 60 MB before the change/] },
  { name: 'memory at 2x the baseline is fine', baseline: s(2, 2, { rssMB: 60 }), after: [s(2, 2, { rssMB: 120 })], ok: true },
  { name: 'memory: a configured bound wins', baseline: s(2, 2, { rssMB: 60 }), after: [s(2, 2, { rssMB: 101 })], opts: { limits: { rssMaxMB: 100 } }, ok: false, reasons: [/uses 101 MB of memory, above the bound of 100 MB/] },
  { name: 'coordinator lost after the change', baseline: s(2, 2), after: [s(2, 2, { coordinator: { phase: 'backoff', lastError: 'certificate pin mismatch' } })], ok: false, reasons: [/connected to the coordinator before the change and is not now \(backoff: certificate pin mismatch\)/] },
  { name: 'old version still running', baseline: s(2, 2), after: [s(2, 2)], opts: { expectVersion: '1.2.0' }, ok: false, reasons: [/says version 1\.1\.0, not 1\.2\.0: it was not restarted/] },
  { name: 'new version running', baseline: s(2, 2), after: [s(2, 2, { version: '1.2.0' })], opts: { expectVersion: '1.2.0' }, ok: true },
  { name: 'several reasons at once', baseline: s(4, 4, { mappingServer: true, rssMB: 50 }), after: [s(1, 0, { rssMB: 200, mappingServer: false }, 4)], ok: false, reasons: [/fell from 4 to 1/, /direct paths fell from 100% to 0%/, /NAT-PMP/, /200 MB/] },
  // First install: no baseline (or a baseline of an agent that did not answer).
  { name: 'first install, mesh peer up within the settle time', after: [s(0, 0, {}, 3), s(1, 1, {}, 3), s(1, 0, {}, 3)], ok: true },
  { name: 'first install, no peer ever up', after: [s(0, 0, {}, 3), s(0, 0, {}, 3)], opts: { settleMs: 30_000 }, ok: false, reasons: [/none of the 3 mesh peers got a path \(settle time 30 s\) \(no path: x0, x1, x2\)/] },
  { name: 'first install, first node of its mesh (no peer listed)', after: [s(0, 0)], ok: true },
  { name: 'first install, not registered', after: [s(0, 0, { coordinator: { phase: 'refused', lastError: 'auth key expired' } })], ok: false, reasons: [/did not connect to the coordinator \(refused: auth key expired\)/] },
  { name: 'first install without the mesh: answering is enough', after: [s(0, 0, { mesh: false, coordinator: undefined as never })], ok: true },
  { name: 'first install, agent never answers', after: [silent(), silent()], ok: false, reasons: [/did not answer/] },
  { name: 'baseline of an agent that did not answer counts as a first install', baseline: silent(), after: [s(1, 1, {}, 2)], ok: true },
  { name: 'first install with a memory bound', after: [s(1, 1, { rssMB: 300 })], opts: { limits: { rssMaxMB: 150 } }, ok: false, reasons: [/300 MB of memory, above the bound of 150 MB/] },
  // Plain HealthSamples (no extra fields) from another gate are judged too.
  { name: 'plain samples', baseline: { atMs: 0, agentAnswering: true, peersTotal: 2, peersUp: 2, directShare: 1, mappingServer: null, rssMB: null }, after: [{ atMs: 1, agentAnswering: true, peersTotal: 2, peersUp: 0, directShare: 0, mappingServer: null, rssMB: null }], ok: false, reasons: [/fell from 2 to 0 \(of 2 known\); none may drop$/] },
];

for (const c of CASES) {
  test(`judge: ${c.name}`, () => {
    const v = judgeHealth(c.baseline, c.after, c.opts);
    assert.equal(v.ok, c.ok, v.reasons.join('; '));
    if (c.ok) assert.deepEqual(v.reasons, []);
    if (c.reasons) {
      assert.equal(v.reasons.length, c.reasons.length, v.reasons.join('\n'));
      for (const re of c.reasons) assert.ok(v.reasons.some((r) => re.test(r)), `${re} in:\n${v.reasons.join('\n')}`);
    }
  });
}
