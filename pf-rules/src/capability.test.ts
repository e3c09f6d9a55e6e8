import { test } from 'node:test';
import assert from 'node:assert/strict';
import { eimCapability, versionAllowsEim } from './capability.ts';

test('version gate: FreeBSD 14 and the panicking builds get no EIM', () => {
  const table: [Parameters<typeof versionAllowsEim>[0], string | undefined, boolean][] = [
    ['opnsense', '26.7.2', true],
    ['opnsense', '26.7', true],
    ['opnsense', '26.1.4', false],
    ['opnsense', '25.7.6_2', false],
    ['pfsense', '2.9.0-RELEASE', true],
    ['pfsense', '2.8.1-RELEASE', false],
    ['pfsense', '2.9.0-DEVELOPMENT', false],
    ['pfsense', '25.11-RC', false],
    ['pfsense', '25.11-RELEASE', false],
    ['pfsense', '26.03-RELEASE', true],
    ['freebsd', '14.3-RELEASE-p2', false],
    ['freebsd', '15.0-RELEASE', false],
    ['freebsd', '15.1-RELEASE', true],
    ['freebsd', '16.0-CURRENT', false],
    ['freebsd', undefined, false],
  ];
  for (const [platform, version, eim] of table) assert.equal(versionAllowsEim(platform, version).eim, eim, `${platform} ${version}`);
});

test('a parse failure wins over the version; both needed', () => {
  assert.equal(eimCapability({ platform: 'freebsd', version: '15.1-RELEASE', parseAccepted: false }).eim, false);
  assert.equal(eimCapability({ platform: 'freebsd', version: '15.1-RELEASE', parseAccepted: true }).eim, true);
  assert.equal(eimCapability({ platform: 'freebsd', version: '14.3-RELEASE', parseAccepted: true }).eim, false);
});
