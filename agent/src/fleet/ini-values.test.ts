import { test } from 'node:test';
import assert from 'node:assert/strict';
import { iniValue, shlexSplit } from './ini-values.ts';

test('shlex split: quotes, escapes and comments as Python shlex (posix, comments=True)', () => {
  assert.deepEqual(shlexSplit('host1 a=1 b="x y"  # note'), ['host1', 'a=1', 'b=x y']);
  assert.deepEqual(shlexSplit(`tomcat3 mysecret="'03#pa33w0rd'"`), ['tomcat3', "mysecret='03#pa33w0rd'"]);
  assert.deepEqual(shlexSplit('a=b#c d'), ['a=b']);
  assert.deepEqual(shlexSplit(String.raw`a=x\ y`), ['a=x y']);
  assert.throws(() => shlexSplit('a="open'));
});

test('values are Python literals, else the raw string (ini.py _parse_value)', () => {
  const cases: [string, unknown][] = [
    ['80', 80], ['-3', -3], ['0x1f', 31], ['1.5', 1.5], ['1_000', 1000], ['0', 0],
    ['True', true], ['False', false], ['None', null],
    ['true', 'true'], ['yes', 'yes'], ['FALSE', 'FALSE'],
    ['010', '010'], ['1.2.3', '1.2.3'], ['192.0.2.50', '192.0.2.50'], ['10abc', '10abc'],
    ["'03#pa33w0rd'", '03#pa33w0rd'], ['"a\\tb"', 'a\tb'],
    ['[1, "a", [True]]', [1, 'a', [true]]], ['(1, 2)', [1, 2]], ['(5)', 5],
    ['{"k": 1, 2: None}', { k: 1, '2': null }],
    ['8080 # all members inherit', 8080], ['hello world', 'hello world'],
    ['foo.southeast.example.com', 'foo.southeast.example.com'], ['[1,', '[1,'],
  ];
  for (const [text, want] of cases) assert.deepEqual(iniValue(text), want, text);
});
