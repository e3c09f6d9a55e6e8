import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fieldSegments, locateField } from './locate.ts';

const text = JSON.stringify({ log: { level: 'info' }, pmp: { wan: 'listenPort', allow: ['10.0.0.0/8', '192.168.1.0/24'] }, wg: { listenPort: 70000 } }, null, 2);
const at = (field: string, t = text) => {
  const r = locateField(t, field);
  return r === null ? null : t.slice(r.start, r.end);
};

test('field paths as agent/src/config writes them', () => {
  assert.deepEqual(fieldSegments('pmp.allow[1]'), ['pmp', 'allow', 1]);
  assert.deepEqual(fieldSegments('config'), []);
});

test('finds the key of a dotted path inside its own parent, and array elements', () => {
  assert.equal(at('wg.listenPort'), 'listenPort');
  assert.ok(locateField(text, 'wg.listenPort')!.start > text.indexOf('"wg"'));
  assert.equal(at('pmp.allow[1]'), '"192.168.1.0/24"');
  assert.equal(at('log'), 'log');
  assert.equal(at('a.b', '{"a":{"b":1},"c":{"b":2}}'), 'b');
  assert.equal(locateField('{"a":{"b":1},"c":{"b":2}}', 'c.b')!.start, 19);
});

test('a value equal to a key, an unknown path, the root and broken JSON give null', () => {
  assert.equal(locateField(text, 'pmp.listenPort'), null);
  assert.equal(locateField(text, 'nat.enabled'), null);
  assert.equal(locateField(text, 'config'), null);
  assert.equal(locateField('{"wg": {"listenPort": ', 'wg.listenPort'), null);
  assert.equal(locateField('{"wg": nope}', 'wg.x'), null);
});
