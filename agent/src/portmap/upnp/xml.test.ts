import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { DecodeError } from '../../errors.ts';
import { childText, decodeEntities, descendants, escapeXml, parseXml } from './xml.ts';

test('xml: namespaces reduce to local names, entities and CDATA decode', () => {
  const doc = parseXml('<?xml version="1.0"?><!-- c --><s:Envelope xmlns:s="x"><s:Body><u:R xmlns:u="y"><A>a &amp; b &#60;&#x3e;</A><B><![CDATA[<raw>]]></B><C/></u:R></s:Body></s:Envelope>');
  const r = descendants(doc, 'R')[0]!;
  assert.equal(childText(r, 'A'), 'a & b <>');
  assert.equal(childText(r, 'b'), '<raw>');
  assert.equal(childText(r, 'C'), '');
});

test('xml: truncated and mismatched documents give a best-effort tree', () => {
  const doc = parseXml('<root><device><friendlyName>x</device><serviceList><service><controlURL>/c');
  assert.equal(descendants(doc, 'controlURL')[0]!.text, '/c');
});

test('xml: DOCTYPE and entity declarations are skipped, never expanded', () => {
  const doc = parseXml('<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><r>&x;</r>');
  assert.equal(descendants(doc, 'r')[0]!.text, '&x;');
});

test('xml: escapeXml round-trips through decodeEntities', () => {
  fc.assert(fc.property(fc.string(), (s) => decodeEntities(escapeXml(s)) === s));
});

test('xml: any input parses or throws DecodeError, nothing else', () => {
  fc.assert(
    fc.property(fc.string({ unit: fc.constantFrom('<', '>', '/', '!', '?', '-', '[', ']', 'a', ':', '&', ';', '#', '"', '=', ' ') }), (s) => {
      try {
        parseXml(s);
      } catch (err) {
        assert.ok(err instanceof DecodeError);
      }
    }),
    { numRuns: 2000 },
  );
  assert.throws(() => parseXml('<a>'.repeat(100)), DecodeError);
});
