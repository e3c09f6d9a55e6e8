import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Sessions, allowedHostNames, bearerToken, checkWrite, cookieValue, hostAllowed, hostName, sameSecret, sessionCookie, type WriteRequest } from './security.ts';

test('Host allow-list: localhost, loopback, the listen address and the configured names; nothing else (DNS rebinding)', () => {
  const allowed = allowedHostNames('192.168.1.1:8380', ['router.lan', 'fd00::1']);
  for (const h of ['localhost:8380', '127.0.0.1:8380', '[::1]:8380', '192.168.1.1:8380', '192.168.1.1', 'ROUTER.lan:8380', '[fd00::1]:8380']) assert.ok(hostAllowed(h, allowed), h);
  for (const h of [undefined, '', 'evil.example', 'evil.example:8380', '192.168.1.2:8380', 'localhost.evil.example', 'localhost:80:80', '[::1', '127.0.0.1:x', 'a b']) assert.ok(!hostAllowed(h, allowed), String(h));
  assert.ok(!allowedHostNames('0.0.0.0:8380', []).has('0.0.0.0'), 'a wildcard listen address is no host name');
  assert.equal(hostName('[::1]:8380'), '[::1]');
});

const write = (over: Partial<WriteRequest>): WriteRequest => ({ method: 'POST', host: '127.0.0.1:8380', origin: 'http://127.0.0.1:8380', secFetchSite: 'same-origin', contentType: 'application/json', scheme: 'http', ...over });

test('writes: same origin and JSON only; reads pass', () => {
  assert.equal(checkWrite(write({})), undefined);
  assert.equal(checkWrite(write({ origin: undefined, secFetchSite: undefined })), undefined, 'a script (curl) sends neither');
  assert.equal(checkWrite(write({ contentType: 'application/json; charset=utf-8' })), undefined);
  assert.equal(checkWrite(write({ method: 'GET', origin: 'http://evil.example', contentType: undefined })), undefined);
  assert.equal(checkWrite(write({ origin: 'http://evil.example' }))?.status, 403);
  assert.equal(checkWrite(write({ origin: 'null' }))?.status, 403);
  assert.equal(checkWrite(write({ origin: 'https://127.0.0.1:8380' }))?.status, 403, 'scheme is part of the origin');
  assert.equal(checkWrite(write({ secFetchSite: 'cross-site' }))?.status, 403);
  assert.equal(checkWrite(write({ secFetchSite: 'same-site' }))?.status, 403, 'another port on the same host is another origin');
  for (const t of ['application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'text/plain', undefined]) assert.equal(checkWrite(write({ origin: undefined, secFetchSite: undefined, contentType: t }))?.status, 415, String(t));
});

test('cookie, bearer, constant-time compare, sessions with a lifetime', () => {
  assert.equal(cookieValue('a=1; cg_session=abc; b=2', 'cg_session'), 'abc');
  assert.equal(cookieValue(undefined, 'cg_session'), undefined);
  assert.equal(bearerToken('Bearer abcdefghijklmnopqrstuvwxyz'), 'abcdefghijklmnopqrstuvwxyz');
  assert.equal(bearerToken('Basic abc'), undefined);
  assert.ok(sameSecret('x'.repeat(43), 'x'.repeat(43)));
  assert.ok(!sameSecret('x'.repeat(43), 'y'.repeat(43)));
  assert.match(sessionCookie('id', false, 60), /^cg_session=id; HttpOnly; SameSite=Strict; Path=\/; Max-Age=60$/);
  assert.match(sessionCookie('id', true, 60), /; Secure$/);
  const s = new Sessions(1000, 2);
  const id = (n: number) => `${'s'.repeat(24)}${n}`;
  s.add(id(1), 0);
  assert.ok(s.valid(id(1), 999));
  assert.ok(!s.valid(id(1), 1000), 'expired');
  s.add(id(2), 0);
  s.add(id(3), 0);
  s.add(id(4), 0);
  assert.ok(!s.valid(id(2), 1) && s.valid(id(4), 1), 'bounded: the oldest goes');
  assert.ok(!s.valid('short', 0) && !s.valid(undefined, 0));
});
