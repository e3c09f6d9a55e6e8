/** The CLI as a user runs it: a real process, exit status and stderr. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { REPO_ROOT, runConegate, type CliResult } from '../../../test/conegate.ts';

const FIXTURES = `${REPO_ROOT}test/fixtures/`;

const run = (args: string[], env: Record<string, string> = {}): Promise<CliResult> => runConegate(args, { env: { CONEGATE_CONFIG: '', ...env } });

test('--help lists the commands and exits 0; --version prints the version', async () => {
  const help = await run(['--help']);
  assert.equal(help.code, 0);
  for (const name of ['config', 'platform']) assert.match(help.stdout, new RegExp(`^  ${name}\\b`, 'm'));
  const version = await run(['--version']);
  assert.equal(version.code, 0);
  assert.match(version.stdout, /^\d+\.\d+\.\d+\n$/);
});

test('bad usage exits 2', async () => {
  assert.equal((await run(['no-such-command'])).code, 2);
  assert.equal((await run(['platform', '--no-such-flag'])).code, 2);
});

test('config validate: a good config exits 0', async () => {
  const r = await run(['config', 'validate', '--config', `${FIXTURES}config/good.json`, '--json']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(JSON.parse(r.stdout).valid, true);
});

const BAD: [string, RegExp][] = [
  ['bad-type.json', /pmp\.enabled: "yes" is a string, expected boolean/],
  ['unknown-key.json', /pmp: unknown key "maxLifetme"/],
  ['bad-cidr.json', /pmp\.allow\[0\]: "192\.168\.1\.0\/33" is not a network in CIDR form/],
  ['port-out-of-range.json', /wg\.listenPort: 70000 is out of range/],
  ['bad-port-range.json', /pmp\.externalPorts: "40000-2000" is not a port or range/],
  ['not-json.json', /is not valid JSON/],
  ['missing-interface.json', /pmp\.lan\[0\]: "eth9" is not an interface on this host/],
  ['no-such-file.json', /cannot read config file .*no-such-file\.json: ENOENT/],
];
for (const [file, message] of BAD) {
  test(`config validate: ${file} exits 2 naming the field`, async () => {
    const r = await run(['config', 'validate', '--config', `${FIXTURES}config/${file}`]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, message);
    assert.equal(r.stdout, '');
  });
}

test('config validate: a directory is unreadable, exit 2', async () => {
  const r = await run(['config', 'validate', '--config', `${FIXTURES}config`]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /cannot read config file/);
});

test('CONEGATE_CONFIG is used when --config is absent; config show prints defaults merged in', async () => {
  const r = await run(['config', 'show'], { CONEGATE_CONFIG: `${FIXTURES}config/good.json` });
  assert.equal(r.code, 0, r.stderr);
  const c = JSON.parse(r.stdout);
  assert.equal(c.pmp.maxMappingsPerClient, 8);
  assert.equal(c.pmp.maxLifetimeSec, 7200);
});

for (const [dir, kind] of [['opnsense', 'opnsense'], ['pfsense-ce', 'pfsense'], ['unifi', 'unifi'], ['linux', 'linux'], ['freebsd', 'freebsd']] as const) {
  test(`platform --root identifies ${kind}`, async () => {
    const r = await run(['platform', '--root', `${FIXTURES}platform/${dir}`, '--json']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout).kind, kind);
  });
}

test('platform on a tree with no markers exits 1', async () => {
  const r = await run(['platform', '--root', `${FIXTURES}platform/empty`]);
  assert.equal(r.code, 1);
});
