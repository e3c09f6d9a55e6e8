import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { resolveInRoot } from './rootpath.ts';

const FIX = fileURLToPath(new URL('../../../test/fixtures/', import.meta.url));

test('a link in the middle of the path is followed inside the root (relative target)', async () => {
  const root = `${FIX}platform/pfsense-ce`;
  assert.equal(await resolveInRoot(root, '/conf/config.xml'), `${root}/cf/conf/config.xml`);
});

test('an absolute link target restarts at the root, not at the host', async () => {
  const root = `${FIX}ips/pfsense-suricata`;
  assert.equal(await resolveInRoot(root, '/conf/config.xml'), `${root}/cf/conf/config.xml`);
});

test('links that leave the tree or loop resolve to nothing', async () => {
  assert.equal(await resolveInRoot(`${FIX}platform/escape`, '/etc/os-release'), undefined);
  assert.equal(await resolveInRoot(`${FIX}platform/freebsd`, '/etc/os-release'), undefined, 'target /var/run/os-release is absent in a copied tree');
  assert.equal(await resolveInRoot(`${FIX}platform/linux`, '/../../etc/os-release'), `${FIX}platform/linux/usr/lib/os-release`);
});
