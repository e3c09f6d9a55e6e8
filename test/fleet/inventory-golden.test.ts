/**
 * Golden: the examples of Ansible's inventory guide, in INI and in YAML (fixtures/README.md), resolve
 * to the same hosts, groups and variables, written out by hand below from the guide's text.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { loadInventory } from '../../agent/src/fleet/load.ts';
import { hostsOfGroup } from '../../agent/src/fleet/model.ts';
import { ConegateError } from '../../agent/src/errors.ts';

const FIX = join(import.meta.dirname, 'fixtures');

interface Golden {
  /** host -> [groups incl. all, sorted; vars] */
  hosts: Record<string, [string[], Record<string, unknown>]>;
  /** group -> every host in it (through children), inventory order */
  groups: Record<string, string[]>;
}

async function resolved(file: string): Promise<Golden> {
  const inv = await loadInventory(join(FIX, file));
  const hosts: Golden['hosts'] = {};
  for (const h of inv.hosts) hosts[h.name] = [h.groups, h.vars];
  const groups: Golden['groups'] = {};
  for (const g of [...inv.model.groups.keys()].sort()) groups[g] = hostsOfGroup(inv.model, g);
  return { hosts, groups };
}

const MAIL = 'mail.example.com';
const [FOO, BAR, ONE, TWO, THREE] = ['foo', 'bar', 'one', 'two', 'three'].map((n) => `${n}.example.com`) as [string, string, string, string, string];

const BASIC: Golden = {
  hosts: {
    [MAIL]: [['all', 'ungrouped'], {}],
    [FOO]: [['all', 'webservers'], {}],
    [BAR]: [['all', 'webservers'], {}],
    [ONE]: [['all', 'dbservers'], {}],
    [TWO]: [['all', 'dbservers'], {}],
    [THREE]: [['all', 'dbservers'], {}],
  },
  groups: {
    all: [MAIL, FOO, BAR, ONE, TWO, THREE],
    dbservers: [ONE, TWO, THREE],
    ungrouped: [MAIL],
    webservers: [FOO, BAR],
  },
};

const GROUPS: Golden = {
  hosts: {
    [MAIL]: [['all', 'ungrouped'], {}],
    [FOO]: [['all', 'east', 'prod', 'webservers'], {}],
    [BAR]: [['all', 'test', 'webservers', 'west'], {}],
    [ONE]: [['all', 'dbservers', 'east', 'prod'], {}],
    [TWO]: [['all', 'dbservers', 'east', 'prod'], {}],
    [THREE]: [['all', 'dbservers', 'test', 'west'], {}],
  },
  groups: {
    all: [MAIL, FOO, BAR, ONE, TWO, THREE],
    dbservers: [ONE, TWO, THREE],
    east: [FOO, ONE, TWO],
    prod: [FOO, ONE, TWO],
    test: [BAR, THREE],
    ungrouped: [MAIL],
    webservers: [FOO, BAR],
    west: [BAR, THREE],
  },
};

const SE_VARS = { some_server: 'foo.southeast.example.com', halon_system_timeout: 30, self_destruct_countdown: 60, escape_pods: 2 };
const SOUTHEAST: Golden = {
  hosts: {
    host1: [['all', 'atlanta', 'southeast', 'usa'], SE_VARS],
    host2: [['all', 'atlanta', 'raleigh', 'southeast', 'usa'], SE_VARS],
    host3: [['all', 'raleigh', 'southeast', 'usa'], SE_VARS],
  },
  groups: {
    all: ['host1', 'host2', 'host3'],
    atlanta: ['host1', 'host2'],
    northeast: [],
    northwest: [],
    raleigh: ['host2', 'host3'],
    southeast: ['host1', 'host2', 'host3'],
    southwest: [],
    ungrouped: [],
    usa: ['host1', 'host2', 'host3'],
  },
};

const ATL = { ntp_server: 'ntp.atlanta.example.com', proxy: 'proxy.atlanta.example.com' };
const WWW = ['01', '03', '05', '07', '09'].map((n) => `www${n}.example.com`);
const DB = ['a', 'b', 'c'].map((n) => `db-${n}.example.com`);
const VARS: Golden = {
  hosts: {
    jumper: [['all', 'ungrouped'], { ansible_port: 5555, ansible_host: '192.0.2.50' }],
    host1: [['all', 'atlanta'], { ...ATL, http_port: 80, maxRequestsPerChild: 808 }],
    host2: [['all', 'atlanta'], { ...ATL, http_port: 303, maxRequestsPerChild: 909 }],
    ...Object.fromEntries(WWW.map((h) => [h, [['all', 'webservers'], {}]])),
    ...Object.fromEntries(DB.map((h) => [h, [['all', 'databases'], {}]])),
  },
  groups: {
    all: ['jumper', 'host1', 'host2', ...WWW, ...DB],
    atlanta: ['host1', 'host2'],
    databases: DB,
    ungrouped: ['jumper'],
    webservers: WWW,
  },
};

for (const [name, golden, files] of [
  ['basic', BASIC, ['basic.ini', 'basic.yml']],
  ['parent/child groups', GROUPS, ['groups.ini', 'groups.yml']],
  ['group variables of groups of groups', SOUTHEAST, ['southeast-declared.ini', 'southeast.yml']],
  ['host and group variables, alias, ranges', VARS, ['vars.ini', 'vars.yml']],
] as const) {
  test(`inventory guide example "${name}": INI and YAML resolve to the golden list`, async () => {
    for (const f of files) assert.deepEqual(await resolved(f), golden, f);
  });
}

test('the guide\'s own INI "usa:children" example names undeclared groups: refused with file and line, like Ansible', async () => {
  await assert.rejects(loadInventory(join(FIX, 'southeast.ini')), (e: unknown) => {
    assert.ok(e instanceof ConegateError);
    assert.equal(e.code, 'CG_CONFIG_INVALID');
    assert.match(e.message, /southeast\.ini:21: .*usa:children.*'northeast'/);
    return true;
  });
});

test('the alias connects to ansible_host on ansible_port', async () => {
  for (const f of ['vars.ini', 'vars.yml']) {
    const jumper = (await loadInventory(join(FIX, f))).hosts.find((h) => h.name === 'jumper')!;
    assert.deepEqual([jumper.address, jumper.port, jumper.user], ['192.0.2.50', 5555, 'root']);
  }
});
