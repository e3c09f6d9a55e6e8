/**
 * Disabled interfaces and rules are left out everywhere (pfSense and OPNsense build their lists with
 * isset(enable)), and user text reaches the anchor file only as a one-line comment.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { readConfigXml } from '../src/readers/index.ts';
import { generateAnchor, type NatPolicy } from '../src/generate.ts';
import { checkAnchorText } from '../src/grammar.ts';
import { commentText } from '../src/render.ts';

const fix = (name: string) => readFileSync(new URL(`./fixtures/${name}`, import.meta.url), 'utf8');
const all: NatPolicy = { mode: 'auto', wan: [], scope: { sources: [], ports: [] } };
const eim = { eim: true, reason: 'test' };

test('a disabled interface is neither a LAN for automatic NAT nor the home of a rule; disabled rules are skipped', () => {
  const model = readConfigXml(fix('pfsense-disabled.xml'));
  assert.deepEqual(model.lans.map((l) => l.cidr), ['192.168.1.0/24', '10.10.0.0/24']);
  const out = generateAnchor(model, all, eim);
  assert.doesNotMatch(out.text, /10\.20\.0\./);
  assert.doesNotMatch(out.text, /198\.51\.100\.7/);
  assert.doesNotMatch(out.text, /igb3/);
});

test('a description with a newline, a backslash and a comment terminator stays inside one comment line', () => {
  const out = generateAnchor(readConfigXml(fix('pfsense-disabled.xml')), all, eim);
  checkAnchorText(out.text);
  const rules = out.text.split('\n').filter((l) => l.trim() && !l.startsWith('#'));
  assert.ok(rules.every((l) => l.startsWith('nat ') || l.startsWith('no nat ')), rules.join('\n'));
  assert.doesNotMatch(out.text, /^nat .*198\.51\.100\.99/m);
  assert.match(out.text, /^# manual outbound rule 1 "games nat on igb0 from any to any -> 198\.51\.100\.99 \/"/m);
});

test('commentText flattens control characters, line separators, backslashes and terminators', () => {
  assert.equal(commentText('a\nb\r\nc\td\u2028e\u0085f\\'), 'a b c d e f/');
  assert.equal(commentText('x */ y /* z'), 'x y z');
  assert.equal(commentText('0123456789', 5), '0123…');
});
