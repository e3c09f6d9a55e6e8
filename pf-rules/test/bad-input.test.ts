/** Bad or unknown configs give a clear ConegateError with a stable code and generate nothing. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { readConfigXml, readPfConf } from '../src/readers/index.ts';
import { generateAnchor, type NatPolicy } from '../src/generate.ts';
import { isConegateError } from '../../agent/src/errors.ts';

const fix = (name: string) => readFileSync(new URL(`./fixtures/${name}`, import.meta.url), 'utf8');
const policy = (over: Partial<NatPolicy> = {}): NatPolicy => ({ mode: 'auto', wan: [], scope: { sources: [], ports: [] }, ...over });
const eim = { eim: true, reason: 'test' };

function rejects(fn: () => unknown, code: string, pattern: RegExp) {
  assert.throws(fn, (e: unknown) => isConegateError(e) && e.code === code && pattern.test(e.message));
}

test('bad config.xml files', () => {
  rejects(() => readConfigXml(fix('bad/pfsense-bad-mode.xml')), 'CG_INPUT_INVALID', /unknown outbound NAT mode "manualish"/);
  rejects(() => readConfigXml(fix('bad/unknown-root.xml')), 'CG_INPUT_INVALID', /<m0n0wall>/);
  rejects(() => readConfigXml(fix('bad/pfsense-unknown-interface.xml')), 'CG_INPUT_INVALID', /unknown interface "opt9"/);
  rejects(() => readConfigXml(fix('bad/opnsense-malformed.xml')), 'CG_INPUT_INVALID', /not well-formed XML.*line 2/);
  rejects(() => readConfigXml(fix('bad/pfsense-bad-natport.xml')), 'CG_INPUT_INVALID', /port "70000"/);
  rejects(() => readConfigXml(fix('pfsense-automatic.xml'), 'opnsense'), 'CG_INPUT_INVALID', /--platform opnsense/);
});

test('bad pf.conf files', () => {
  rejects(() => readPfConf(fix('bad/nat-to.pf.conf')), 'CG_INPUT_INVALID', /line 2: nat-to/);
  rejects(() => readPfConf(fix('bad/repeated-option.pf.conf')), 'CG_INPUT_INVALID', /line 1: .*static-port given twice/);
  rejects(() => readPfConf(fix('bad/undefined-macro.pf.conf')), 'CG_INPUT_INVALID', /\$wan is used before/);
  rejects(() => readPfConf('pass all\n'), 'CG_INPUT_INVALID', /no nat rules/);
});

test('policies that do not fit the router', () => {
  const model = readConfigXml(fix('pfsense-hybrid-multiwan.xml'));
  rejects(() => generateAnchor(model, policy({ wan: ['wan9'] }), eim), 'CG_CONFIG_INVALID', /"wan9" is not a WAN/);
  rejects(() => generateAnchor(model, policy({ mode: 'static-port' }), eim), 'CG_CONFIG_INVALID', /needs nat.scope.sources/);
  rejects(() => generateAnchor(model, policy({ mode: 'endpoint-independent' }), { eim: false, reason: 'pfctl rejects it' }), 'CG_UNSUPPORTED', /pfctl rejects it/);
  rejects(() => generateAnchor(model, policy({ scope: { sources: ['192.168.1.0/24'], ports: ['0-5'] } }), eim), 'CG_CONFIG_INVALID', /nat.scope.ports/);
});

test('narrowing: a scope outside every rule yields an empty anchor, a negated source is subtracted', () => {
  const model = readConfigXml(fix('pfsense-automatic.xml'));
  const out = generateAnchor(model, policy({ scope: { sources: ['172.31.0.0/16'], ports: [] } }), eim);
  assert.equal(out.rules.length, 0);
  assert.ok(out.warnings.some((w) => /anchor is empty/.test(w)));
  const adv = readConfigXml(fix('opnsense-advanced.xml'));
  const narrowed = generateAnchor(adv, policy({ scope: { sources: ['10.0.0.5/32'], ports: ['41641'] } }), eim);
  assert.deepEqual(narrowed.rules.map((r) => r.line), ['nat on ix0 inet proto udp from 10.0.0.5 port 41641 to ! 10.8.0.0/16 -> 192.0.2.16/30 port 1024:65535 source-hash 0x0123456789abcdef0123456789abcdef endpoint-independent']);
});

test('disabled outbound NAT generates no rules', () => {
  const xml = fix('pfsense-automatic.xml').replace('<mode>automatic</mode>', '<mode>disabled</mode>');
  const out = generateAnchor(readConfigXml(xml), policy(), eim);
  assert.equal(out.mode, 'none');
  assert.equal(out.rules.length, 0);
});
