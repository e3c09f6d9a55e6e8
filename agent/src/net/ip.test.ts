import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseIPv4, parseIPv6, formatIp, parseCidr, cidrContains, toMappedV6, fromMappedV6, parseHostPort } from './ip.ts';

test('IPv4 parse accepts dotted quads and refuses the rest', () => {
  assert.deepEqual(Array.from(parseIPv4('192.0.2.1')!), [192, 0, 2, 1]);
  for (const bad of ['256.0.0.1', '1.2.3', '01.2.3.4', '1.2.3.4.5', '', 'a.b.c.d']) assert.equal(parseIPv4(bad), undefined, bad);
});

test('IPv6 parse and RFC 5952 format round-trip', () => {
  const cases: [string, string][] = [
    ['2001:db8::1', '2001:db8::1'],
    ['2001:0DB8:0:0:0:0:0:1', '2001:db8::1'],
    ['::', '::'],
    ['::ffff:192.0.2.1', '::ffff:c000:201'],
    ['fe80::1:0:0:0:1', 'fe80:0:0:1::1'],
  ];
  for (const [input, want] of cases) assert.equal(formatIp(parseIPv6(input)!), want, input);
  for (const bad of ['1::2::3', '12345::', ':::', '1:2:3:4:5:6:7:8:9', 'fe80::1%eth0']) assert.equal(parseIPv6(bad), undefined, bad);
});

test('CIDR parse, host-bit check and containment (IPv4-mapped counts as IPv4)', () => {
  const lan = parseCidr('192.168.1.0/24')!;
  assert.equal(lan.prefixLen, 24);
  assert.equal(parseCidr('192.168.1.5/24'), undefined, 'host bits set');
  assert.ok(parseCidr('192.168.1.5/24', { loose: true }));
  assert.equal(parseCidr('10.0.0.0/33'), undefined);
  assert.ok(cidrContains(lan, parseIPv4('192.168.1.77')!));
  assert.ok(!cidrContains(lan, parseIPv4('192.168.2.1')!));
  assert.ok(cidrContains(lan, toMappedV6(parseIPv4('192.168.1.9')!)));
  assert.equal(fromMappedV6(parseIPv6('2001:db8::1')!), undefined);
  assert.ok(cidrContains(parseCidr('2001:db8::/32')!, parseIPv6('2001:db8:1::5')!));
});

test('host:port parsing', () => {
  assert.deepEqual(parseHostPort('stun.example:3478'), { host: 'stun.example', port: 3478 });
  assert.deepEqual(parseHostPort('[2001:db8::1]:443'), { host: '2001:db8::1', port: 443 });
  for (const bad of ['host', 'host:0', 'host:70000', '2001:db8::1:443', '[nothost]:1']) assert.equal(parseHostPort(bad), undefined, bad);
});
