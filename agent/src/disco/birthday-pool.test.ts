// The hard side's shared extra sockets, as data: who pings from which socket to whom, and the node's budget.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BIRTHDAY_MIN_SOCKETS, BirthdayPool, type PoolMember } from './birthday-pool.ts';

const member = (peer: string, port: number, want = 256): PoolMember => ({ peer, attempt: { easy: { address: '198.51.100.9', port }, sockets: [], socketsRequested: want } });
const ids = (from: number, n: number) => Array.from({ length: n }, (_, i) => from + i);

test('pool: three attempts at once share one opening of 256 sockets; every socket pings every easy peer', () => {
  const p = new BirthdayPool();
  const a = member('a', 1), b = member('b', 2), c = member('c', 3);
  assert.deepEqual(p.join(a, 0, 0, 0), { kind: 'open', count: 256 });
  assert.deepEqual(p.join(b, 1, 0, 5), { kind: 'wait' }, 'the opening in flight serves it');
  assert.deepEqual(p.join(c, 2, 0, 6), { kind: 'wait' });
  const { sends, refuse } = p.opened(ids(1, 256), [a, b, c], 0);
  assert.deepEqual(refuse, []);
  assert.equal(sends.length, 3 * 256);
  for (const m of [a, b, c]) {
    const mine = sends.filter((x) => x.peer === m.peer);
    assert.deepEqual(mine.map((x) => x.socket), ids(1, 256), `${m.peer}: one ping from each socket`);
    assert.ok(mine.every((x) => x.to === m.attempt.easy), 'to its own easy endpoint');
    assert.deepEqual(m.attempt.sockets, ids(1, 256));
  }
  assert.equal(p.sockets.length, 256, 'never more than 256 whatever the number of attempts');
  assert.deepEqual([p.counters.openings, p.counters.peakOpen, p.counters.peakShared], [1, 256, 3]);
});

test('pool: an attempt that starts while the pool is open joins it at once (no new sockets), up to what it asked for', () => {
  const p = new BirthdayPool();
  const a = member('a', 1);
  p.join(a, 0, 0, 0);
  p.opened(ids(1, 256), [a], 0);
  const plan = p.join(member('b', 2), 1, 0, 2_000);
  assert.equal(plan.kind, 'join');
  assert.deepEqual(plan.kind === 'join' && plan.sends.map((x) => x.socket), ids(1, 256));
  const small = p.join(member('c', 3, 4), 2, 0, 2_100);
  assert.deepEqual(small.kind === 'join' && small.sends.map((x) => x.socket), [1, 2, 3, 4], 'a request for 4 sockets pings from 4');
  assert.equal(p.counters.openings, 1);
});

test('pool: the budget counts winners that tunnels hold; busy only when a fresh pool would not fit', () => {
  const p = new BirthdayPool();
  assert.deepEqual(p.join(member('a', 1), 0, 10, 0), { kind: 'open', count: 246 }, '10 held winners: 246 left');
  // Sockets beyond the budget (or with no attempt left) are given back.
  const a = member('a', 1);
  const over = p.opened(ids(1, 250), [a], 10);
  assert.deepEqual(over.refuse, ids(247, 4));
  assert.equal(p.sockets.length + 10, 256);
  assert.deepEqual(p.opened([900, 901], [], 10).refuse, [900, 901], 'no attempt running: closed at once');
  p.release();
  const busy = p.join(member('b', 2), 0, 256 - BIRTHDAY_MIN_SOCKETS + 1, 20_000);
  assert.deepEqual(busy, { kind: 'busy', room: BIRTHDAY_MIN_SOCKETS - 1 });
  assert.deepEqual(p.join(member('b', 2), 0, 256 - BIRTHDAY_MIN_SOCKETS, 20_000), { kind: 'open', count: BIRTHDAY_MIN_SOCKETS });
});

test('pool: a lost opening does not keep later attempts waiting past an attempt\'s length; release empties the pool', () => {
  const p = new BirthdayPool();
  p.join(member('a', 1), 0, 0, 0);
  assert.deepEqual(p.join(member('b', 2), 1, 0, 9_999), { kind: 'wait' });
  assert.deepEqual(p.join(member('c', 3), 1, 0, 10_000), { kind: 'open', count: 256 });
  p.opened(ids(1, 8), [member('c', 3)], 0);
  assert.deepEqual(p.release(), ids(1, 8));
  assert.deepEqual(p.sockets, []);
});
