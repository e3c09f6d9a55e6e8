import { test } from 'node:test';
import assert from 'node:assert/strict';
import { validateConfig } from '../../config/load.ts';
import { advertisedAddress, chooseUdpRelay, limitsFromConfig } from './node-relay.ts';

const key = (c: string): string => c.repeat(64);

test('advertised address: configured, else public IP with the relay port, nothing when off or unknown', () => {
  const on = validateConfig({ mesh: { udpRelay: { enabled: true } } }).mesh.udpRelay;
  assert.equal(advertisedAddress(on, '203.0.113.5'), '203.0.113.5:41642');
  assert.equal(advertisedAddress(on, '2001:db8::5'), '[2001:db8::5]:41642');
  assert.equal(advertisedAddress(on, undefined), undefined);
  assert.equal(advertisedAddress({ ...on, advertise: '198.51.100.1:9' }, '203.0.113.5'), '198.51.100.1:9');
  assert.equal(advertisedAddress(validateConfig({}).mesh.udpRelay, '203.0.113.5'), undefined);
  assert.equal(limitsFromConfig(on).controlBurst, 20);
});

test('relay choice: both sides of a pair pick the same relay, never themselves, and pairs spread over relays', () => {
  const members = ['1', '2', '3', '4'].map((c, i) => ({ nodeKey: key(c), discoKey: key('d'), udpRelay: `192.0.2.${i + 1}:41642` }));
  const plain = ['a', 'b', 'c', 'e', 'f'].map((c) => ({ nodeKey: key(c), discoKey: key('d') }));
  const all = [...members, ...plain];
  const picks = new Set<string>();
  for (const x of plain) {
    for (const y of plain) {
      if (x === y) continue;
      const ab = chooseUdpRelay(x.nodeKey, y.nodeKey, all);
      assert.deepEqual(ab, chooseUdpRelay(y.nodeKey, x.nodeKey, [...all].reverse()));
      picks.add(ab!.nodeKey);
    }
  }
  assert.ok(picks.size >= 2, 'pairs spread over more than one relay');
  const self = chooseUdpRelay(key('1'), key('a'), all);
  assert.notEqual(self?.nodeKey, key('1'));
  assert.equal(chooseUdpRelay(key('a'), key('b'), plain), undefined);
  assert.equal(chooseUdpRelay(key('a'), key('b'), [{ nodeKey: key('1'), discoKey: key('d'), udpRelay: 'garbage' }]), undefined);
});
