import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { validateConfig } from '../config/load.ts';
import { isConegateError } from '../errors.ts';
import { changedFields, Settings, type LiveField } from './settings.ts';

test('settings: invalid input refused naming the field, nothing written; live fields applied, the rest pending with restartNeeded', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'cg-settings-'));
  try {
    const file = join(dir, 'etc', 'conegate.json');
    const applied: LiveField[] = [];
    const s = new Settings(validateConfig({}), { path: file, applyLive: (f) => void applied.push(f), wallMs: () => Date.UTC(2026, 11, 7, 9) });
    await assert.rejects(s.set({ wg: { listenPort: 70000 } }), (e) => isConegateError(e) && e.code === 'CG_CONFIG_INVALID' && /wg\.listenPort/.test(e.message));
    await assert.rejects(s.set({ pmp: { bogus: 1 } }), (e) => isConegateError(e) && /pmp: unknown key "bogus"/.test(e.message));
    await assert.rejects(stat(file), 'nothing written');

    const r = await s.set({ log: { level: 'debug' }, nat: { confirmSec: 30 }, wg: { listenPort: 41700 } });
    assert.deepEqual(applied, ['log.level', 'nat.confirmSec']);
    assert.deepEqual(r.appliedLive, ['log.level', 'nat.confirmSec']);
    assert.deepEqual(r.restartNeeded, ['wg.listenPort']);
    assert.equal(r.pending, true);
    assert.equal(r.appliedAt, '2026-12-07T09:00:00.000Z');
    assert.equal(s.current().nat.confirmSec, 30, 'the running value changed');
    assert.equal(s.current().wg.listenPort, 41641, 'the running port did not');
    assert.deepEqual(JSON.parse(await readFile(file, 'utf8')), { log: { level: 'debug' }, nat: { confirmSec: 30 }, wg: { listenPort: 41700 } });
    assert.equal((await stat(file)).mode & 0o777, 0o644);
    assert.equal(s.get().config.wg.listenPort, 41700, 'settings-get shows what is saved');

    // A proxy password in the config: the file is written 0600.
    await s.set({ mesh: { proxy: 'http://user:secret@192.0.2.8:3128' } });
    assert.equal((await stat(file)).mode & 0o777, 0o600);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a live field that cannot be applied stays pending, with the reason', async () => {
  const s = new Settings(validateConfig({}), { path: join(tmpdir(), `cg-settings-${process.pid}.json`), applyLive: () => { throw new Error('the mesh is not enabled in this agent'); } });
  const r = await s.set({ mesh: { acceptRoutes: true } });
  assert.deepEqual(r.notApplied, [{ field: 'mesh.acceptRoutes', error: 'the mesh is not enabled in this agent' }]);
  assert.deepEqual(r.restartNeeded, ['mesh.acceptRoutes']);
  await rm(join(tmpdir(), `cg-settings-${process.pid}.json`), { force: true });
});

test('changedFields: leaf paths, arrays whole', () => {
  assert.deepEqual(changedFields({ a: { b: 1, c: [1, 2] }, d: 1 }, { a: { b: 2, c: [1, 2] }, d: 1, e: { f: 1 } }), ['a.b', 'e']);
});

test('no config file known: settings-set refused, clearly', async () => {
  const s = new Settings(validateConfig({}), { path: undefined, applyLive: () => undefined });
  await assert.rejects(s.set({}), (e) => isConegateError(e) && e.code === 'CG_UNSUPPORTED');
});
