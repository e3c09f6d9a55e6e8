import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MESH_EPOCH_CHECK_SEC, meshPortmapConfig, wanFingerprint } from './router-services.ts';
import { validateConfig } from '../config/load.ts';

const lo = [{ address: '127.0.0.1', internal: true }];
const ifs = (wanAddr: string) => ({ lo, wan0: [{ address: wanAddr, internal: false }], lan0: [{ address: '10.1.0.1', internal: false }], cg0: [{ address: '100.64.0.7', internal: false }] });

test('wanFingerprint: the named WAN interfaces only', () => {
  assert.equal(wanFingerprint(ifs('192.0.2.10'), ['wan0']), 'wan0=192.0.2.10');
  assert.notEqual(wanFingerprint(ifs('192.0.2.10'), ['wan0']), wanFingerprint(ifs('192.0.2.11'), ['wan0']));
  assert.equal(wanFingerprint(ifs('192.0.2.10'), ['wan9']), 'wan9=');
});

test('wanFingerprint: nat.wan empty ("every WAN") still sees a WAN address change, and ignores loopback and the mesh TUN', () => {
  const a = wanFingerprint(ifs('192.0.2.10'), [], ['cg0']);
  assert.equal(a, 'lan0=10.1.0.1;wan0=192.0.2.10');
  assert.notEqual(a, wanFingerprint(ifs('192.0.2.11'), [], ['cg0']));
  const tunChanged = { ...ifs('192.0.2.10'), cg0: [{ address: '100.64.0.8', internal: false }] };
  assert.equal(wanFingerprint(tunChanged, [], ['cg0']), a);
});

test('the mesh port mapping is renewed (its epoch checked) at least once a minute: a missed reboot announcement costs at most that', () => {
  const pm = validateConfig({}).portmap;
  assert.equal(pm.renewAfterSec, undefined, 'the default would renew only at half the 2 h lifetime');
  assert.equal(meshPortmapConfig(pm).renewAfterSec, MESH_EPOCH_CHECK_SEC);
  assert.equal(meshPortmapConfig({ ...pm, renewAfterSec: 5 }).renewAfterSec, 5, 'a shorter configured interval stays');
  assert.equal(meshPortmapConfig({ ...pm, renewAfterSec: 3600 }).renewAfterSec, MESH_EPOCH_CHECK_SEC);
});
