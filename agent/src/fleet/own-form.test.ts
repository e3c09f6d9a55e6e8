import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConegateError } from '../errors.ts';
import { parseInventoryText } from './load.ts';
import { resolveAll } from './resolve.ts';

const FIXTURE = join(import.meta.dirname, '../../../test/fleet/fixtures/own.yml');

test('own form: connection fields, platform, groups and deep-merged config overrides', () => {
  const hosts = Object.fromEntries(resolveAll(parseInventoryText(readFileSync(FIXTURE, 'utf8'), 'own.yml')).map((h) => [h.name, h]));
  const { fw1, fw2, gw3 } = hosts;
  assert.deepEqual([fw1!.address, fw1!.port, fw1!.user, fw1!.platform], ['192.0.2.11', 22, 'admin', 'opnsense']);
  assert.deepEqual(fw1!.config, { log: { level: 'debug' }, mesh: { enabled: true, relay: 'eu' } });
  assert.deepEqual(fw1!.groups, ['all', 'branches', 'edge']);
  assert.equal(fw1!.vars.site, 'edge');
  assert.deepEqual([fw2!.port, fw2!.keyFile, fw2!.platform, fw2!.groups], [2222, '/etc/conegate/fleet_ed25519', 'pfsense', ['all', 'ungrouped']]);
  assert.deepEqual(fw2!.config, { log: { level: 'info' }, mesh: { enabled: true } });
  assert.deepEqual([gw3!.user, gw3!.platform], ['root', 'unifi']);
});

test('own form: schema errors name the file, the line and the field', () => {
  const cases: [string, RegExp][] = [
    ['conegateFleet: 1\nhosts:\n  - name: a\n    platform: cisco\n', /^o\.yml:4: \/hosts\/0\/platform: must be equal to one of the allowed values/],
    ['conegateFleet: 1\nhosts:\n  - name: a\n    prot: 22\n', /^o\.yml:3: \/hosts\/0: must NOT have additional properties 'prot'/],
    ['conegateFleet: 1\nhosts:\n  - name: a\n    port: 70000\n', /^o\.yml:4: \/hosts\/0\/port/],
    ['conegateFleet: 2\nhosts: []\n', /^o\.yml:1: \/conegateFleet/],
    ['conegateFleet: 1\nhosts:\n  - name: a\n    groups: [nope]\n', /^o\.yml:3: host 'a' is in group 'nope'/],
    ['conegateFleet: 1\nhosts:\n  - name: a\n  - name: a\n', /^o\.yml:4: host 'a' is listed twice/],
    ['{"conegateFleet": 1, "hosts": [{"name": "a b"}]}', /^o\.json:1: \/hosts\/0\/name/],
  ];
  for (const [text, re] of cases) {
    const file = text.startsWith('{') ? 'o.json' : 'o.yml';
    assert.throws(() => parseInventoryText(text, file), (e: unknown) => e instanceof ConegateError && e.code === 'CG_CONFIG_INVALID' && re.test(e.message), text);
  }
});
