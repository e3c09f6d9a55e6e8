import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseNatRule, checkAnchorText } from './grammar.ts';
import { DecodeError } from '../../agent/src/errors.ts';

test('accepts the rules we emit and the pf.conf(5) forms around them', () => {
  const ok = [
    'nat on igb0 inet proto udp from 192.168.1.0/24 to any -> (igb0:0) port 1024:65535 endpoint-independent',
    'nat on igb0 inet proto udp from { 192.168.1.0/24, 10.10.0.0/24 } to any port 500 -> 203.0.113.2 static-port',
    'no nat on igb0 inet proto udp from 192.168.1.0/24 to ! 10.99.0.0/16',
    'nat on ix0 inet proto udp from 172.16.0.0/16 to any -> 198.51.100.8/29 port 10000:20000 round-robin sticky-address endpoint-independent',
    'nat on ix0 inet proto udp from 10.0.0.0/24 to any -> 192.0.2.16/30 source-hash 0x0123456789abcdef0123456789abcdef endpoint-independent',
    // pool options in any order (pfctl reads them in a loop)
    'nat on em0 from 10.0.0.0/8 to any -> (em0) endpoint-independent static-port',
    'nat on em0 proto { tcp, udp } from em1:network port { 5000, 6000:6010 } to any -> <pool> round-robin',
    'nat on em0 inet6 proto udp from fd00::/64 to any -> (em0:0)',
  ];
  for (const line of ok) assert.doesNotThrow(() => parseNatRule(line), line);
  const r = parseNatRule(ok[0]!);
  assert.equal(r.redirect?.endpointIndependent, true);
  assert.deepEqual(r.redirect?.ports, { from: 1024, to: 65535 });
});

test('rejects what pfctl rejects: repeated options, stray words, no-nat with a target, misplaced port', () => {
  const bad = [
    'nat on em0 from 10.0.0.0/8 to any -> (em0) endpoint-independent endpoint-independent',
    'nat on em0 from 10.0.0.0/8 to any -> (em0) static-port static-port',
    'nat on em0 from 10.0.0.0/8 to any -> (em0) round-robin random',
    'no nat on em0 from 10.0.0.0/8 to any -> (em0)',
    'nat on em0 from 10.0.0.0/8 to any',
    'nat on em0 from 10.0.0.0/8 to any -> (em0) endpoint-independent port 1024:65535',
    'nat on em0 from 10.0.0.0/8 to any -> (em0) port 70000',
    'nat on em0 from 10.0.0.0/8 to any -> (em0) port 2000:1000',
    'nat on em0 from 10.0.0.300 to any -> (em0)',
    'nat on em0 from ! any to any -> (em0)',
    'nat on em0 from 10.0.0.0/8 to any -> any',
    'nat on em0 from 10.0.0.0/8 to any -> { 192.0.2.1, 192.0.2.2 } source-hash',
    'pass out on em0 nat-to (em0)',
    'nat on em0 from 10.0.0.0/8 to any -> (em0) fast',
  ];
  for (const line of bad) assert.throws(() => parseNatRule(line), DecodeError, line);
});

test('checkAnchorText skips comments and blank lines and checks every rule', () => {
  assert.equal(checkAnchorText('# why\nnat on em0 from 10.0.0.0/8 to any -> (em0:0)\n\n').rules.length, 1);
  assert.throws(() => checkAnchorText('# why\nnat on em0 from 10.0.0.0/8 to any -> (em0:0) endpoint-independent endpoint-independent\n'), DecodeError);
});
