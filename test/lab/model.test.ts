// The pure NAT model (no namespaces): mapping and filtering of one NatBox, and hole-punching predictions.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { NatBox, predictDirect } from './model.ts';
import { NAT_PRESETS } from './spec.ts';

const host = { addr: '10.0.0.1', port: 5000 };
const s1 = { addr: 's1', port: 3478 };
const s1b = { addr: 's1', port: 3479 };
const s2 = { addr: 's2', port: 3478 };

describe('NAT model', () => {
  it('mapping: eim keeps one port, adm one per address, apdm one per endpoint', () => {
    const ports = (mapping: 'eim' | 'adm' | 'apdm') => {
      const nat = new NatBox({ mapping, filtering: 'apdf' }, 'pub');
      return [s1, s1b, s2].map((d) => nat.outbound(host, d).port);
    };
    assert.deepEqual(ports('eim'), [5000, 5000, 5000]);
    const adm = ports('adm');
    assert.equal(adm[0], adm[1]);
    assert.notEqual(adm[0], adm[2]);
    assert.equal(new Set(ports('apdm')).size, 3);
  });

  it('filtering: eif admits anyone, adf known addresses, apdf known endpoints', () => {
    const admits = (filtering: 'eif' | 'adf' | 'apdf') => {
      const nat = new NatBox({ mapping: 'eim', filtering }, 'pub');
      const port = nat.outbound(host, s1).port;
      return [s1, s1b, s2].map((from) => nat.inbound(from, port) !== null);
    };
    assert.deepEqual(admits('eif'), [true, true, true]);
    assert.deepEqual(admits('adf'), [true, true, false]);
    assert.deepEqual(admits('apdf'), [true, false, false]);
    assert.equal(new NatBox({ mapping: 'eim', filtering: 'eif' }, 'pub').inbound(s1, 5000), null, 'no mapping, no entry');
  });

  it('an admitted inbound flow is answered from the same port, even by a symmetric mapping', () => {
    const nat = new NatBox({ mapping: 'apdm', filtering: 'eif' }, 'pub');
    const port = nat.outbound(host, s1).port;
    assert.deepEqual(nat.inbound(s2, port), host);
    assert.equal(nat.outbound(host, s2).port, port);
  });

  it('predicts hole punching between presets', () => {
    const p = (a: keyof typeof NAT_PRESETS, b: keyof typeof NAT_PRESETS) => predictDirect([NAT_PRESETS[a]], [NAT_PRESETS[b]]);
    assert.equal(p('port-restricted', 'port-restricted'), true);
    assert.equal(p('restricted-cone', 'symmetric'), true);
    assert.equal(p('port-restricted', 'symmetric'), false);
    assert.equal(p('symmetric', 'symmetric'), false);
    assert.equal(p('address-dependent', 'address-dependent'), false);
    // Behind two NATs the harder one decides: a cone NAT behind a symmetric CGNAT is symmetric.
    assert.equal(predictDirect([NAT_PRESETS['full-cone'], NAT_PRESETS.symmetric], [NAT_PRESETS['port-restricted']]), false);
    assert.equal(predictDirect([NAT_PRESETS['port-restricted'], NAT_PRESETS['port-restricted']], [NAT_PRESETS['port-restricted']]), true);
  });
});
