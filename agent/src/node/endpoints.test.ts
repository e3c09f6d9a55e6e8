import { test } from 'node:test';
import assert from 'node:assert/strict';
import { gatherEndpoints } from './endpoints.ts';

test('endpoints: port mapping and STUN first, then interface addresses; loopback, link-local and the tunnel left out', () => {
  const eps = gatherEndpoints({
    interfaces: {
      lo: [{ address: '127.0.0.1', family: 'IPv4', internal: true }],
      eth0: [
        { address: '192.0.2.7', family: 'IPv4', internal: false },
        { address: 'fe80::1', family: 'IPv6', internal: false },
        { address: '2001:db8::7', family: 'IPv6', internal: false },
      ],
      cg0: [{ address: '100.64.0.2', family: 'IPv4', internal: false }],
    },
    port: 41641,
    exclude: ['cg0'],
    portmap: '198.51.100.9:41641',
    stun: ['198.51.100.9:41641', '203.0.113.4:5000'],
  });
  assert.deepEqual(eps, [
    { addr: '198.51.100.9:41641', type: 'portmap' },
    { addr: '203.0.113.4:5000', type: 'stun' },
    { addr: '192.0.2.7:41641', type: 'local' },
    { addr: '[2001:db8::7]:41641', type: 'local' },
  ]);
});
