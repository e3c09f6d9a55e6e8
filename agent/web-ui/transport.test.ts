import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AGENT_TRANSPORT, apiUrl, parseTransport, problemFromAnswer, problemText } from './transport.ts';

test('API URLs by concatenation keep a query-string base (pfSense)', () => {
  assert.equal(apiUrl({ base: '/api/v1' }, 'page'), '/api/v1/page');
  assert.equal(apiUrl({ base: '/api/conegate/agent/' }, 'pmp/delete'), '/api/conegate/agent/pmp/delete');
  assert.equal(apiUrl({ base: '/conegate/api.php?r=' }, 'nat/apply'), '/conegate/api.php?r=/nat/apply');
});

test('transport: missing block means the agent defaults; a slow poll is clamped to 2 s', () => {
  assert.deepEqual(parseTransport(null), AGENT_TRANSPORT);
  const t = parseTransport(JSON.stringify({ host: 'pfsense', base: '/conegate/api.php?r=', live: 'poll', pollMs: 10000, platform: 'pfsense', csrf: { header: 'X-CSRFToken', token: 'abc' } }));
  assert.equal(t.pollMs, 2000);
  assert.deepEqual(t.csrf, { header: 'X-CSRFToken', token: 'abc' });
});

test('transport: bad blocks are refused naming what is wrong', () => {
  assert.throws(() => parseTransport('{'), /not valid JSON/);
  assert.throws(() => parseTransport('[]'), /not a JSON object/);
  assert.throws(() => parseTransport(JSON.stringify({ host: 'x', base: '/', platform: 'linux' })), /transport\.host/);
  assert.throws(() => parseTransport(JSON.stringify({ host: 'agent', base: '', platform: 'linux' })), /transport\.base/);
  assert.throws(() => parseTransport(JSON.stringify({ host: 'agent', base: '/a', platform: 'linux', csrf: { header: 'bad header', token: 't' } })), /transport\.csrf/);
});

test('error answers: the field is named once', () => {
  const p = problemFromAnswer(400, { error: { code: 'CG_CONFIG_INVALID', message: 'is out of range (must be <= 65535)', field: 'wg.listenPort' } });
  assert.deepEqual(p, { status: 400, code: 'CG_CONFIG_INVALID', message: 'is out of range (must be <= 65535)', field: 'wg.listenPort' });
  assert.equal(problemText(p), 'wg.listenPort: is out of range (must be <= 65535)');
  assert.equal(problemText({ ...p, message: 'wg.listenPort: 70000 is out of range' }), 'wg.listenPort: 70000 is out of range');
  assert.equal(problemText(problemFromAnswer(502, '<html>')), 'the agent answered HTTP 502');
  assert.equal(problemText(problemFromAnswer(0, null)), 'the agent did not answer');
});
