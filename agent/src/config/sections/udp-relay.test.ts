import { test } from 'node:test';
import assert from 'node:assert/strict';
import { validateConfig } from '../load.ts';
import { isConegateError } from '../../errors.ts';

function problemsOf(data: unknown): string[] {
  try {
    validateConfig(data);
  } catch (err) {
    assert.ok(isConegateError(err));
    return err.context.problems as string[];
  }
  return [];
}

test('mesh.udpRelay: off by default, with its port and limits', () => {
  const c = validateConfig({});
  assert.deepEqual(c.mesh.udpRelay, {
    enabled: false, port: 41642, address: '0.0.0.0', maxAllocations: 1000, requestsPerClientPerSec: 10, packetsPerSecPerPeer: 100000, kernelForward: 'auto',
  });
  const on = validateConfig({ mesh: { udpRelay: { enabled: true, port: 3480, advertise: '203.0.113.5:3480' } } });
  assert.equal(on.mesh.udpRelay.enabled, true);
  assert.equal(on.mesh.udpRelay.advertise, '203.0.113.5:3480');
  assert.deepEqual(problemsOf({ mesh: { udpRelay: { advertise: '[2001:db8::5]:41642' } } }), []);
});

test('mesh.udpRelay: bad values are named with what was expected', () => {
  assert.deepEqual(problemsOf({ mesh: { udpRelay: { port: 0 } } }), ['mesh.udpRelay.port: 0 is out of range (must be >= 1)']);
  assert.match(problemsOf({ mesh: { udpRelay: { advertise: 'relay.example.net:41642' } } })[0]!, /^mesh\.udpRelay\.advertise: "relay\.example\.net:41642" is not ip:port with an IP address/);
  assert.match(problemsOf({ mesh: { udpRelay: { advertise: '203.0.113.5' } } })[0]!, /^mesh\.udpRelay\.advertise: "203\.0\.113\.5" is not host:port/);
  assert.match(problemsOf({ mesh: { udpRelay: { maxAllocations: 0 } } })[0]!, /^mesh\.udpRelay\.maxAllocations: 0 is out of range/);
  assert.match(problemsOf({ mesh: { udpRelay: { relay: true } } })[0]!, /^mesh\.udpRelay: unknown key "relay"/);
  assert.match(problemsOf({ mesh: { udpRelay: { kernelForward: 'on' } } })[0]!, /^mesh\.udpRelay\.kernelForward: /);
});
