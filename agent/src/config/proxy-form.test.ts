import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConegateError } from '../errors.ts';
import { validateConfig } from './load.ts';

function problemsOf(data: unknown): string[] {
  try {
    validateConfig(data);
  } catch (err) {
    assert.ok(err instanceof ConegateError);
    assert.equal(err.code, 'CG_CONFIG_INVALID');
    return err.context.problems as string[];
  }
  return [];
}

test('mesh.proxy: "none" and http://[user:password@]host:port are accepted; absent is the environment', () => {
  assert.deepEqual(problemsOf({ mesh: { proxy: 'none' } }), []);
  assert.deepEqual(problemsOf({ mesh: { proxy: 'http://proxy.example:3128' } }), []);
  assert.deepEqual(problemsOf({ mesh: { proxy: 'http://user:pw@198.51.100.9:8888' } }), []);
  assert.equal(validateConfig({}).mesh.proxy, undefined);
});

test('mesh.proxy: a malformed value is one clear problem that never repeats the password', () => {
  const cases: [string, RegExp][] = [
    ['proxy.example:3128', /^mesh\.proxy: .*not a proxy URL/],
    ['https://proxy.example:3128', /^mesh\.proxy: only http:\/\/ proxies/],
    ['http://user:s3cret@proxy.example', /^mesh\.proxy: the proxy URL needs a port/],
    ['', /^mesh\.proxy: must not be empty/],
  ];
  for (const [value, want] of cases) {
    const problems = problemsOf({ mesh: { proxy: value } });
    assert.equal(problems.length, 1, value);
    assert.match(problems[0]!, want);
    assert.doesNotMatch(problems[0]!, /s3cret/);
  }
});
