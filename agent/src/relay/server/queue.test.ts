import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { DropOldestQueue } from './queue.ts';

test('full queue drops the oldest and counts it', () => {
  const q = new DropOldestQueue<number>(3);
  assert.deepEqual([q.push(1), q.push(2), q.push(3)], [undefined, undefined, undefined]);
  assert.equal(q.push(4), 1);
  assert.equal(q.dropped, 1);
  assert.deepEqual([q.shift(), q.shift(), q.shift(), q.shift()], [2, 3, 4, undefined]);
});

test('property: the queue holds exactly the last `capacity` pushes, in order', () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 40 }), fc.array(fc.integer(), { maxLength: 200 }), (cap, xs) => {
      const q = new DropOldestQueue<number>(cap);
      for (const x of xs) q.push(x);
      const out: number[] = [];
      for (let v = q.shift(); v !== undefined; v = q.shift()) out.push(v);
      assert.deepEqual(out, xs.slice(Math.max(0, xs.length - cap)));
      assert.equal(q.dropped, Math.max(0, xs.length - cap));
    }),
  );
});
