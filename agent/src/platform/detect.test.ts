import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { detectPlatform, parseKeyValues } from './detect.ts';

const fixture = (name: string) => fileURLToPath(new URL(`../../../test/fixtures/platform/${name}`, import.meta.url));

test('OPNsense is found before FreeBSD (it carries FreeBSD files too)', async () => {
  const p = await detectPlatform(fixture('opnsense'));
  assert.equal(p.kind, 'opnsense');
  assert.equal(p.version, '25.7.6_2');
  assert.equal(p.freebsdVersion, '14.3-RELEASE-p4');
  assert.equal(p.configXml, '/conf/config.xml');
});

test('pfSense CE and Plus are told apart by the version pattern, with the patch level', async () => {
  const ce = await detectPlatform(fixture('pfsense-ce'));
  assert.equal(ce.kind, 'pfsense');
  assert.equal(ce.edition, 'CE');
  assert.equal(ce.version, '2.7.2-RELEASE');
  const plus = await detectPlatform(fixture('pfsense-plus'));
  assert.equal(plus.edition, 'Plus');
  assert.equal(plus.version, '24.11-RELEASE-p1');
  assert.equal(plus.freebsdVersion, '15.0-CURRENT');
});

test('UniFi OS is found before generic Linux (its os-release says Debian)', async () => {
  const p = await detectPlatform(fixture('unifi'));
  assert.equal(p.kind, 'unifi');
  assert.equal(p.version, '4.1.13');
  assert.equal(p.model, 'UDMPRO');
  assert.equal(p.conegateConfig, '/data/conegate/conegate.json');
});

test('plain FreeBSD from the freebsd-version script, without running it', async () => {
  const p = await detectPlatform(fixture('freebsd'));
  assert.equal(p.kind, 'freebsd');
  assert.equal(p.freebsdVersion, '15.0-RELEASE');
});

test('generic Linux follows the os-release link inside the tree', async () => {
  const p = await detectPlatform(fixture('linux'));
  assert.equal(p.kind, 'linux');
  assert.equal(p.name, 'Debian GNU/Linux 12 (bookworm)');
});

test('a tree with no markers is unknown, and absolute links never reach the host', async () => {
  assert.equal((await detectPlatform(fixture('empty'))).kind, 'unknown');
  assert.equal((await detectPlatform(fixture('escape'))).kind, 'unknown');
  assert.equal((await detectPlatform(fixture('does-not-exist'))).kind, 'unknown');
});

test('key=value parsing strips quotes and ignores other lines', () => {
  assert.deepEqual(parseKeyValues('# c\nA="x y"\nB=z\nnot a pair\n'), { A: 'x y', B: 'z' });
});
