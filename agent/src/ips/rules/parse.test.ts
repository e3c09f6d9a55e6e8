import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { decodeContent, parseRule, parseRuleFile } from './parse.ts';
import { DecodeError } from '../../errors.ts';
import type { ContentOption } from './types.ts';

const ET_STUN = 'alert udp $HOME_NET any -> $EXTERNAL_NET 3478 (msg:"ET INFO Session Traversal Utilities for NAT (STUN Binding Request)"; content:"|00 01|"; depth:2; content:"|21 12 a4 42|"; distance:2; within:4; reference:url,tools.ietf.org/html/rfc5389; classtype:attempted-user; sid:2016149; rev:3; metadata:created_at 2013_01_02, signature_severity Informational, updated_at 2019_07_26;)';

test('parses header, identifying options, metadata and content modifiers of an ET rule', () => {
  const r = parseRule(ET_STUN);
  assert.equal(r.action, 'alert');
  assert.equal(r.protocol, 'udp');
  assert.deepEqual(r.src, { any: false, items: [{ negated: false, value: '$HOME_NET' }] });
  assert.deepEqual(r.srcPorts, { any: true });
  assert.equal(r.bidirectional, false);
  assert.equal(r.sid, 2016149);
  assert.equal(r.gid, 1);
  assert.equal(r.rev, 3);
  assert.equal(r.classtype, 'attempted-user');
  assert.match(r.msg!, /STUN Binding Request/);
  assert.deepEqual(r.metadata.signature_severity, ['Informational']);
  const contents = r.options.filter((o): o is ContentOption => o.kind === 'content');
  assert.equal(contents.length, 2);
  assert.deepEqual(Array.from(contents[0]!.pattern), [0, 1]);
  assert.equal(contents[0]!.depth, 2);
  assert.deepEqual(Array.from(contents[1]!.pattern), [0x21, 0x12, 0xa4, 0x42]);
  assert.equal(contents[1]!.distance, 2);
  assert.equal(contents[1]!.within, 4);
});

test('address/port lists, negation, ranges and nested lists', () => {
  const r = parseRule('drop udp [10.0.0.0/8, !10.1.1.1] [1024:65535,!3478] <> !$HOME_NET ![53,[67:68]] (sid:1;)');
  assert.equal(r.bidirectional, true);
  assert.deepEqual(r.src, { any: false, items: [{ negated: false, value: '10.0.0.0/8' }, { negated: true, value: '10.1.1.1' }] });
  assert.deepEqual(r.srcPorts, { any: false, items: [{ negated: false, value: '1024:65535' }, { negated: true, value: '3478' }] });
  assert.deepEqual(r.dst, { any: false, items: [{ negated: true, value: '$HOME_NET' }] });
  assert.deepEqual(r.dstPorts, { any: false, items: [{ negated: true, value: [{ negated: false, value: '53' }, { negated: false, value: [{ negated: false, value: '67:68' }] }] }] });
});

test('content escapes: |hex|, mixed text, \\" \\; \\\\, negation, nocase and buffers', () => {
  assert.deepEqual(Array.from(decodeContent('"a|3B 3b|b\\"c\\;\\\\"')), [0x61, 0x3b, 0x3b, 0x62, 0x22, 0x63, 0x3b, 0x5c]);
  const r = parseRule('alert tcp any any -> any any (content:!"GET"; nocase; content:"x"; http_uri; tls.sni; content:"a\\;b"; sid:9;)');
  const c = r.options.filter((o): o is ContentOption => o.kind === 'content');
  assert.equal(c[0]!.negated, true);
  assert.equal(c[0]!.nocase, true);
  assert.equal(c[1]!.buffer, 'http_uri');
  assert.equal(c[2]!.buffer, 'tls.sni');
  assert.deepEqual(Array.from(c[2]!.pattern), [0x61, 0x3b, 0x62]);
  for (const bad of ['"|0|"', '"|zz|"', '"|00"', '""', '"abc']) assert.throws(() => decodeContent(bad), DecodeError, bad);
});

test('rule files: comments, disabled rules, continuation lines and per-line errors', () => {
  const text = [
    '# emerging-info.rules',
    '#alert udp $HOME_NET any -> $EXTERNAL_NET 3478 (msg:"disabled"; sid:100; rev:1;)',
    '# alert is what this file does, in prose',
    'alert udp any any -> any 51820 (msg:"continued"; \\',
    '  dsize:148; sid:101; rev:1;)',
    'drop udp any any -> any (sid:102;)',
    'alert udp any any -> any any (msg:"no end" sid:103)',
    'pass udp any any -> any any (sid:104;)',
  ].join('\n');
  const { rules, errors } = parseRuleFile(text, 'x.rules');
  assert.deepEqual(rules.map((r) => [r.sid, r.enabled, r.line]), [[100, false, 2], [101, true, 4], [104, true, 8]]);
  assert.deepEqual(errors.map((e) => e.line), [6, 7]);
  assert.ok(errors.every((e) => e.file === 'x.rules' && e.message.length > 0));
});

test('bad rules throw DecodeError with a reason', () => {
  for (const bad of [
    'alert udp any any -> any any',
    'shout udp any any -> any any (sid:1;)',
    'alert udp any any => any any (sid:1;)',
    'alert udp [1,2 any -> any any (sid:1;)',
    'alert udp any any -> any any (sid:x;)',
    'alert udp any any -> any any (depth:4; sid:1;)',
    'alert udp any any -> any any (content:"abc; sid:1;)',
  ]) assert.throws(() => parseRule(bad), DecodeError, bad);
});

test('property: parseRuleFile never throws on any text', () => {
  const pieces = fc.constantFrom('alert ', 'drop ', 'udp ', 'any ', '-> ', '<> ', '[', ']', '!', '$HOME_NET ', '(', ')', 'content:"', '|00|', '";', 'sid:1;', 'dsize:<3;', 'depth:2;', '#', '\n', '\\', ',');
  fc.assert(fc.property(fc.oneof(fc.string(), fc.array(pieces, { maxLength: 30 }).map((a) => a.join(''))), (s) => {
    parseRuleFile(s);
  }), { numRuns: 3000 });
});
