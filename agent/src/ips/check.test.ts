/**
 * Acceptance: fixture trees under test/fixtures/ips/<platform>-<case>/ laid out as each platform keeps
 * its IPS files. Every finding is listed exactly (an extra one is a false alarm), with its action,
 * severity and the traffic it hits; broken files give one error each and the rest is still checked.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { checkIps } from './check.ts';
import type { Finding, IpsReport } from './findings.ts';
import { headline } from './format.ts';

const FIXTURES = fileURLToPath(new URL('../../../test/fixtures/ips/', import.meta.url));

async function run(name: string): Promise<IpsReport> {
  return checkIps({ root: FIXTURES + name, meshPorts: [41641], relayPorts: [443] });
}

/** "interface|sid-or-category|action|severity|kinds" with "?" on kinds that may match. */
function summary(r: IpsReport): string[] {
  return r.findings.map((f) => `${f.interface}|${f.sid ?? f.category}|${f.action}|${f.severity}|${f.hits.map((h) => h.kind + (h.verdict === 'unknown' ? '?' : '')).join(',')}`).sort();
}

function find(r: IpsReport, iface: string, sid: number): Finding {
  const f = r.findings.find((x) => x.interface === iface && x.sid === sid);
  assert.ok(f, `finding ${iface} ${sid}`);
  return f;
}

const EXPECTED: Record<string, string[]> = {
  'opnsense-inline': [
    'wan,lan|1000001|drop|blocks|wireguard',
    'wan,lan|1000002|drop|blocks|wireguard',
    'wan,lan|1000024|drop|blocks|relay',
    'wan,lan|1000030|drop|blocks|wireguard',
    'wan,lan|2016149|drop|blocks|stun',
    'wan,lan|1000020|drop|may-block|stun?',
    'wan,lan|1000021|drop|may-block|wireguard?',
    'wan,lan|2016150|alert|alert-only|stun',
    'wan,lan|2033078|alert|alert-only|stun',
  ],
  'opnsense-downloads': [
    'wan|1000001|drop|blocks|wireguard',
    'wan|2016149|drop|blocks|stun',
    'wan|2016150|drop|blocks|stun',
    'wan|2033078|alert|alert-only|stun',
  ],
  'opnsense-ids': ['lan|1000001|drop|alert-only|wireguard', 'lan|1000002|drop|alert-only|wireguard'],
  'opnsense-broken': ['all IDS interfaces|1000001|drop|may-block|wireguard', 'all IDS interfaces|1000002|drop|may-block|wireguard'],
  'pfsense-suricata': [
    'WAN|1000001|drop|blocks|wireguard',
    'WAN|1000002|drop|blocks|wireguard',
    'LAN|1000010|drop|blocks|wireguard',
    'WAN|2016149|alert|blocks|stun',
    'LAN|2016149|drop|blocks|stun',
    'WAN|2033078|alert|may-block|stun',
    'GUEST|1000001|drop|alert-only|wireguard',
    'GUEST|1000002|drop|alert-only|wireguard',
    'LAN|1000003|alert|alert-only|wireguard',
    'LAN|2016150|alert|alert-only|stun',
    'LAN|2033078|alert|alert-only|stun',
  ],
  'pfsense-snort': [
    'WAN|1000001|drop|blocks|wireguard',
    'LAN|1000001|drop|blocks|wireguard',
    'WAN|1000002|drop|may-block|wireguard',
    'LAN|1000002|drop|blocks|wireguard',
    'WAN|2016150|alert|blocks|stun',
    'LAN|2033078|alert|blocks|stun',
    'WAN|2016149|alert|may-block|stun',
    'LAN|2016150|alert|may-block|stun',
    'WAN|2033078|alert|may-block|stun',
    'WAN|1000040|alert|alert-only|stun',
  ],
  'pfsense-broken': ['WAN|1000001|drop|blocks|wireguard', 'LAN|1000001|drop|blocks|wireguard', 'WAN|1000002|drop|blocks|wireguard', 'LAN|1000002|drop|blocks|wireguard'],
  'unifi-blocking': [
    'br0, br10|1000002|block|blocks|wireguard',
    'br0, br10|2016149|block|blocks|stun',
    'br0, br10|2033078|block|blocks|stun',
    'br0, br10|2999001|alert|alert-only|wireguard',
  ],
  'unifi-settings-only': ['br0|P2P|block|may-block|stun?,wireguard?'],
};

const EXPECTED_ERRORS: Record<string, string[]> = {
  'opnsense-broken': [
    '/conf/config.xml:8',
    '/usr/local/etc/suricata/opnsense.rules/broken.rules:1',
    '/usr/local/etc/suricata/opnsense.rules/local-wireguard.rules:6',
    '/usr/local/etc/suricata/opnsense.rules/local-wireguard.rules:7',
  ],
  'pfsense-broken': [
    '/cf/conf/config.xml:',
    '/cf/conf/config.xml:',
    '/usr/local/etc/suricata/suricata_11111_vtnet0/rules/suricata.rules:5',
    '/usr/local/etc/suricata/suricata_11111_vtnet0/rules/suricata.rules:6',
    '/usr/local/share/suricata/rules/emerging-missing.rules:',
  ],
  'unifi-settings-only': ['/run/ips/config/daemon_config.json:'],
};

for (const [name, expected] of Object.entries(EXPECTED)) {
  test(`fixture ${name}: exactly the expected findings, errors per file`, async () => {
    const r = await run(name);
    assert.deepEqual(summary(r), [...expected].sort());
    assert.deepEqual(r.errors.map((e) => `${e.file}:${e.line ?? ''}`).sort(), (EXPECTED_ERRORS[name] ?? []).sort());
    assert.equal(r.complete, r.errors.length === 0);
    assert.equal(r.blocking, expected.some((e) => !e.includes('alert-only')));
    for (const f of r.findings) {
      assert.ok(f.fix.length > 0 && f.why.length > 0, `fix and why for ${f.sid}`);
      if (f.sid !== undefined) assert.ok(f.fix.some((x) => x.includes(String(f.sid))), `a fix names SID ${f.sid}: ${f.fix.join(' / ')}`);
    }
  });
}

test('errors say what is wrong in words', async () => {
  const r = await run('opnsense-broken');
  assert.match(r.errors.find((e) => e.file === '/conf/config.xml')!.message, /<\/genral>.*<general>.*line 8/);
  const p = await run('pfsense-broken');
  const messages = p.errors.map((e) => e.message).join('\n');
  assert.match(messages, /customrules is not valid base64/);
  assert.match(messages, /suppress list "nolist" .* not defined/);
  assert.match(messages, /ruleset enabled on interface lan but missing/);
  assert.match(messages, /bad hex digit "G"/);
  // The undefined list falls back to the interface's threshold.config; in inline mode that cannot help a drop rule.
  assert.ok(p.findings.find((f) => f.interface === 'WAN' && f.sid === 1000002)!.notes.some((n) => n.includes('a drop rule still drops')));
});

test('OPNsense: where the action came from, and the fix for it', async () => {
  const inline = await run('opnsense-inline');
  const adj = find(inline, 'wan,lan', 2016149);
  assert.match(adj.why, /rule adjustment/);
  assert.match(adj.fix[0]!, /Services > Intrusion Detection > Administration > Rules: search SID 2016149, set its action to Alert/);
  assert.ok(adj.fix.some((x) => /User defined: add a rule with action Pass and Bypass/.test(x) && x.includes('pass udp $HOME_NET 41641 <> $EXTERNAL_NET any')));
  const viaPolicy = find(inline, 'wan,lan', 1000030);
  assert.match(viaPolicy.why, /set by policy "Drop all P2P"/);
  assert.ok(viaPolicy.fix.some((x) => x.includes('the policy "Drop all P2P" (priority 10)')));
  const unknown = find(inline, 'wan,lan', 1000020);
  assert.ok(unknown.notes.some((n) => n.includes('pcre not evaluated')));
  const dl = await run('opnsense-downloads');
  const pol = find(dl, 'wan', 2016150);
  assert.match(pol.why, /policy "Block informational INFO signatures"/);
  assert.ok(pol.fix.some((x) => x.startsWith('Services > Intrusion Detection > Policy: the policy "Block informational INFO signatures" (priority 5)')));
  assert.ok(pol.notes.some((n) => n.includes('user-defined pass rule "mesh relays"')));
  assert.match(find(dl, 'wan', 2033078).why, /rule adjustment/);
  const ids = await run('opnsense-ids');
  assert.equal(ids.instances[0]!.mode, 'ids-only');
  assert.match(find(ids, 'lan', 1000001).fix[0]!, /^Nothing blocks/);
});

test('pfSense Suricata: legacy suppress/pass list, inline force alert, custom rules edited in place', async () => {
  const r = await run('pfsense-suricata');
  const legacy = find(r, 'WAN', 2016149);
  assert.match(legacy.fix[0]!, /Services > Suricata > Suppress: add "suppress gen_id 1, sig_id 2016149" to the list "mesh-suppress"/);
  assert.ok(legacy.fix.some((x) => x.includes('Pass Lists')));
  assert.ok(legacy.fix.some((x) => x.includes('Block On DROP Only')));
  const inline = find(r, 'LAN', 2016149);
  assert.match(inline.fix[0]!, /LAN Rules: set SID 1:2016149 to Alert \(force alert, rule_sid_force_alert\) or disable it \(rule_sid_off\)/);
  assert.match(inline.fix[0]!, /Suppressing it does not help in inline mode/);
  const custom = find(r, 'WAN', 1000001);
  assert.match(custom.fix[0]!, /category custom.rules: delete or comment out SID 1:1000001 \(in legacy mode every alert blocks/);
  assert.match(find(r, 'LAN', 1000010).fix[0]!, /custom.rules: change SID 1:1000010's action from drop to alert/);
  assert.ok(!r.findings.some((f) => f.sid === 2016150 && f.interface === 'WAN'), 'suppressed for all addresses on WAN: no alert, no block');
  assert.ok(find(r, 'WAN', 2033078).notes.some((n) => n.includes('suppressed for some addresses')));
  // Reputation-list rules (ET DROP, ET TOR) name specific addresses: counted, not reported as findings.
  assert.equal(r.instances.find((i) => i.interface === 'WAN')!.addressDependentRules, 2);
  assert.equal(r.instances.find((i) => i.interface === 'LAN')!.addressDependentRules, 0);
});

test('pfSense Snort: the blocked side decides (blockoffendersip), rule_sid_on/off from the pool', async () => {
  const r = await run('pfsense-snort');
  assert.ok(find(r, 'WAN', 2016149).notes.some((n) => n.includes('only the LAN side')));
  assert.match(find(r, 'WAN', 2016150).fix[0]!, /Services > Snort > Suppress/);
  assert.ok(!r.findings.some((f) => f.interface === 'LAN' && f.sid === 2016149), 'rule_sid_off');
  assert.equal(r.instances.find((i) => i.interface === 'LAN')!.rulesChecked, 12, 'pool rules with 2033077 switched on and 2016149 off');
  assert.ok(find(r, 'WAN', 1000002).notes.some((n) => n.includes('suppressed for some addresses')), 'suppress list meshsupp from config.xml');
  assert.ok(find(r, 'LAN', 2033078).fix.some((x) => x.startsWith('Exempt the router\'s own address: Services > Snort > Pass Lists > edit "meshpeers"')));
  assert.ok(!find(r, 'WAN', 2016150).fix.some((x) => x.startsWith('Exempt')), 'the default pass list already holds the WAN addresses');
  assert.match(find(r, 'WAN', 1000040).why, /noalert/, 'a flowbits-only rule raises no alert, so legacy blocking ignores it');
});

test('UniFi: category or SID decides the block; suppression and allow list are honoured', async () => {
  const r = await run('unifi-blocking');
  assert.match(find(r, 'br0, br10', 2016149).fix[0]!, /set the category "INFO" to notify only/);
  assert.match(find(r, 'br0, br10', 1000002).fix[0]!, /Signature Suppression: add SID 1000002/);
  assert.ok(!r.findings.some((f) => f.sid === 2016150), 'suppressed');
  assert.ok(find(r, 'br0, br10', 2016149).notes.some((n) => n.includes('192.168.1.50') && n.includes('203.0.113.77')));
  const s = await run('unifi-settings-only');
  assert.match(s.findings[0]!.fix[0]!, /"Peer to Peer and Dark Web" to notify only/);
});

test('a root that is not a directory is bad input; a tree without any IPS is clean', async () => {
  await assert.rejects(checkIps({ root: FIXTURES + 'does-not-exist', meshPorts: [41641], relayPorts: [443] }), (e: unknown) => (e as { code?: string }).code === 'CG_INPUT_INVALID');
  const r = await checkIps({ root: FIXTURES + '../', meshPorts: [41641], relayPorts: [443] });
  assert.deepEqual([r.findings.length, r.errors.length, r.blocking], [0, 0, false]);
});

test('headline for netcheck and the GUI names the first blocking rule', async () => {
  assert.equal(headline(await run('pfsense-snort')), 'IPS on this router blocks P2P: snort rule 1000001 (WireGuard) on WAN and 4 more');
  assert.equal(headline(await run('unifi-settings-only')), 'IPS on this router may block P2P: unifi category P2P (STUN?, WireGuard?) on br0');
  assert.equal(headline(await run('opnsense-ids')), 'IPS present; nothing blocks P2P');
});
