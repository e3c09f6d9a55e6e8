import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isConegateError } from '../errors.ts';
import { checkMixedAnchorText, parseFilterRule } from '../../../pf-rules/src/filter-grammar.ts';
import { subnetNftRemoveText, subnetNftText, subnetPfText, type SubnetPolicy } from './subnet-rules.ts';

const policy: SubnetPolicy = { meshIf: 'cg0', routes: [{ cidr: '10.2.0.0/24', lanIf: 'igb1' }, { cidr: 'fd00:b::/64', lanIf: 'igb1' }, { cidr: '10.2.0.0/24', lanIf: 'igb1' }], snat: true };

test('nftables: one table of ours, replaced in one transaction; forward only to our prefixes; SNAT into the LAN', () => {
  assert.equal(
    subnetNftText(policy),
    [
      'table inet conegate_subnet',
      'delete table inet conegate_subnet',
      'table inet conegate_subnet {',
      '  set routes4 { type ipv4_addr; flags interval; elements = { 10.2.0.0/24 }; }',
      '  set routes6 { type ipv6_addr; flags interval; elements = { fd00:b::/64 }; }',
      '  chain forward {',
      '    type filter hook forward priority filter - 5; policy accept;',
      '    iifname "cg0" ip daddr @routes4 accept comment "mesh to an advertised subnet"',
      '    iifname "cg0" ip6 daddr @routes6 accept comment "mesh to an advertised subnet"',
      '    iifname "cg0" ct state established,related accept comment "replies to connections the LAN opened"',
      '    iifname "cg0" drop comment "not an exit node: nothing else from the mesh is forwarded"',
      '  }',
      '  chain postrouting {',
      '    type nat hook postrouting priority srcnat - 5; policy accept;',
      '    iifname "cg0" ip daddr @routes4 masquerade comment "mesh into the LAN as the router"',
      '    iifname "cg0" ip6 daddr @routes6 masquerade comment "mesh into the LAN as the router"',
      '  }',
      '}',
      '',
    ].join('\n'),
  );
  assert.equal(subnetNftRemoveText(), 'table inet conegate_subnet\ndelete table inet conegate_subnet\n');
});

test('SNAT off: no nat chain; the forward rules stay', () => {
  const text = subnetNftText({ ...policy, snat: false });
  assert.ok(!text.includes('masquerade') && !text.includes('postrouting'));
  assert.ok(text.includes('iifname "cg0" drop'));
  assert.ok(!subnetPfText({ ...policy, snat: false }).includes('nat on'));
});

test('PF anchor: nat rules first, then quick filter rules; every line passes the pf.conf grammar check', () => {
  const text = subnetPfText(policy);
  const { nat, filter } = checkMixedAnchorText(text);
  assert.deepEqual(nat.map((r) => [r.on, r.af, r.tagged, r.redirect?.target]), [['igb1', 'inet', 'CG_SUBNET', '(igb1:0)'], ['igb1', 'inet6', 'CG_SUBNET', '(igb1:0)']]);
  assert.deepEqual(filter.map((r) => [r.action, r.direction, r.quick, r.on, r.to, r.tag ?? null]), [
    ['pass', 'in', true, 'cg0', '10.2.0.0/24', 'CG_SUBNET'],
    ['pass', 'in', true, 'cg0', 'fd00:b::/64', 'CG_SUBNET'],
    ['pass', 'in', true, 'cg0', '(cg0)', null],
    ['block', 'in', true, 'cg0', 'any', null],
  ]);
  for (const line of text.split('\n')) if (line && !line.startsWith('#')) assert.ok(!line.includes('\n'));
});

test('the grammar check refuses what pfctl refuses', () => {
  assert.throws(() => parseFilterRule('pass in quick on cg0 inet from any to fd00::/64 keep state'), /af/);
  assert.throws(() => parseFilterRule('pass in quick on cg0 from any to 10.2.0.1/24'), /zero host bits/);
  assert.throws(() => parseFilterRule('pass in on cg0 from any to any keep state keep state'), /repeated/);
  assert.throws(() => parseFilterRule('allow in all'), /pass or block/);
  assert.throws(() => checkMixedAnchorText('block drop in quick on cg0 all\nnat on igb1 from any to 10.0.0.0/8 -> (igb1:0)'), /after a filter rule/);
});

test('bad input is refused with CG_CONFIG_INVALID before any text is made', () => {
  const refused = (p: Partial<SubnetPolicy>) => assert.throws(() => subnetNftText({ ...policy, ...p }), (e) => isConegateError(e) && e.code === 'CG_CONFIG_INVALID');
  refused({ meshIf: 'cg0"; flush ruleset; "' });
  refused({ routes: [{ cidr: '10.2.0.1/24' }] });
  refused({ routes: [{ cidr: '10.2.0.0' }] });
  refused({ routes: [{ cidr: '0.0.0.0/0' }] });
  refused({ routes: [{ cidr: '10.2.0.0/24', lanIf: 'igb1 all' }] });
  assert.throws(() => subnetPfText({ ...policy, routes: [{ cidr: '10.2.0.0/24' }] }), /names the LAN interface/);
});
