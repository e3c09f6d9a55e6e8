import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PeerTimers, type TimerAction, type TimerEvent } from './timers.ts';

type Step = [atMs: number, input: TimerEvent | 'expire', expected?: TimerAction[]];

/** Runs "at t, event E" / "at t, expire -> actions" steps against one PeerTimers. */
function run(t: PeerTimers, steps: Step[]): void {
  for (const [at, input, expected] of steps) {
    if (input === 'expire') assert.deepEqual(t.expire(at), expected ?? [], `expire at ${at}`);
    else t.on(input, at);
  }
}

test('handshake retransmits every REKEY_TIMEOUT + jitter, gives up after REKEY_ATTEMPT_TIME', () => {
  const t = new PeerTimers({ jitterMs: () => 100 });
  t.on('handshakeInitiated', 0);
  assert.equal(t.nextDeadlineMs(), 5_100);
  assert.deepEqual(t.expire(5_099), []);
  let now = 5_100;
  let retries = 0;
  for (;;) {
    const actions = t.expire(now);
    if (actions[0]?.kind !== 'sendInitiation') {
      assert.deepEqual(actions, [{ kind: 'dropStaged' }]);
      break;
    }
    assert.deepEqual(actions, [{ kind: 'sendInitiation', retry: true }]);
    retries++;
    t.on('handshakeInitiated', now);
    now += 5_100;
  }
  // 90 s / 5 s = 18 attempts, plus the one that finds the limit exceeded.
  assert.equal(retries, 19);
  assert.ok(t.deadlines.zeroKeyMaterial !== undefined, 'keys are zeroed 3 x REJECT_AFTER_TIME after giving up');
  assert.equal(t.deadlines.zeroKeyMaterial, now + 540_000);
});

test('a completed handshake stops retransmission and resets the attempt count', () => {
  const t = new PeerTimers({ jitterMs: () => 0 });
  run(t, [
    [0, 'handshakeInitiated'],
    [5_000, 'expire', [{ kind: 'sendInitiation', retry: true }]],
    [5_000, 'handshakeInitiated'],
    [6_000, 'handshakeComplete'],
    [6_000, 'sessionDerived'],
    [10_001, 'expire', []],
  ]);
  assert.equal(t.handshakeAttempts, 0);
  assert.equal(t.deadlines.retransmitHandshake, undefined);
  assert.equal(t.deadlines.zeroKeyMaterial, 6_000 + 540_000);
});

test('passive keepalive: data received and nothing sent for KEEPALIVE_TIMEOUT sends one keepalive', () => {
  const t = new PeerTimers({ jitterMs: () => 0 });
  run(t, [
    [0, 'dataReceived'],
    [9_999, 'expire', []],
    [10_000, 'expire', [{ kind: 'sendKeepalive' }]],
    // data received, then we answer with data: no keepalive needed
    [20_000, 'dataReceived'],
    [21_000, 'anyAuthenticatedPacketSent'],
    [40_000, 'expire', []],
    // two receptions before the timer fires: one more keepalive round is owed
    [50_000, 'dataReceived'],
    [55_000, 'dataReceived'],
    [60_000, 'expire', [{ kind: 'sendKeepalive' }]],
    [70_000, 'expire', [{ kind: 'sendKeepalive' }]],
    [90_000, 'expire', []],
  ]);
});

test('data sent without any reply within KEEPALIVE + REKEY_TIMEOUT starts a new handshake', () => {
  const t = new PeerTimers({ jitterMs: () => 7 });
  run(t, [
    [0, 'dataSent'],
    [1_000, 'dataSent'], // does not push the deadline
    [15_006, 'expire', []],
    [15_007, 'expire', [{ kind: 'sendInitiation', retry: false }]],
    // a reply in time cancels it
    [20_000, 'dataSent'],
    [21_000, 'anyAuthenticatedPacketReceived'],
    [40_000, 'expire', []],
  ]);
});

test('persistent keepalive fires after the interval of silence in both directions', () => {
  const t = new PeerTimers({ jitterMs: () => 0, persistentKeepaliveSec: 25 });
  run(t, [
    [0, 'anyAuthenticatedPacketTraversal'],
    [20_000, 'anyAuthenticatedPacketTraversal'],
    [44_999, 'expire', []],
    [45_000, 'expire', [{ kind: 'sendKeepalive' }]],
  ]);
  const off = new PeerTimers({ jitterMs: () => 0 });
  off.on('anyAuthenticatedPacketTraversal', 0);
  assert.equal(off.nextDeadlineMs(), undefined);
});

test('zero key material fires once; stop() disarms everything', () => {
  const t = new PeerTimers({ jitterMs: () => 0 });
  run(t, [
    [0, 'sessionDerived'],
    [539_999, 'expire', []],
    [540_000, 'expire', [{ kind: 'zeroKeyMaterial' }]],
    [600_000, 'expire', []],
  ]);
  t.on('handshakeInitiated', 0);
  t.on('dataReceived', 0);
  t.stop();
  assert.equal(t.nextDeadlineMs(), undefined);
});

test('several timers due at once fire earliest first', () => {
  const t = new PeerTimers({ jitterMs: () => 0, persistentKeepaliveSec: 1 });
  t.on('dataReceived', 0); // keepalive at 10 000
  t.on('anyAuthenticatedPacketTraversal', 0); // persistent at 1 000
  t.on('handshakeInitiated', 0); // retransmit at 5 000
  assert.deepEqual(t.expire(20_000), [{ kind: 'sendKeepalive' }, { kind: 'sendInitiation', retry: true }, { kind: 'sendKeepalive' }]);
});
