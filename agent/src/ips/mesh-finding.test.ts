import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Finding, IpsReport } from './findings.ts';
import { wireguardFinding } from './mesh-finding.ts';

const finding = (over: Partial<Finding>): Finding => ({
  engine: 'suricata', platform: 'opnsense', interface: 'wan', sid: 2027722, msg: 'ET POLICY WireGuard VPN handshake', source: 'rules/x.rules:1', action: 'drop', mode: 'inline', severity: 'blocks',
  hits: [{ kind: 'wireguard', verdict: 'match', packets: ['wireguard initiation'] }], why: '', fix: ['Services > Intrusion Detection > Administration > Rules: sid 2027722 action alert'], notes: [], ...over,
});
const report = (findings: Finding[]): IpsReport => ({ platform: 'OPNsense', root: '/', instances: [], findings, errors: [], blocking: findings.length > 0, complete: true });

test('a rule that drops our WireGuard traffic becomes one line with the rule and its fix', () => {
  const t = wireguardFinding(report([finding({}), finding({ sid: 2027723 })]))!;
  assert.match(t, /^suricata rule 2027722 "ET POLICY WireGuard VPN handshake" \(blocks WireGuard, inline\) on wan and 1 more; fix: Services > Intrusion Detection/);
});

test('STUN-only or alert-only findings say nothing about WireGuard', () => {
  assert.equal(wireguardFinding(report([finding({ hits: [{ kind: 'stun', verdict: 'match', packets: [] }] })])), undefined);
  assert.equal(wireguardFinding(report([finding({ severity: 'alert-only' })])), undefined);
  assert.equal(wireguardFinding(report([])), undefined);
});
