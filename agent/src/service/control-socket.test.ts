import { test } from 'node:test';
import assert from 'node:assert/strict';
import { validateConfig } from '../config/load.ts';
import { controlSocketFromRaw } from './control-socket.ts';
import { controlSocketOf } from './paths.ts';

test('the control socket read without the schema is the one the validated config gives', () => {
  const plain: object[] = [
    {},
    { mesh: {} },
    { stateDir: '/srv/cg' },
    { mesh: { stateDir: '/var/lib/cg-a' } },
    { stateDir: '/srv/cg', mesh: { stateDir: '/var/lib/cg-b' } },
    { stateDir: '/srv/cg', mesh: { stateDir: '/var/lib/cg-b', controlSocket: '/run/x.sock' } },
    { mesh: { enabled: false, controlSocket: '/run/y.sock' }, log: { level: 'info' } },
  ];
  for (const raw of plain) assert.equal(controlSocketFromRaw(raw), controlSocketOf(validateConfig(raw)), JSON.stringify(raw));
  // --state-dir stands for mesh.stateDir; an explicit socket still wins.
  assert.equal(controlSocketFromRaw({ stateDir: '/srv/cg' }, '/tmp/s'), '/tmp/s/conegate.sock');
  assert.equal(controlSocketFromRaw({ mesh: { controlSocket: '/run/x.sock' } }, '/tmp/s'), '/run/x.sock');
});

test('anything unusual is left to the validating load (undefined), never guessed', () => {
  for (const raw of [null, [], 'x', 7, { mesh: [] }, { mesh: 'x' }, { mesh: { stateDir: 5 } }, { mesh: { controlSocket: '' } }, { stateDir: {} }]) {
    assert.equal(controlSocketFromRaw(raw), undefined, JSON.stringify(raw));
  }
  assert.equal(controlSocketFromRaw({}, ''), undefined, 'an empty --state-dir');
});
