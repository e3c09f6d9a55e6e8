import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { AllowedIps } from './allowed-ips.ts';
import { cidrContains, parseCidr, parseIp, type Cidr } from '../net/ip.ts';

const ip = (t: string): Uint8Array => parseIp(t)!.bytes;

test('longest prefix wins, IPv4 and IPv6', () => {
  const t = new AllowedIps<string>();
  for (const [c, p] of [
    ['0.0.0.0/0', 'default'],
    ['10.0.0.0/8', 'a'],
    ['10.1.0.0/16', 'b'],
    ['10.1.2.3/32', 'c'],
    ['::/0', 'v6default'],
    ['2001:db8::/32', 'd'],
    ['2001:db8:1::/48', 'e'],
  ] as const) assert.ok(t.insertText(c, p));
  assert.equal(t.lookup(ip('10.1.2.3')), 'c');
  assert.equal(t.lookup(ip('10.1.2.4')), 'b');
  assert.equal(t.lookup(ip('10.2.0.1')), 'a');
  assert.equal(t.lookup(ip('192.0.2.1')), 'default');
  assert.equal(t.lookup(ip('2001:db8:1::5')), 'e');
  assert.equal(t.lookup(ip('2001:db8:2::5')), 'd');
  assert.equal(t.lookup(ip('fd00::1')), 'v6default');
  assert.equal(t.insertText('not a prefix', 'x'), false);
});

test('insert replaces the owner of an identical prefix; remove and removePeer', () => {
  const t = new AllowedIps<string>();
  t.insertText('10.0.0.0/24', 'a');
  t.insertText('10.0.0.7/24', 'b'); // host bits cleared, same prefix: b takes it over
  assert.equal(t.lookup(ip('10.0.0.1')), 'b');
  assert.deepEqual(t.entriesOf('a'), []);
  assert.deepEqual(t.entriesOf('b'), ['10.0.0.0/24']);
  t.insertText('10.0.0.128/25', 'a');
  t.insertText('fd00::/64', 'a');
  assert.deepEqual(t.entriesOf('a'), ['10.0.0.128/25', 'fd00::/64']);
  assert.equal(t.remove(parseCidr('10.0.0.0/24')!, 'a'), false);
  assert.equal(t.remove(parseCidr('10.0.0.128/25')!, 'a'), true);
  assert.equal(t.lookup(ip('10.0.0.200')), 'b');
  t.removePeer('b');
  assert.equal(t.lookup(ip('10.0.0.200')), undefined);
  assert.equal(t.lookup(ip('fd00::9')), 'a');
  assert.equal(t.lookupAt(Uint8Array.from([9, 9, ...ip('fd00::9')]), 2, 16), 'a');
});

test('property: lookup equals a linear scan for the longest containing prefix', () => {
  const cidrArb = fc
    .tuple(fc.uint8Array({ minLength: 4, maxLength: 4 }), fc.integer({ min: 0, max: 32 }))
    .map(([b, len]) => parseCidr(`${Array.from(b).join('.')}/${len}`, { loose: true })!);
  fc.assert(
    fc.property(fc.array(fc.tuple(cidrArb, fc.integer({ min: 0, max: 5 })), { maxLength: 30 }), fc.array(fc.uint8Array({ minLength: 4, maxLength: 4 }), { maxLength: 20 }), (entries, addrs) => {
      const t = new AllowedIps<number>();
      const table = new Map<string, [Cidr, number]>();
      for (const [c, p] of entries) {
        t.insert(c, p);
        table.set(`${Array.from(c.bytes).join('.')}/${c.prefixLen}`, [c, p]);
      }
      for (const a of [...addrs, ...entries.map(([c]) => c.bytes)]) {
        let best: [Cidr, number] | undefined;
        for (const e of table.values()) if (cidrContains(e[0], a) && (!best || e[0].prefixLen > best[0].prefixLen)) best = e;
        assert.equal(t.lookup(a), best?.[1]);
      }
    }),
    { numRuns: 200 },
  );
});
