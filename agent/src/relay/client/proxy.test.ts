import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConegateError } from '../../errors.ts';
import { bypassesProxy, connectRefusal, connectRequest, parseProxyUrl, resolveProxy } from './proxy.ts';

test('proxy URL: host, port, credentials apart from what may be shown', () => {
  assert.deepEqual(parseProxyUrl('http://proxy.example:3128', 'x'), { host: 'proxy.example', port: 3128, display: 'http://proxy.example:3128' });
  assert.deepEqual(parseProxyUrl('http://al%40ice:p%3Ass@10.0.0.1:8888/', 'x'), { host: '10.0.0.1', port: 8888, credentials: 'al@ice:p:ss', display: 'http://10.0.0.1:8888' });
  assert.deepEqual(parseProxyUrl('http://[2001:db8::1]:3128', 'x'), { host: '2001:db8::1', port: 3128, display: 'http://[2001:db8::1]:3128' });
});

test('proxy URL: malformed forms are config errors that never echo the password', () => {
  for (const bad of ['proxy:3128', 'https://p.example:3128', 'socks5://p.example:1080', 'http://p.example', 'http://p.example:3128/x', 'http://u:secret@']) {
    assert.throws(
      () => parseProxyUrl(bad, 'mesh.proxy'),
      (e: unknown) => e instanceof ConegateError && e.code === 'CG_CONFIG_INVALID' && !e.message.includes('secret') && e.message.startsWith('mesh.proxy'),
      bad,
    );
  }
});

test('proxy choice: config first ("none" ignores the environment), then HTTPS_PROXY, then https_proxy', () => {
  const env = { HTTPS_PROXY: 'http://env.example:3128', https_proxy: 'http://lower.example:3128' };
  assert.equal(resolveProxy('relay.example', 443, { config: 'http://cfg.example:8080', env })?.host, 'cfg.example');
  assert.equal(resolveProxy('relay.example', 443, { config: 'none', env }), undefined);
  assert.equal(resolveProxy('relay.example', 443, { env })?.host, 'env.example');
  assert.equal(resolveProxy('relay.example', 443, { env: { https_proxy: env.https_proxy } })?.host, 'lower.example');
  assert.equal(resolveProxy('relay.example', 443, { env: {} }), undefined);
  assert.equal(resolveProxy('relay.example', 443, { env: { ...env, NO_PROXY: 'example' } }), undefined);
});

test('NO_PROXY: domains, leading dots, ports, IPs, CIDRs, *', () => {
  const yes: [string, number, string][] = [
    ['relay.example.net', 443, 'example.net'],
    ['relay.example.net', 443, '.example.net'],
    ['example.net', 443, '.example.net'],
    ['relay.example.net', 443, 'other.org, relay.example.net:443'],
    ['203.0.113.7', 443, '203.0.113.7'],
    ['203.0.113.7', 443, '203.0.113.0/24'],
    ['2001:db8::5', 443, '2001:db8::/32'],
    ['[2001:db8::5]', 443, '[2001:db8::5]:443'],
    ['anything', 1, '*'],
    ['RELAY.Example.NET.', 443, 'example.net'],
  ];
  for (const [h, p, n] of yes) assert.equal(bypassesProxy(h, p, n), true, `${h}:${p} with ${n}`);
  const no: [string, number, string][] = [
    ['relay.example.net', 443, 'ample.net'],
    ['relay.example.net', 443, 'relay.example.net:8443'],
    ['203.0.113.7', 443, '203.0.113.8'],
    ['198.51.100.7', 443, '203.0.113.0/24'],
    ['relay.example.net', 443, ''],
    ['relay.example.net', 443, ' , ,'],
  ];
  for (const [h, p, n] of no) assert.equal(bypassesProxy(h, p, n), false, `${h}:${p} with ${n}`);
});

test('CONNECT request: authority, Host, Basic credentials', () => {
  assert.equal(connectRequest('relay.example', 443, undefined), 'CONNECT relay.example:443 HTTP/1.1\r\nHost: relay.example:443\r\n\r\n');
  assert.equal(
    connectRequest('2001:db8::1', 443, 'Aladdin:open sesame'),
    // RFC 7617 section 2's example credentials.
    'CONNECT [2001:db8::1]:443 HTTP/1.1\r\nHost: [2001:db8::1]:443\r\nProxy-Authorization: Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==\r\n\r\n',
  );
});

test('CONNECT refusals: 407 names the credentials, others the status; the password never appears', () => {
  const withCreds = parseProxyUrl('http://u:hunter2@p.example:3128', 'x');
  const e407 = connectRefusal(407, 'Proxy Authentication Required', withCreds, 'relay.example:443');
  assert.equal(e407.code, 'CG_PROXY_REFUSED');
  assert.match(e407.message, /refused the credentials/);
  assert.doesNotMatch(e407.message, /hunter2/);
  const noCreds = connectRefusal(407, '', parseProxyUrl('http://p.example:3128', 'x'), 'relay.example:443');
  assert.match(noCreds.message, /requires authentication/);
  // tinyproxy's 401 for the same thing.
  assert.match(connectRefusal(401, 'Unauthorized', withCreds, 'relay.example:443').message, /refused the credentials in the proxy URL \(401\)/);
  const e403 = connectRefusal(403, 'Forbidden', withCreds, 'relay.example:443');
  assert.match(e403.message, /refused CONNECT to relay\.example:443: 403 Forbidden/);
  assert.doesNotMatch(JSON.stringify(e403.context), /hunter2/);
});
