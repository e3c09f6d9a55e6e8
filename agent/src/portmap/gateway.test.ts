import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseProcNetRoute, parseRouteGet } from './gateway.ts';

test('gateway: default route from /proc/net/route (little-endian hex)', () => {
  const text =
    'Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n' +
    'eth0\t0000010A\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n' +
    'eth0\t00000000\t0100010A\t0003\t0\t0\t0\t00000000\t0\t0\t0\n';
  assert.deepEqual(parseProcNetRoute(text), { gateway: '10.1.0.1', iface: 'eth0' });
  assert.equal(parseProcNetRoute(text.split('\n').slice(0, 2).join('\n')), undefined);
});

test('gateway: FreeBSD route -n get default', () => {
  const out = '   route to: default\ndestination: default\n       mask: default\n    gateway: 192.168.1.1\n        fib: 0\n  interface: vtnet0\n';
  assert.equal(parseRouteGet(out), '192.168.1.1');
  assert.equal(parseRouteGet('route: route has not been found\n'), undefined);
});
