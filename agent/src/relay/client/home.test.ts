import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chooseHome, HOME, LatencyHistory, regionsToProbe } from './home.ts';

const REGIONS = ['fra', 'ams', 'nyc'];

function pick(current: string | undefined, best: Record<string, number>, coordinatorReachable = true) {
  return chooseHome({ current, regions: REGIONS, best: new Map(Object.entries(best)), coordinatorReachable });
}

test('home: first choice is the lowest latency (ties to map order); nothing measured = none', () => {
  assert.equal(pick(undefined, { fra: 30, ams: 20, nyc: 90 }), 'ams');
  assert.equal(pick(undefined, { fra: 20, ams: 20 }), 'fra');
  assert.equal(pick(undefined, {}), undefined);
  assert.equal(pick(undefined, { nyc: 80 }, false), 'nyc', 'the first choice does not wait for the coordinator');
});

test('home: moves only when >= 10 ms AND >= 1/3 faster', () => {
  // 30 -> 20: 10 ms and exactly 1/3: moves.
  assert.equal(pick('fra', { fra: 30, ams: 20 }), 'ams');
  // 30 -> 21: 9 ms: stays.
  assert.equal(pick('fra', { fra: 30, ams: 21 }), 'fra');
  // 100 -> 80: 20 ms but only 1/5 faster: stays.
  assert.equal(pick('fra', { fra: 100, ams: 80 }), 'fra');
  // 100 -> 66: 34 ms and more than 1/3: moves.
  assert.equal(pick('fra', { fra: 100, ams: 66 }), 'ams');
  // 12 -> 3: 3/4 faster but 9 ms: stays.
  assert.equal(pick('fra', { fra: 12, ams: 3 }), 'fra');
});

test('home: never changes while the coordinator is unreachable, even from a dead home', () => {
  assert.equal(pick('fra', { fra: 100, ams: 10 }, false), 'fra');
  assert.equal(pick('fra', { ams: 10 }, false), 'fra');
  assert.equal(pick('fra', { ams: 10 }, true), 'ams', 'no sample from the home in the window: the best one');
});

test('home: a home gone from the map yields to the best region, or the first one', () => {
  assert.equal(chooseHome({ current: 'old', regions: REGIONS, best: new Map([['nyc', 50]]), coordinatorReachable: true }), 'nyc');
  assert.equal(chooseHome({ current: 'old', regions: REGIONS, best: new Map(), coordinatorReachable: true }), 'fra');
});

test('latency history: best over the last 5 minutes; old samples fall out', () => {
  const h = new LatencyHistory();
  h.add('fra', 10, 0);
  h.add('fra', 40, 60_000);
  h.add('ams', 25, 60_000);
  assert.deepEqual([...h.best(60_000)], [['fra', 10], ['ams', 25]]);
  // At 5 min + 1 ms the 10 ms sample is older than the window: the best of fra is now 40.
  assert.deepEqual([...h.best(HOME.windowMs + 1)], [['fra', 40], ['ams', 25]]);
  assert.equal(h.latest('fra', HOME.windowMs + 1), 40);
  assert.deepEqual([...h.best(HOME.windowMs + 60_001)], []);
  h.add('nyc', 5, 0);
  h.retain(['fra']);
  assert.deepEqual([...h.best(0)], []);
});

test('home over time: a spike does not move it, a lasting faster region does after the window', () => {
  const h = new LatencyHistory();
  let home: string | undefined;
  const step = (t: number, samples: Record<string, number>) => {
    for (const [r, ms] of Object.entries(samples)) h.add(r, ms, t);
    home = chooseHome({ current: home, regions: REGIONS, best: h.best(t), coordinatorReachable: true });
    return home;
  };
  assert.equal(step(0, { fra: 20, ams: 25 }), 'fra');
  // fra gets slow (60 ms) but its 20 ms sample is still within the window: it stays best.
  assert.equal(step(60_000, { fra: 60, ams: 25 }), 'fra');
  assert.equal(step(240_000, { fra: 60, ams: 25 }), 'fra');
  // After the 20 ms sample ages out, fra's best is 60: ams (25) is 35 ms and 58% faster.
  assert.equal(step(300_001, { fra: 60, ams: 25 }), 'ams');
});

test('probe plan: full scan first and every 5 min; otherwise home + the 3 fastest', () => {
  const regions = ['a', 'b', 'c', 'd', 'e', 'f'];
  const best = new Map([['a', 50], ['b', 10], ['c', 20], ['d', 30], ['e', 5]]);
  assert.deepEqual(regionsToProbe({ regions, home: undefined, best: new Map(), lastFullScanMs: undefined, nowMs: 0 }), { regions, fullScan: true });
  assert.deepEqual(regionsToProbe({ regions, home: 'a', best, lastFullScanMs: 0, nowMs: 30_000 }), { regions: ['a', 'b', 'c', 'e'], fullScan: false });
  assert.deepEqual(regionsToProbe({ regions, home: 'a', best, lastFullScanMs: 0, nowMs: HOME.fullScanEveryMs }), { regions, fullScan: true });
});
