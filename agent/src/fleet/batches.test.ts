import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ConegateError } from '../errors.ts';
import { batchSize, batchStopsRollout, forkWaves, makeBatches, parseForks, parseMaxFailPercentage, parseSerial, type SerialItem } from './batches.ts';

const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);
const sizes = (n: number, serial: string): number[] => makeBatches(range(n), parseSerial(serial)).map((b) => b.length);

test('serial 1,10%,100% on 50 hosts: canary, 5, then the rest', () => {
  assert.deepEqual(sizes(50, '1,10%,100%'), [1, 5, 44]);
  assert.deepEqual(sizes(50, '1,10%'), [1, 5, 5, 5, 5, 5, 5, 5, 5, 5, 4], 'the last size repeats');
  assert.deepEqual(sizes(5, '10%'), [1, 1, 1, 1, 1], 'rounded down, at least 1');
  assert.deepEqual(sizes(7, '30%'), [2, 2, 2, 1], 'percentages are of all selected hosts');
  assert.deepEqual(sizes(7, ''), [7]);
  assert.deepEqual(sizes(7, '2,0'), [2, 5], '0 = every host left');
  assert.deepEqual(sizes(0, '1'), []);
});

test('max fail percentage: exceeded stops, equal does not; an all-failed batch (the canary) always stops', () => {
  assert.equal(batchStopsRollout(10, 1, 10), false);
  assert.equal(batchStopsRollout(10, 2, 10), true);
  assert.equal(batchStopsRollout(3, 1, 33), true);
  assert.equal(batchStopsRollout(4, 2, 50), false);
  assert.equal(batchStopsRollout(10, 0, 0), false);
  assert.equal(batchStopsRollout(10, 1, 0), true);
  assert.equal(batchStopsRollout(10, 9), false, 'no limit: only a fully failed batch stops');
  assert.equal(batchStopsRollout(1, 1, 100), true, 'a failed canary stops even at 100%');
  assert.equal(batchStopsRollout(10, 10, 100), true);
});

test('flag parsing: clear usage errors', () => {
  assert.deepEqual(parseSerial('1, 10% ,100%'), [{ count: 1 }, { percent: 10 }, { percent: 100 }]);
  for (const bad of ['1,,2', 'x', '-1', '10%%', '1.5']) assert.throws(() => parseSerial(bad), (e: unknown) => e instanceof ConegateError && e.code === 'CG_USAGE', bad);
  assert.equal(parseMaxFailPercentage('25'), 25);
  for (const bad of ['101', '-1', 'x', '']) assert.throws(() => parseMaxFailPercentage(bad), ConegateError, bad);
  assert.equal(parseForks('10'), 10);
  for (const bad of ['0', '-2', 'a']) assert.throws(() => parseForks(bad), ConegateError, bad);
  assert.deepEqual(forkWaves(range(5), 2), [[0, 1], [2, 3], [4]]);
});

const serialArb = fc.array(
  fc.oneof(fc.integer({ min: 0, max: 60 }).map((count): SerialItem => ({ count })), fc.integer({ min: 0, max: 150 }).map((percent): SerialItem => ({ percent }))),
  { maxLength: 5 },
);

test('property: every host exactly once, order kept, sizes as specified', () => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 300 }), serialArb, (n, serial) => {
      const hosts = range(n);
      const batches = makeBatches(hosts, serial);
      assert.deepEqual(batches.flat(), hosts);
      const list = serial.length ? serial : [{ count: 0 }];
      batches.forEach((b, i) => {
        const want = batchSize(list[Math.min(i, list.length - 1)]!, n);
        const isLast = i === batches.length - 1;
        assert.ok(b.length > 0);
        if (want <= 0) assert.ok(isLast, 'a 0-size item takes the rest');
        else if (isLast) assert.ok(b.length <= want);
        else assert.equal(b.length, want);
      });
    }),
    { numRuns: 500 },
  );
});

test('property: failures up to exactly P percent never stop a batch that still has a success; one more does', () => {
  fc.assert(
    fc.property(fc.integer({ min: 2, max: 500 }), fc.integer({ min: 0, max: 99 }), (size, p) => {
      const allowed = Math.floor((p * size) / 100); // the most failures that do not exceed P percent
      if (allowed < size) assert.equal(batchStopsRollout(size, allowed, p), false);
      assert.equal(batchStopsRollout(size, allowed + 1, p), true);
      assert.equal(batchStopsRollout(size, size, p), true);
    }),
  );
});
