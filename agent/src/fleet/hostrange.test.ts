import { test } from 'node:test';
import assert from 'node:assert/strict';
import { expandHostPattern } from './hostrange.ts';
import { ConegateError } from '../errors.ts';

test('numeric ranges keep leading zeros, are inclusive, honour a stride', () => {
  const r = expandHostPattern('www[01:50].example.com').names;
  assert.equal(r.length, 50);
  assert.equal(r[0], 'www01.example.com');
  assert.equal(r[49], 'www50.example.com');
  const s = expandHostPattern('www[01:50:2].example.com').names;
  assert.equal(s.length, 25);
  assert.equal(s.at(-1), 'www49.example.com');
  assert.deepEqual(expandHostPattern('h[8:10]').names, ['h8', 'h9', 'h10']);
});

test('letter ranges and two ranges in one name', () => {
  assert.deepEqual(expandHostPattern('db-[a:f].example.com').names.map((n) => n[3]), ['a', 'b', 'c', 'd', 'e', 'f']);
  assert.deepEqual(expandHostPattern('r[1:2][a:b]').names, ['r1a', 'r1b', 'r2a', 'r2b']);
});

test('ports: name:port, [v6]:port, bare IPv6 has none', () => {
  assert.deepEqual(expandHostPattern('badwolf.example.com:5309'), { names: ['badwolf.example.com'], port: 5309 });
  assert.deepEqual(expandHostPattern('[2001:db8::1]:2222'), { names: ['2001:db8::1'], port: 2222 });
  assert.deepEqual(expandHostPattern('2001:db8::1'), { names: ['2001:db8::1'] });
  assert.deepEqual(expandHostPattern('www[1:2]:22'), { names: ['www1', 'www2'], port: 22 });
});

test('bad ranges are clear errors, never a huge expansion', () => {
  for (const p of ['w[01:5]', 'w[5:1]', 'w[1:2', 'w[1]', 'w[1:]', 'w[1:9999999]', 'w[z:a]', 'w[1:2:0]', 'h:abc', 'h:0']) {
    assert.throws(() => expandHostPattern(p), (e: unknown) => e instanceof ConegateError && e.code === 'CG_CONFIG_INVALID', p);
  }
});
