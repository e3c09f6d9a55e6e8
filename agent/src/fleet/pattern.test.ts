import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConegateError } from '../errors.ts';
import { parseInventoryText } from './load.ts';
import { globToRegExp, selectHosts, splitPattern } from './pattern.ts';

const INV = parseInventoryText(
  `mail.example.com
[webservers]
web1.example.com
web2.example.com
[dbservers]
db1.example.com
web2.example.com
[east]
web1.example.com
db1.example.com
[west]
web2.example.com
[prod:children]
east
west
[staging]
stage-r[1:3]
`,
  'inv',
);

const sel = (p: string): string[] => selectHosts(INV, p).hosts;

test('names, groups, all and *', () => {
  assert.deepEqual(sel('mail.example.com'), ['mail.example.com']);
  assert.deepEqual(sel('dbservers'), ['web2.example.com', 'db1.example.com']);
  assert.equal(sel('all').length, 7);
  assert.deepEqual(sel('*'), sel('all'));
  assert.deepEqual(sel('prod'), ['web1.example.com', 'web2.example.com', 'db1.example.com']);
});

test('union, intersection, exclusion (Ansible evaluates unions, then &, then !)', () => {
  assert.deepEqual(sel('webservers:dbservers'), ['web1.example.com', 'web2.example.com', 'db1.example.com']);
  assert.deepEqual(sel('webservers,dbservers'), sel('webservers:dbservers'));
  assert.deepEqual(sel('webservers:&dbservers'), ['web2.example.com']);
  assert.deepEqual(sel('webservers:!dbservers'), ['web1.example.com']);
  assert.deepEqual(sel('!dbservers:webservers'), ['web1.example.com'], 'exclusion applies after the union wherever written');
  assert.deepEqual(sel('!prod'), ['mail.example.com', 'stage-r1', 'stage-r2', 'stage-r3'], 'only ! terms start from all');
  assert.deepEqual(sel('prod:&east:!db*'), ['web1.example.com']);
});

test('globs and regexes match hosts and groups', () => {
  assert.deepEqual(sel('*.example.com:!mail*'), ['web1.example.com', 'web2.example.com', 'db1.example.com']);
  assert.deepEqual(sel('stage-r[!3]'), ['stage-r1', 'stage-r2']);
  assert.deepEqual(sel('stage-r[12]'), [], 'digits in brackets are a subscript, as in Ansible, not a glob set');
  assert.deepEqual(sel('~(web|db)1\\.'), ['web1.example.com', 'db1.example.com']);
  assert.deepEqual(sel('~^we'), ['web1.example.com', 'web2.example.com'], 'regex matches group "west" and "webservers" and hosts');
  assert.deepEqual(sel('db?servers'), []);
  assert.deepEqual(sel('*servers'), ['web1.example.com', 'web2.example.com', 'db1.example.com']);
});

test('subscripts: index, negative, inclusive slice, open slice', () => {
  assert.deepEqual(sel('staging[0]'), ['stage-r1']);
  assert.deepEqual(sel('staging[-1]'), ['stage-r3']);
  assert.deepEqual(sel('staging[0:1]'), ['stage-r1', 'stage-r2']);
  assert.deepEqual(sel('staging[1:]'), ['stage-r2', 'stage-r3']);
});

test('unmatched terms are reported; bad patterns are usage errors', () => {
  assert.deepEqual(selectHosts(INV, 'webservers:nosuch'), { hosts: ['web1.example.com', 'web2.example.com'], unmatched: ['nosuch'] });
  for (const p of ['', '~(', 'a:&', 'r[z-a]']) assert.throws(() => selectHosts(INV, p), (e: unknown) => e instanceof ConegateError && e.code === 'CG_USAGE', p);
});

test('splitting keeps ranges and IPv6 addresses whole; globs are fnmatch', () => {
  assert.deepEqual(splitPattern('g[0:2]:h'), ['g[0:2]', 'h']);
  assert.deepEqual(splitPattern('2001:db8::1'), ['2001:db8::1']);
  assert.equal(globToRegExp('a[!b]c').test('axc'), true);
  assert.equal(globToRegExp('a[!b]c').test('abc'), false);
  assert.equal(globToRegExp('a.c').test('abc'), false);
});
