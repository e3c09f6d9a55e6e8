// The mesh stage's reading of status (pure): a step only when the path changed, and a summary that says
// relayed, then direct (endpoint, time, "via birthday" only when status said so), or why it stays relayed.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { insideMesh, nextStep, summarize, type PathStep, type StatusPathView } from './demo-mesh.ts';

const view = (over: Partial<StatusPathView>): StatusPathView => ({ kind: 'tcp-relay', endpoint: null, region: 'lab', socket: null, reason: { code: 'starting', text: 'no pong yet' }, birthday: null, ...over });
const direct = (over: Partial<StatusPathView> = {}) => view({ kind: 'direct', endpoint: '203.0.113.20:41641', region: null, socket: 0, reason: null, ...over });

function follow(views: [number, StatusPathView | null][]): PathStep[] {
  const t: PathStep[] = [];
  for (const [at, v] of views) {
    const s = nextStep(t, v, at);
    if (s) t.push(s);
  }
  return t;
}

describe('mesh stage: path over time from status', () => {
  it('records only changes', () => {
    const t = follow([[0.5, null], [1, view({})], [1.5, view({})], [4.2, direct()], [5, direct()]]);
    assert.deepEqual(t.map((s) => [s.atSec, s.kind]), [[0.5, 'none'], [1, 'tcp-relay'], [4.2, 'direct']]);
  });
  it('relayed, then direct with the endpoint and the time it took', () => {
    const s = summarize(follow([[1, view({})], [4.2, direct()]]));
    assert.equal(s, 'relayed (tcp-relay, region lab) at 1.0 s, then DIRECT to 203.0.113.20:41641 at 4.2 s, 3.2 s after the relay');
  });
  it('"via birthday" only when status says the birthday attempt made the path', () => {
    const bd = { attempts: 1, last: { ok: true, ms: 900 } };
    assert.match(summarize(follow([[1, view({})], [3, direct({ socket: 7, birthday: bd })]])), /via birthday$/);
    assert.doesNotMatch(summarize(follow([[1, view({})], [3, direct({ birthday: { attempts: 1, last: { ok: false, ms: 900 } } })]])), /birthday/);
  });
  it('a peer that stays relayed says the reason status gave', () => {
    const s = summarize(follow([[1, view({})], [6, view({ reason: { code: 'both-hard', text: 'both NATs map per destination' } })]]), 'both NATs map per destination');
    assert.equal(s, 'relayed (tcp-relay, region lab) at 1.0 s, stays relayed (reason both-hard: both NATs map per destination)');
  });
  it('a path that flaps is told in order, back on the relay with its reason', () => {
    const s = summarize(follow([[1, view({})], [4, direct()], [9, view({ reason: { code: 'no-answer', text: 'x' } })]]), 'x');
    assert.equal(s, 'relayed (tcp-relay, region lab) at 1.0 s, then DIRECT to 203.0.113.20:41641 at 4.0 s, 3.0 s after the relay, then back relayed (tcp-relay, region lab) at 9.0 s, stays relayed (reason no-answer: x)');
  });
  it('no status path at all is said as such', () => {
    assert.equal(summarize([]), 'status showed no path');
  });
});

describe('mesh stage: a "direct" endpoint the mesh itself routes', () => {
  const inMesh = (ep: string | null) => insideMesh(ep, ['100.64.0.1', '100.64.0.2'], ['10.1.0.0/24', '10.2.0.0/24']);
  it('a peer mesh address or an advertised LAN is inside the mesh; a public endpoint is not', () => {
    assert.equal(inMesh('100.64.0.2:41641'), true);
    assert.equal(inMesh('10.1.0.1:41641'), true);
    assert.equal(inMesh('203.0.113.101:41641'), false);
    assert.equal(inMesh('100.64.1.10:41641'), false);
    assert.equal(inMesh('[2001:db8::1]:41641'), false);
  });
  it('the summary says such a path is not really direct', () => {
    const t = follow([[1, view({})], [3, direct({ endpoint: '100.64.0.2:41641' })]]);
    assert.match(summarize(t, null, inMesh), /NOT REALLY DIRECT: 100\.64\.0\.2:41641/);
    assert.doesNotMatch(summarize(follow([[1, view({})], [3, direct()]]), null, inMesh), /NOT REALLY/);
  });
});
