import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConegateError } from '../errors.ts';
import { loadInventory, parseInventoryText } from './load.ts';
import { resolveAll } from './resolve.ts';

function invalid(re: RegExp): (e: unknown) => boolean {
  return (e) => e instanceof ConegateError && e.code === 'CG_CONFIG_INVALID' && re.test(e.message);
}

test('INI: the plugin example (ini.py EXAMPLES) resolves with Ansible precedence and typing', () => {
  const text = `[web]
host1
host2 ansible_port=222 # defined inline

[web:vars]
http_port=8080 # all members of 'web' will inherit these
myvar=23

[web:children]
apache
nginx

[apache]
tomcat1
tomcat2 myvar=34
tomcat3 mysecret="'03#pa33w0rd'"

[nginx]
jenkins1

[nginx:vars]
has_java = True

[all:vars]
has_java = False
`;
  const hosts = Object.fromEntries(resolveAll(parseInventoryText(text, 'inv')).map((h) => [h.name, h]));
  assert.equal(hosts.host2!.port, 222);
  assert.equal(hosts.tomcat2!.vars.myvar, 34, 'host var over group var');
  assert.equal(hosts.tomcat1!.vars.myvar, 23, 'parent group var inherited');
  assert.equal(hosts.tomcat3!.vars.mysecret, '03#pa33w0rd');
  assert.equal(hosts.jenkins1!.vars.has_java, true, 'child group over all');
  assert.equal(hosts.tomcat1!.vars.has_java, false);
  assert.deepEqual(hosts.jenkins1!.groups, ['all', 'nginx', 'web']);
});

test('same-depth groups merge alphabetically, the later name wins; ansible_group_priority reorders', () => {
  const m = parseInventoryText('[b_group]\nh\n[a_group]\nh\n[a_group:vars]\nv=a\n[b_group:vars]\nv=b\n', 'inv');
  assert.equal(resolveAll(m)[0]!.vars.v, 'b');
  const p = parseInventoryText('[b_group]\nh\n[a_group]\nh\n[a_group:vars]\nv=a\nansible_group_priority=10\n[b_group:vars]\nv=b\n', 'inv');
  assert.equal(resolveAll(p)[0]!.vars.v, 'a');
  assert.equal('ansible_group_priority' in resolveAll(p)[0]!.vars, false);
});

test('INI errors name the file and line', () => {
  const cases: [string, RegExp][] = [
    ['[g]\nh bad\n', /^inv:2: expected key=value/],
    ['[g:nope]\n', /^inv:1: .*unknown type/],
    ['[g h]\n', /^inv:1: invalid section/],
    ['h\n[x:vars]\na=1\n', /^inv:2: section \[x:vars\]/],
    ['[p:children]\nq\n[q:children]\np\n', /^inv:4: .*circular/],
    ['[g]\nh a="open\n', /^inv:2: /],
    ['[g]\nw[01:5]\n', /^inv:2: .*equal-width/],
    ['[g]\nh ansible_port=99999\n', /^h: ansible_port/],
  ];
  for (const [text, re] of cases) assert.throws(() => resolveAll(parseInventoryText(text, 'inv')), invalid(re), text);
});

test('YAML: YAML 1.1 typing like Ansible, host strings, and errors with file and line', () => {
  const m = parseInventoryText('all:\n  vars:\n    flag: yes\n  hosts:\n    a:\n  children:\n    g:\n      hosts: b\n', 'i.yml');
  const hosts = resolveAll(m);
  assert.deepEqual(hosts.map((h) => [h.name, h.vars.flag, h.groups]), [['a', true, ['all', 'ungrouped']], ['b', true, ['all', 'g']]]);
  const cases: [string, RegExp][] = [
    ['g:\n  host:\n    a:\n', /^i\.yml:2: unexpected key 'host'/],
    ['g:\n  hosts:\n    a: 5\n', /^i\.yml:3: variables of host 'a'/],
    ['g:\n  hosts: [a]\n', /^i\.yml:2: 'hosts' of group 'g' must be a mapping/],
    ['g: [1]\n', /^i\.yml:1: group 'g' must be a mapping/],
    ['- a\n', /^i\.yml:1: an inventory must be a mapping/],
    ['g:\n  hosts:\n   a:\n  b: [\n', /^i\.yml:\d+: YAML/],
    ['g:\n  hosts:\n    a:\n    a:\n', /^i\.yml:\d+: YAML/],
    ['g:\n  vars:\n    x: *nothing\n', /^i\.yml:\d+: YAML: .*alias/i],
    ['**', /^i\.yml:1: YAML/],
  ];
  for (const [text, re] of cases) assert.throws(() => parseInventoryText(text, 'i.yml'), invalid(re), text);
});

test('group_vars/ and host_vars/: files, extensions, directories, and the precedence order', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'cg-fleet-inv-'));
  try {
    const inv = join(dir, 'hosts');
    writeFileSync(inv, 'r1 from_host=inventory both=inv-host\n[edge]\nr1\n[edge:vars]\nfrom_group=inventory\nboth=inv-group\n[site:children]\nedge\n[all:vars]\nlevel=inv-all\n');
    mkdirSync(join(dir, 'group_vars', 'edge'), { recursive: true });
    mkdirSync(join(dir, 'host_vars'));
    writeFileSync(join(dir, 'group_vars', 'all.yml'), 'level: gv-all\nfrom_group: gv-all\n');
    writeFileSync(join(dir, 'group_vars', 'site.json'), '{"site_only": 1, "from_group": "gv-site"}');
    writeFileSync(join(dir, 'group_vars', 'edge', '10-a'), 'from_group: gv-edge-a\nlist: [1, 2]\n');
    writeFileSync(join(dir, 'group_vars', 'edge', '20-b.yaml'), 'from_group: gv-edge-b\n');
    writeFileSync(join(dir, 'group_vars', 'edge', '.hidden'), 'from_group: hidden\n');
    writeFileSync(join(dir, 'host_vars', 'r1'), 'from_host: hv\n');
    const [r1] = (await loadInventory(inv)).hosts;
    assert.deepEqual(r1!.vars, {
      level: 'gv-all', // group_vars/all over inventory [all:vars]
      from_group: 'gv-edge-b', // child over parent over all; directory files in order
      site_only: 1,
      list: [1, 2],
      both: 'inv-host', // inventory host vars over every group var
      from_host: 'hv', // host_vars over inventory host vars
    });
    writeFileSync(join(dir, 'host_vars', 'r1'), '- not a mapping\n');
    await assert.rejects(loadInventory(inv), invalid(/host_vars\/r1:1: a variables file must hold a mapping/));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a missing inventory file is CG_CONFIG_UNREADABLE', async () => {
  await assert.rejects(loadInventory('/nonexistent/inv'), (e: unknown) => e instanceof ConegateError && e.code === 'CG_CONFIG_UNREADABLE');
});
