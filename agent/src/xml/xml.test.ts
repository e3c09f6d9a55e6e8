import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { parseXml, XmlDecodeError } from './xml.ts';
import { all, at, textAt, textOf, elements } from './query.ts';
import { DecodeError } from '../errors.ts';

test('parses a config.xml-like document: declaration, nesting, repeated elements, empty elements', () => {
  const doc = parseXml(`<?xml version="1.0"?>
<!-- backup -->
<pfsense>
  <version>23.3</version>
  <installedpackages>
    <suricata>
      <rule><interface>wan</interface><enable>on</enable></rule>
      <rule><interface>lan</interface><enable/></rule>
    </suricata>
  </installedpackages>
</pfsense>
`);
  assert.equal(doc.name, 'pfsense');
  assert.equal(textAt(doc, 'version'), '23.3');
  const rules = all(doc, 'installedpackages/suricata/rule');
  assert.equal(rules.length, 2);
  assert.deepEqual(rules.map((r) => textAt(r, 'interface')), ['wan', 'lan']);
  assert.equal(textAt(rules[1], 'enable'), '');
  assert.equal(textAt(rules[1], 'missing'), undefined);
  assert.equal(rules[1]!.line, 8);
});

test('attributes, entities, character references and CDATA decode to plain text', () => {
  const doc = parseXml(`<a x="1 &amp; 2" y='&quot;q&quot;'><b>&lt;tag&gt; &#65;&#x42; &apos;</b><c><![CDATA[<raw> & ]] stuff]]></c></a>`);
  assert.deepEqual({ ...doc.attrs }, { x: '1 & 2', y: '"q"' });
  assert.equal(textAt(doc, 'b'), "<tag> AB '");
  assert.equal(textAt(doc, 'c'), '<raw> & ]] stuff');
});

test('comments and processing instructions inside elements are skipped; text around them joins', () => {
  const doc = parseXml('<a>one<!-- note -->two<?pi x?>three</a>');
  assert.equal(textOf(doc), 'onetwothree');
  assert.equal(elements(doc).length, 0);
});

test('BOM and a DOCTYPE without internal subset are accepted', () => {
  const doc = parseXml('\uFEFF<!DOCTYPE opnsense><opnsense><x>1</x></opnsense>');
  assert.equal(textAt(doc, 'x'), '1');
  assert.equal(at(doc, 'x')?.name, 'x');
});

const BAD: [string, string, number][] = [
  ['<a><b></a>', 'end tag', 1],
  ['<a>\n<b>\n</b>', 'unclosed', 3],
  ['<a x="1" x="2"/>', 'duplicate attribute', 1],
  ['<a x=1/>', 'quoted', 1],
  ['<a>\n&nbsp;</a>', 'unknown entity', 2],
  ['<a>fish & chips</a>', 'entity reference', 1],
  ['<a/><b/>', 'second root', 1],
  ['<a/>text', 'text after', 1],
  ['', 'no root', 1],
  ['hello', 'text before', 1],
  ['<a><!-- x -- y --></a>', 'comment', 1],
  ['<a><![CDATA[x</a>', 'CDATA', 1],
  ['<a>\n\n< b/></a>', 'not followed by a name', 3],
  ['<a>&#0;</a>', 'invalid character', 1],
  ['<!DOCTYPE a [<!ENTITY x "y">]><a/>', 'internal subset', 1],
  ['<a b="<"/>', '"<" in the value', 1],
];

test('malformed documents throw XmlDecodeError with the line of the fault', () => {
  for (const [src, reasonPart, line] of BAD) {
    assert.throws(
      () => parseXml(src),
      (e: unknown) => e instanceof XmlDecodeError && e.reason.includes(reasonPart) && e.line === line && e.message.includes(`line ${line}`),
      JSON.stringify(src),
    );
  }
});

test('deep nesting does not overflow the stack', () => {
  const depth = 50_000;
  const doc = parseXml('<a>'.repeat(depth) + '</a>'.repeat(depth));
  assert.equal(doc.name, 'a');
});

test('property: any input yields an element or a DecodeError, nothing else', () => {
  const pieces = fc.constantFrom('<a>', '</a>', '<b x="1">', '</b>', '<c/>', '&amp;', '&', '<!--', '-->', '<![CDATA[', ']]>', 'text', '"', '<?', '?>', '\n', '<', '>');
  fc.assert(
    fc.property(fc.oneof(fc.string(), fc.array(pieces, { maxLength: 20 }).map((a) => a.join(''))), (s) => {
      try {
        parseXml(s);
      } catch (e) {
        if (!(e instanceof DecodeError)) throw e;
      }
    }),
    { numRuns: 3000 },
  );
});
