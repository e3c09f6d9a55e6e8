import { test } from 'node:test';
import assert from 'node:assert/strict';
import { initialState, step, type PortmapEffect, type PortmapEvent, type PortmapState } from './machine.ts';

const WANT = { protocol: 'udp' as const, internalPort: 51820, lifetimeSec: 7200 };
const TIMING = { retryBaseMs: 30_000, retryMaxMs: 600_000, renewRetryMs: 15_000 };

/** Runs "at t, event" steps, returning the final state and every step's effects. */
function run(steps: [number, PortmapEvent][], state: PortmapState = initialState(['pcp', 'natpmp', 'upnp'], TIMING)): { state: PortmapState; effects: PortmapEffect[][] } {
  const effects: PortmapEffect[][] = [];
  for (const [t, ev] of steps) {
    const r = step(state, ev, t);
    state = r.state;
    effects.push(r.effects);
  }
  return { state, effects };
}

const mapSeq = (fx: PortmapEffect[]): number => {
  const s = fx.find((f) => f.type === 'send');
  assert.ok(s && s.type === 'send');
  return s.request.seq;
};

test('machine: start probes every protocol; maps with the first available in order', () => {
  const r = run([
    [0, { type: 'start', want: WANT }],
    [10, { type: 'probed', via: 'upnp', ok: true }],
    [20, { type: 'probed', via: 'natpmp', ok: true, epochSec: 100, externalAddress: '203.0.113.1' }],
  ]);
  assert.deepEqual(r.effects[0], [{ type: 'probe', via: 'pcp' }, { type: 'probe', via: 'natpmp' }, { type: 'probe', via: 'upnp' }]);
  assert.deepEqual(r.effects[1], [], 'pcp is preferred and still probing: wait');
  assert.deepEqual(r.effects[2], [], 'natpmp answered but pcp still pending');
  const r2 = run([[30, { type: 'probed', via: 'pcp', ok: false }]], r.state);
  assert.deepEqual(r2.effects[0], [{ type: 'send', request: { kind: 'map', seq: 1, via: 'natpmp', want: WANT, externalPort: 51820, renew: false } }]);
});

test('machine: granted -> endpoint reported, renewal armed at half the lifetime', () => {
  const r = run([
    [0, { type: 'start', want: WANT }],
    [1, { type: 'probed', via: 'pcp', ok: true, epochSec: 50 }],
    [2, { type: 'granted', seq: 1, via: 'pcp', externalAddress: '203.0.113.1', externalPort: 40000, lifetimeSec: 7200, epochSec: 50 }],
  ]);
  assert.deepEqual(r.effects[2], [
    { type: 'endpointChanged', endpoint: { address: '203.0.113.1', port: 40000, protocol: 'udp', via: 'pcp' }, reason: 'created' },
    { type: 'armTimer', atMs: 3_600_002 },
  ]);
  assert.equal(r.state.phase, 'mapped');
  // At renewal time the same port is asked for; an unchanged grant reports nothing new.
  const r2 = run(
    [
      [3_600_002, { type: 'timer' }],
      [3_600_010, { type: 'granted', seq: 2, via: 'pcp', externalAddress: '203.0.113.1', externalPort: 40000, lifetimeSec: 7200, epochSec: 3650 }],
    ],
    r.state,
  );
  assert.deepEqual(r2.effects[0], [{ type: 'send', request: { kind: 'map', seq: 2, via: 'pcp', want: WANT, externalPort: 40000, renew: true } }]);
  assert.deepEqual(r2.effects[1], [{ type: 'armTimer', atMs: 7_200_010 }]);
});

test('machine: config renewAfterMs renews sooner than half the lifetime', () => {
  const st = initialState(['natpmp'], { ...TIMING, renewAfterMs: 2000 });
  const r = run(
    [
      [0, { type: 'start', want: WANT }],
      [1, { type: 'probed', via: 'natpmp', ok: true, epochSec: 5 }],
      [2, { type: 'granted', seq: 1, via: 'natpmp', externalAddress: '203.0.113.1', externalPort: 51820, lifetimeSec: 120, epochSec: 5 }],
    ],
    st,
  );
  assert.deepEqual(r.effects[2]!.at(-1), { type: 'armTimer', atMs: 2002 });
});

function mapped(via: 'natpmp' | 'pcp' | 'upnp' = 'natpmp'): PortmapState {
  return run([
    [0, { type: 'start', want: WANT }],
    [0, { type: 'probed', via: 'pcp', ok: via === 'pcp', epochSec: 1000 }],
    [0, { type: 'probed', via: 'natpmp', ok: via === 'natpmp', epochSec: 1000 }],
    [0, { type: 'probed', via: 'upnp', ok: via === 'upnp' }],
    [10, { type: 'granted', seq: 1, via, externalAddress: '203.0.113.1', externalPort: 51820, lifetimeSec: 7200, epochSec: via === 'upnp' ? undefined : 1000 } as PortmapEvent],
  ]).state;
}

test('machine: announcement with an epoch gone back re-maps at once, then reports the mapping as re-created', () => {
  const r = run(
    [
      [60_000, { type: 'announcement', via: 'natpmp', epochSec: 3, externalAddress: '203.0.113.1' }],
      [60_100, { type: 'granted', seq: 2, via: 'natpmp', externalAddress: '203.0.113.1', externalPort: 51820, lifetimeSec: 7200, epochSec: 3 }],
    ],
    mapped('natpmp'),
  );
  assert.deepEqual(r.effects[0], [
    { type: 'epochReset', via: 'natpmp', reason: 'went-back' },
    { type: 'cancelTimer' },
    { type: 'send', request: { kind: 'map', seq: 2, via: 'natpmp', want: WANT, externalPort: 51820, renew: true } },
  ]);
  assert.deepEqual(r.effects[1]![0], { type: 'endpointChanged', endpoint: { address: '203.0.113.1', port: 51820, protocol: 'udp', via: 'natpmp' }, reason: 'recreated' });
});

test('machine: an announcement with a consistent epoch changes nothing', () => {
  const r = run([[60_000, { type: 'announcement', via: 'natpmp', epochSec: 1060, externalAddress: '203.0.113.1' }]], mapped('natpmp'));
  assert.deepEqual(r.effects[0], []);
});

test('machine: a renewal reply showing a reset is the re-creation; a new port is reported as changed', () => {
  const st = mapped('pcp');
  const renew = run([[3_600_010, { type: 'timer' }]], st);
  const seq = mapSeq(renew.effects[0]!);
  const r = run([[3_600_020, { type: 'granted', seq, via: 'pcp', externalAddress: '203.0.113.1', externalPort: 40001, lifetimeSec: 7200, epochSec: 2 }]], renew.state);
  assert.deepEqual(r.effects[0]!.slice(0, 2), [
    { type: 'epochReset', via: 'pcp', reason: 'went-back' },
    { type: 'endpointChanged', endpoint: { address: '203.0.113.1', port: 40001, protocol: 'udp', via: 'pcp' }, reason: 'changed' },
  ]);
});

test('machine: external address change (announcement or reported) re-maps now, even on UPnP', () => {
  const r = run([[5000, { type: 'announcement', via: 'natpmp', epochSec: 1004, externalAddress: '198.51.100.9' }]], mapped('natpmp'));
  assert.equal(r.effects[0]!.at(-1)!.type, 'send');
  const u = run([[5000, { type: 'addressChanged', externalAddress: '198.51.100.9' }]], mapped('upnp'));
  assert.deepEqual(u.effects[0]!.at(-1), { type: 'send', request: { kind: 'map', seq: 2, via: 'upnp', want: WANT, externalPort: 51820, renew: true } });
});

test('machine: failed first choice falls through to the next; all failing waits with backoff', () => {
  const r = run([
    [0, { type: 'start', want: WANT }],
    [0, { type: 'probed', via: 'pcp', ok: true }],
    [0, { type: 'probed', via: 'natpmp', ok: true }],
    [0, { type: 'probed', via: 'upnp', ok: false }],
    [5, { type: 'failed', seq: 1, via: 'pcp', reason: 'x' }],
    [9, { type: 'failed', seq: 2, via: 'natpmp', reason: 'x' }],
  ]);
  assert.equal(mapSeq(r.effects[4]!), 2);
  assert.deepEqual(r.effects[5], [{ type: 'unavailable', retryAtMs: 30_009 }, { type: 'armTimer', atMs: 30_009 }]);
  assert.equal(r.state.phase, 'waiting');
  // next round: probes again; failing again doubles the wait
  const r2 = run(
    [
      [30_009, { type: 'timer' }],
      [30_010, { type: 'probed', via: 'pcp', ok: false }],
      [30_010, { type: 'probed', via: 'natpmp', ok: false }],
      [30_010, { type: 'probed', via: 'upnp', ok: false }],
    ],
    r.state,
  );
  assert.equal(r2.effects[0]!.length, 3);
  assert.deepEqual(r2.effects[3], [{ type: 'unavailable', retryAtMs: 90_010 }, { type: 'armTimer', atMs: 90_010 }]);
});

test('machine: stale replies (old seq) are ignored', () => {
  const st = mapped('natpmp');
  const r = run([[20, { type: 'granted', seq: 1, via: 'natpmp', externalAddress: '198.51.100.1', externalPort: 1, lifetimeSec: 1, epochSec: 1000 }]], st);
  assert.deepEqual(r.effects[0], []);
  assert.equal(r.state.mapping!.port, 51820);
});

test('machine: a failed renewal keeps the mapping and retries until it expires, then reports it lost', () => {
  const st = { ...mapped('natpmp') };
  const a = run([[3_600_010, { type: 'timer' }]], st);
  const b = run([[3_600_020, { type: 'failed', seq: mapSeq(a.effects[0]!), via: 'natpmp', reason: 'timeout' }]], a.state);
  assert.deepEqual(b.effects[0], [{ type: 'armTimer', atMs: 3_615_020 }]);
  assert.ok(b.state.mapping);
  // expiry passes without success: lost, and a new round starts
  const c = run([[7_200_010, { type: 'timer' }]], { ...b.state, wakeAtMs: 7_200_010 });
  assert.deepEqual(c.effects[0]![0], { type: 'endpointChanged', endpoint: undefined, reason: 'lost' });
  assert.equal(c.state.phase, 'probing');
});

test('machine: stop deletes the mapping, then stops; stop during the first request waits for it', () => {
  const r = run([[100, { type: 'stop' }]], mapped('upnp'));
  const send = r.effects[0]!.find((f) => f.type === 'send');
  assert.ok(send && send.type === 'send' && send.request.kind === 'unmap');
  assert.deepEqual(r.effects[0]![0], { type: 'cancelTimer' });
  const done = run([[200, { type: 'released', seq: send.request.seq }]], r.state);
  assert.deepEqual(done.effects[0], [{ type: 'stopped' }]);
  assert.equal(done.state.phase, 'stopped');

  const early = run([
    [0, { type: 'start', want: WANT }],
    [0, { type: 'probed', via: 'pcp', ok: true }],
    [1, { type: 'stop' }],
    [2, { type: 'granted', seq: 1, via: 'pcp', externalAddress: '203.0.113.1', externalPort: 40000, lifetimeSec: 7200 }],
  ]);
  assert.deepEqual(early.effects[2], []);
  const unmap = early.effects[3]![0];
  assert.ok(unmap && unmap.type === 'send' && unmap.request.kind === 'unmap' && unmap.request.mapping.port === 40000);

  const idle = run([[0, { type: 'stop' }]]);
  assert.deepEqual(idle.effects[0], [{ type: 'stopped' }]);
});

test('machine: a fallback still probing when the first choice fails continues the round when it answers', () => {
  const r = run([
    [0, { type: 'start', want: WANT }],
    [0, { type: 'probed', via: 'pcp', ok: true }],
    [5, { type: 'failed', seq: 1, via: 'pcp', reason: 'x' }],
    [6, { type: 'probed', via: 'natpmp', ok: false }],
    [7, { type: 'probed', via: 'upnp', ok: true }],
  ]);
  assert.deepEqual(r.effects[2], []);
  assert.deepEqual(r.effects[4], [{ type: 'send', request: { kind: 'map', seq: 2, via: 'upnp', want: WANT, externalPort: 51820, renew: false } }]);
});

test('machine: a timer that fires early re-arms for the rest instead of being lost', () => {
  const st = mapped('natpmp');
  const due = st.wakeAtMs!;
  const early = run([[due - 0.4, { type: 'timer' }]], st);
  assert.deepEqual(early.effects[0], [{ type: 'armTimer', atMs: due }]);
  const onTime = run([[due, { type: 'timer' }]], early.state);
  assert.equal(onTime.effects[0]![0]!.type, 'send');
});

test('machine: the first announcement from a server never heard before triggers a renewal (a reboot announces)', () => {
  const st = mapped('upnp');
  const r = run(
    [
      [5000, { type: 'announcement', via: 'pcp', epochSec: 0 }],
      [5001, { type: 'announcement', via: 'pcp', epochSec: 0 }],
    ],
    st,
  );
  assert.deepEqual(r.effects[0], [{ type: 'cancelTimer' }, { type: 'send', request: { kind: 'map', seq: 2, via: 'upnp', want: WANT, externalPort: 51820, renew: true } }]);
  assert.deepEqual(r.effects[1], [], 'the repeat is judged by its epoch: consistent, nothing to do');
});
