import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseXml, textAt, childrenOf, has, at } from './xml.ts';
import { DecodeError } from '../errors.ts';

test('reads a config.xml-shaped document: lists, flags, entities, CDATA, comments', () => {
  const doc = parseXml(`<?xml version="1.0"?>
<!-- saved by the GUI -->
<pfsense>
  <nat><outbound><mode>hybrid</mode>
    <rule><descr><![CDATA[mesh <udp>]]></descr><staticnatport/></rule>
    <rule><descr>a &amp; b &#x41;&#66;</descr><disabled></disabled></rule>
  </outbound></nat>
  <x a='1' b="&lt;2&gt;"/>
</pfsense>`);
  assert.equal(doc.name, 'pfsense');
  assert.equal(textAt(doc, 'nat/outbound/mode'), 'hybrid');
  const rules = childrenOf(at(doc, 'nat/outbound'), 'rule');
  assert.equal(rules.length, 2);
  assert.equal(textAt(rules[0], 'descr'), 'mesh <udp>');
  assert.equal(textAt(rules[1], 'descr'), 'a & b AB');
  assert.ok(has(rules[0], 'staticnatport'));
  assert.ok(!has(rules[0], 'disabled'));
  assert.deepEqual(at(doc, 'x')?.attrs, { a: '1', b: '<2>' });
});

test('malformed documents throw DecodeError with a line number, never another error', () => {
  const bad = ['', '<a>', '<a></b>', '<a b=1/>', '<!DOCTYPE x [<!ENTITY e "x">]><a/>', '<a>&foo;</a>', '<a/><b/>', '<a>&#0;</a>', '<a x="1" x="2"/>', '<', '<a><!-- </a>'];
  for (const text of bad) {
    assert.throws(() => parseXml(text), (e: unknown) => e instanceof DecodeError && /line \d+/.test(e.message), text);
  }
});
