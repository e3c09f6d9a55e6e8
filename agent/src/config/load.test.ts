import { test } from 'node:test';
import assert from 'node:assert/strict';
import { validateConfig, hostProblems, fieldPath } from './load.ts';
import { isConegateError } from '../errors.ts';

function problemsOf(data: unknown): string[] {
  try {
    validateConfig(data);
  } catch (err) {
    assert.ok(isConegateError(err));
    assert.equal(err.code, 'CG_CONFIG_INVALID');
    return err.context.problems as string[];
  }
  return [];
}

test('an empty config is valid and every section gets its documented defaults', () => {
  const c = validateConfig({});
  assert.equal(c.log.level, 'info');
  assert.equal(c.pmp.enabled, false);
  assert.equal(c.pmp.allowThirdParty, false, 'third-party mappings are off by default');
  assert.equal(c.pmp.maxMappingsPerClient, 16);
  assert.deepEqual(c.nat.scope, { sources: [], ports: [] });
  assert.deepEqual(c.portmap.protocols, ['pcp', 'natpmp', 'upnp']);
  assert.equal(c.wg.listenPort, 41641);
});

test('validation does not modify its input', () => {
  const input = { pmp: { enabled: true } };
  validateConfig(input);
  assert.deepEqual(input, { pmp: { enabled: true } });
});

test('each problem names the field, the value and what was expected', () => {
  assert.deepEqual(problemsOf({ pmp: { enabled: 'yes' } }), ['pmp.enabled: "yes" is a string, expected boolean']);
  assert.deepEqual(problemsOf({ pmp: { maxLifetme: 1 } }), ['pmp: unknown key "maxLifetme" (check the spelling; unknown keys are not ignored)']);
  assert.match(problemsOf({ pmp: { allow: ['10.0.0.0/8', '192.168.1.0/33'] } })[0]!, /^pmp\.allow\[1\]: "192\.168\.1\.0\/33" is not a network in CIDR form/);
  assert.deepEqual(problemsOf({ wg: { listenPort: 70000 } }), ['wg.listenPort: 70000 is out of range (must be <= 65535)']);
  assert.match(problemsOf({ netcheck: { stunServers: ['stun:0'] } })[0]!, /^netcheck\.stunServers\[0\]: "stun:0" is not host:port/);
  assert.match(problemsOf({ log: { level: 'loud' } })[0]!, /^log\.level: "loud" is not one of "fatal"/);
  assert.deepEqual(problemsOf({ extra: 1 }), ['config: unknown key "extra" (check the spelling; unknown keys are not ignored)']);
});

test('all problems are reported at once', () => {
  assert.equal(problemsOf({ pmp: { enabled: 1, lan: 'eth0' }, wg: { mtu: 100 } }).length, 3);
});

test('host checks name interfaces that do not exist here', () => {
  const c = validateConfig({ pmp: { lan: ['lo', 'eth9'], wan: 'wan0' } });
  assert.deepEqual(
    hostProblems(c, ['lo', 'eth0']).map((p) => p.split(' (')[0]),
    ['pmp.lan[1]: "eth9" is not an interface on this host', 'pmp.wan: "wan0" is not an interface on this host'],
  );
});

test('JSON pointers become readable field paths', () => {
  assert.equal(fieldPath(''), 'config');
  assert.equal(fieldPath('/pmp/allow/0'), 'pmp.allow[0]');
  assert.equal(fieldPath('/nat/scope/ports/2'), 'nat.scope.ports[2]');
});
