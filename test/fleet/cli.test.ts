/** `conegate fleet inventory` / `fleet plan` as an operator runs them (the shipped bundle). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { runConegate } from '../conegate.ts';

const FIX = join(import.meta.dirname, 'fixtures');

test('fleet inventory --list is the ansible-inventory --list shape', async () => {
  const r = await runConegate(['fleet', 'inventory', '--inventory', join(FIX, 'groups.ini'), '--list']);
  assert.equal(r.code, 0, r.stderr);
  const doc = JSON.parse(r.stdout) as Record<string, { hosts?: string[]; children?: string[] }>;
  assert.deepEqual(doc.all, { children: ['dbservers', 'prod', 'test', 'ungrouped', 'webservers'] });
  assert.deepEqual(doc.prod, { children: ['east'] });
  assert.deepEqual(doc.east, { hosts: ['foo.example.com', 'one.example.com', 'two.example.com'] });
  assert.deepEqual(Object.keys((doc._meta as unknown as { hostvars: object }).hostvars).length, 6);
});

test('fleet inventory --limit and --graph', async () => {
  const r = await runConegate(['fleet', 'inventory', '--inventory', join(FIX, 'groups.yml'), '--limit', 'prod:!dbservers', '--graph']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, '@all:\n  |--@prod:\n  |  |--@east:\n  |  |  |--foo.example.com\n  |--@webservers:\n  |  |--foo.example.com\n');
});

test('fleet plan prints the batches: canary first, percentages of the selection, the stop rule', async () => {
  const r = await runConegate(['fleet', 'plan', '--inventory', join(FIX, 'vars.yml'), '--serial', '1,50%', '--forks', '2', '--max-fail-percentage', '50', '--json']);
  assert.equal(r.code, 0, r.stderr);
  const v = JSON.parse(r.stdout) as { hosts: number; batches: { canary: boolean; stopAtFailures: number; waves: number; hosts: { name: string }[] }[] };
  assert.equal(v.hosts, 11);
  assert.deepEqual(v.batches.map((b) => b.hosts.length), [1, 5, 5]);
  assert.deepEqual(v.batches.map((b) => [b.canary, b.stopAtFailures, b.waves]), [[true, 1, 1], [false, 3, 3], [false, 3, 3]]);
  assert.equal(v.batches[0]!.hosts[0]!.name, 'jumper');
});

test('bad input: named file and line, usage errors, exit 2, nothing on stdout', async () => {
  const bad = await runConegate(['fleet', 'inventory', '--inventory', join(FIX, 'southeast.ini')]);
  assert.equal(bad.code, 2);
  assert.equal(bad.stdout, '');
  assert.match(bad.stderr, /southeast\.ini:21: .*northeast/);
  const serial = await runConegate(['fleet', 'plan', '--inventory', join(FIX, 'basic.ini'), '--serial', '1,x']);
  assert.equal(serial.code, 2);
  assert.match(serial.stderr, /--serial: 'x'/);
  const forks = await runConegate(['fleet', 'plan', '--inventory', join(FIX, 'basic.ini'), '--forks', '0']);
  assert.equal(forks.code, 2);
  assert.match(forks.stderr, /--forks/);
  const none = await runConegate(['fleet', 'plan', '--inventory', join(FIX, 'basic.ini'), '--limit', 'nosuch']);
  assert.equal(none.code, 2);
  assert.match(none.stderr, /matched no host/);
  const missing = await runConegate(['fleet', 'plan', '--inventory', join(FIX, 'nope.ini')]);
  assert.equal(missing.code, 2);
});
