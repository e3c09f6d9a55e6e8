// Pure parts of the lab: spec validation, the address plan, the generated nftables rules, the probe's
// endpoint parsing and the NAT classifiers. No namespaces.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ConegateError } from '../../agent/src/errors.ts';
import { routerRuleset, mappingStatement } from './nat-rules.ts';
import { classifyFiltering, classifyMapping } from './measure.ts';
import { planLab } from './plan.ts';
import { formatEndpoint, parseEndpoint } from './probe.ts';
import { LAB_PRESETS, normalizeSpec, resolveNat } from './spec.ts';
import { netnsName, uniqueIfname } from './names.ts';

const invalid = (fn: () => unknown, re: RegExp) =>
  assert.throws(fn, (e: unknown) => e instanceof ConegateError && e.code === 'CG_CONFIG_INVALID' && re.test(e.message));

describe('lab spec', () => {
  it('fills defaults', () => {
    const s = normalizeSpec({ sites: [{ name: 'a' }] });
    assert.deepEqual(s.servers, ['s1', 's2']);
    assert.deepEqual(s.sites[0], { name: 'a', nat: { mapping: 'apdm', filtering: 'apdf', hairpin: false, timeoutSec: 120 }, hosts: ['h1'], uplink: null, firewall: 'none', ipv6: false, ipv6Inbound: 'stateful' });
    assert.equal(s.ipv6, false);
    assert.equal(normalizeSpec({ sites: [{ name: 'a', ipv6: true }] }).ipv6, true, 'a dual-stack site turns on the lab IPv6');
  });

  it('rejects bad specs with the reason', () => {
    invalid(() => normalizeSpec(null), /must be an object/);
    invalid(() => normalizeSpec({ site: [] }), /unknown key "site"/);
    invalid(() => normalizeSpec({ sites: [{ name: 'a', nat: 'cone' }] }), /unknown NAT preset "cone"/);
    invalid(() => normalizeSpec({ sites: [{ name: 'a', nat: { mapping: 'eim', filtering: 'x' } }] }), /filtering/);
    invalid(() => normalizeSpec({ sites: [{ name: 'a' }, { name: 'a' }] }), /duplicate name "a"/);
    invalid(() => normalizeSpec({ sites: [{ name: 's1' }] }), /duplicate name "s1"/);
    invalid(() => normalizeSpec({ sites: [{ name: 'a', uplink: 'nope' }] }), /uplink names no isp/);
    invalid(() => normalizeSpec({ sites: [{ name: 'A b' }] }), /name must match/);
    invalid(() => normalizeSpec({ sites: [{ name: 'inet' }] }), /name must match/);
    invalid(() => normalizeSpec({ sites: [{ name: 'a', hosts: ['router'] }] }), /bad or duplicate host/);
    invalid(() => normalizeSpec({ sites: [{ name: 'a', firewall: 'strict' }] }), /firewall/);
    invalid(() => resolveNat({ mapping: 'eim', filtering: 'eif', timeoutSec: 0 }, 'x'), /timeoutSec/);
  });

  it('every topology preset is valid', () => {
    for (const [name, spec] of Object.entries(LAB_PRESETS)) assert.doesNotThrow(() => normalizeSpec(spec), name);
  });
});

describe('lab address plan', () => {
  const plan = planLab(normalizeSpec({ sites: [{ name: 'a', hosts: ['h1', 'h2'], ipv6: true }, { name: 'b', uplink: 'isp' }], isps: [{ name: 'isp' }] }));
  const node = (n: string) => plan.nodes.find((x) => x.name === n)!;

  it('uses documentation, shared and private ranges only', () => {
    assert.equal(node('s1').uplink!.v4, '203.0.113.10');
    assert.equal(node('s1').alt4, '198.51.100.10');
    assert.equal(node('s2').uplink!.v6, '2001:db8:ff::11');
    assert.equal(node('isp').uplink!.v4, '203.0.113.100');
    assert.equal(node('a.router').uplink!.v4, '203.0.113.101');
    assert.equal(node('b.router').uplink!.v4, '100.64.1.10');
    assert.equal(node('a.h2').uplink!.v4, '10.1.0.11');
    assert.equal(node('a.h2').uplink!.v6, '2001:db8:1::11');
    assert.equal(node('b.h1').uplink!.v4, '10.2.0.10');
    for (const n of plan.nodes) for (const a of [n.uplink?.v4, n.bridge?.v4, n.alt4].filter(Boolean)) assert.match(a!, /^(203\.0\.113|198\.51\.100|100\.64|10\.\d+\.0|192\.168)\./);
  });

  it('routes a dual-stack site prefix from the internet node', () => {
    assert.deepEqual(node('inet').routes6, [['2001:db8:1::/64', '2001:db8:ff::101']]);
    assert.equal(node('b.h1').ipv6, false);
  });

  it('names fit the kernel limits', () => {
    assert.equal(netnsName('cgab1', 'a.router'), 'cgab1-a-router');
    assert.ok(uniqueIfname('cgabcdefgh12', 'wg', 3).length <= 15);
    assert.notEqual(uniqueIfname('cgab1', 'wg', 1), uniqueIfname('cgab1', 'wg', 2));
  });
});

describe('lab router rules', () => {
  const base = { wanIf: 'wan0', lanIf: 'lan0', wan4: '203.0.113.100', lanNet4: '10.1.0.0/24', firewall: 'none' as const, ipv6Inbound: 'stateful' as const };
  const rules = (mapping: 'eim' | 'adm' | 'apdm', filtering: 'eif' | 'adf' | 'apdf', hairpin = false, firewall: 'none' | 'udp-blocked' = 'none') =>
    routerRuleset({ ...base, firewall, nat: { mapping, filtering, hairpin, timeoutSec: 120 } });

  it('mapping statements: port-preserving snat, hashed per remote address, random', () => {
    assert.deepEqual(mappingStatement('eim', '192.0.2.1'), ['snat ip to 192.0.2.1']);
    assert.match(mappingStatement('adm', '192.0.2.1')[0]!, /jhash ip saddr \. th sport \. ip daddr/);
    assert.deepEqual(mappingStatement('apdm', '192.0.2.1'), ['snat ip to 192.0.2.1 random']);
  });

  it('filtering: eif and adf dnat through the recorded maps, apdf relies on conntrack', () => {
    assert.match(rules('eim', 'eif'), /iifname "wan0" ip daddr 203\.0\.113\.100 dnat ip to udp dport map @mappings/);
    assert.match(rules('eim', 'adf'), /dnat ip to udp dport \. ip saddr map @adf/);
    assert.doesNotMatch(rules('eim', 'apdf'), /iifname "wan0" ip daddr .* dnat/);
    assert.match(rules('eim', 'apdf'), /policy drop;/);
  });

  it('hairpin and firewall options', () => {
    assert.match(rules('eim', 'apdf', true), /iifname "lan0" ip daddr 203\.0\.113\.100 dnat ip to udp dport map @mappings/);
    assert.match(rules('eim', 'apdf', false), /iifname "lan0" ip daddr 203\.0\.113\.100 meta l4proto udp drop/);
    assert.match(rules('apdm', 'apdf', false, 'udp-blocked'), /tcp dport 443 accept\n.*iifname "lan0" oifname "wan0" drop/);
  });

  it('replaces only its own table, atomically', () => {
    const text = rules('eim', 'eif');
    assert.ok(text.startsWith('table inet lab\ndelete table inet lab\ntable inet lab {'));
    assert.doesNotMatch(text, /flush ruleset/);
  });
});

describe('lab probe helpers', () => {
  it('parses and formats endpoints', () => {
    assert.deepEqual(parseEndpoint('203.0.113.1:3478'), { address: '203.0.113.1', port: 3478 });
    assert.deepEqual(parseEndpoint('[2001:db8::1]:5'), { address: '2001:db8::1', port: 5 });
    for (const bad of ['203.0.113.1', '203.0.113.1:70000', '2001:db8::1:5', 'x:1', '[1.2.3.4]:5', '']) assert.equal(parseEndpoint(bad), undefined, bad);
    assert.equal(formatEndpoint('2001:db8::1', 7), '[2001:db8::1]:7');
  });

  it('classifies mapping and filtering', () => {
    assert.equal(classifyMapping(['x:1', 'x:1', 'x:1', 'x:1']), 'eim');
    assert.equal(classifyMapping(['x:1', 'x:1', 'x:2', 'x:3']), 'adm');
    assert.equal(classifyMapping(['x:1', 'x:2', 'x:3', 'x:4']), 'apdm');
    assert.equal(classifyMapping(['x:1', null, 'x:1', 'x:1']), 'unknown');
    assert.equal(classifyFiltering(true, true), 'eif');
    assert.equal(classifyFiltering(true, false), 'adf');
    assert.equal(classifyFiltering(false, false), 'apdf');
  });
});
