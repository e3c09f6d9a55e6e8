import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isConegateError } from '../errors.ts';
import { hostProblems, validateConfig } from './load.ts';
import { configXmlNames } from './host-facts.ts';
import { spawnSync } from 'node:child_process';

const BIN = new URL('../../../bin/conegate.js', import.meta.url).pathname;

function problemsOf(data: unknown): string[] {
  try {
    validateConfig(data);
  } catch (err) {
    assert.ok(isConegateError(err));
    return err.context.problems as string[];
  }
  return [];
}

const APPLIANCE = {
  interfaces: { lo0: ['127.0.0.1'], igb0: ['203.0.113.5'], igb1: ['192.168.1.1'], vtnet1: ['10.0.0.1'], 'em0.100': ['10.100.0.1'], br0: [], 'eth0.10': [] },
  configNames: { wan: 'igb0', lan: 'igb1', opt1: 'vtnet1' },
};

test('valid values of every form pass the schema and the form checks', () => {
  const ok = { pmp: { lan: ['igb1', 'vtnet1', 'em0.100', 'br0', 'eth0.10', '192.168.1.1', '192.168.1.1/24', 'lagg0_vlan20'], wan: '203.0.113.5' }, nat: { wan: ['igb0', 'em0.100', 'wan', 'opt1', 'enp3s0f1'] }, wg: { addresses: ['10.64.0.1/24'] } };
  assert.deepEqual(problemsOf(ok), []);
  assert.deepEqual(problemsOf({ pmp: { wan: 'igb0' } }), []);
});

test('each form-dependent value is judged as what it is', () => {
  assert.deepEqual(problemsOf({ pmp: { lan: ['192.168.1.1/33', '2001:db8::1/64', 'has space', 'fe80::1'] } }).map((p) => p.split(' ')[0]), ['pmp.lan[0]:', 'pmp.lan[1]:', 'pmp.lan[2]:', 'pmp.lan[3]:']);
  assert.match(problemsOf({ pmp: { wan: '2001:db8::1' } })[0]!, /^pmp\.wan: "2001:db8::1" is not an interface name/);
  assert.match(problemsOf({ nat: { wan: ['eth0:1'] } })[0]!, /^nat\.wan\[0\]: "eth0:1" is not an interface name/);
  assert.match(problemsOf({ nat: { wan: ['203.0.113.5'] } })[0]!, /^nat\.wan\[0\]: "203\.0\.113\.5" is an address/);
});

test('host checks: ADDR/LEN and ADDR are checked as addresses, names as interfaces, config names where PF uses them', () => {
  const c = validateConfig({ pmp: { lan: ['igb1', '192.168.1.1/24', '192.168.1.1', 'em0.100'], wan: 'igb0' }, nat: { wan: ['wan', 'igb0', 'opt1'] } });
  assert.deepEqual(hostProblems(c, APPLIANCE), []);
  const bad = validateConfig({ pmp: { lan: ['lan', '192.168.9.1/24', 'igb7'], wan: '198.51.100.1' }, nat: { wan: ['opt9'] } });
  assert.deepEqual(
    hostProblems(bad, APPLIANCE).map((p) => p.split(' (have')[0]),
    [
      'pmp.lan[0]: "lan" is this appliance\'s name for igb1; give the interface itself here: "igb1"',
      'pmp.lan[1]: 192.168.9.1/24 is not an address of this host (NAT-PMP listens on it)',
      'pmp.lan[2]: "igb7" is not an interface on this host',
      'nat.wan[0]: "opt9" is not an interface on this host',
    ],
  );
});

test('config.xml interface names are read from <interfaces>', () => {
  assert.deepEqual(configXmlNames('<?xml version="1.0"?><opnsense><interfaces><wan><if>igb0</if></wan><lan><if>igb1</if></lan><opt1><if>vtnet1</if></opt1></interfaces></opnsense>'), { wan: 'igb0', lan: 'igb1', opt1: 'vtnet1' });
  assert.deepEqual(configXmlNames('not xml'), {});
});

test('conegate config validate: an ADDR/LEN of this host passes the host checks (exit 0)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cg-cfg-'));
  try {
    const file = join(dir, 'c.json');
    writeFileSync(file, JSON.stringify({ pmp: { lan: ['127.0.0.1/8', '127.0.0.1'] } }));
    const r = spawnSync(process.execPath, [BIN, 'config', 'validate', '--config', file], { encoding: 'utf8', timeout: 30_000 });
    assert.equal(r.status, 0, r.stderr);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
