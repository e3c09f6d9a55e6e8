import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, writeFileSync, symlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseXml } from '../../xml/xml.ts';
import { at } from '../../xml/xml.ts';
import { parseRule } from '../rules/parse.ts';
import { parseSuppressions, suppressionFor } from './suppress.ts';
import { opnsenseMode } from './opnsense.ts';
import { categoryOfRule, normalizeCategory } from './unifi.ts';
import { decodeBase64Text, RootFs } from './rootfs.ts';
import { sidSet, meshPassRule } from './context.ts';
import { matchRule } from '../rules/match.ts';
import { ourTraffic } from '../traffic.ts';

test('threshold files: suppress lines with and without track, comments, generator-wide', () => {
  const list = parseSuppressions('# mesh\nsuppress gen_id 1, sig_id 2016149\nsuppress gen_id 1, sig_id 2033078, track by_src, ip 192.0.2.1\nthreshold gen_id 1, sig_id 5, type limit, track by_src, count 1, seconds 60\nsuppress gen_id 3, sig_id 0\n');
  assert.equal(list.length, 3);
  const r = (sid: number, gid = 1) => parseRule(`alert udp any any -> any any (gid:${gid}; sid:${sid};)`);
  assert.equal(suppressionFor(list, r(2016149)), 'all');
  assert.equal(suppressionFor(list, r(2033078)), 'some');
  assert.equal(suppressionFor(list, r(2016150)), undefined);
  assert.equal(suppressionFor(list, r(42, 3)), 'all');
});

test('OPNsense mode: up to 25.7 the ips flag, from 26.1 the mode field', () => {
  const g = (inner: string) => at(parseXml(`<general>${inner}</general>`), '');
  assert.equal(opnsenseMode(g('<ips>1</ips>')), 'inline');
  assert.equal(opnsenseMode(g('<ips>0</ips>')), 'ids-only');
  assert.equal(opnsenseMode(g('<mode>netmap</mode><ips>0</ips>')), 'inline');
  assert.equal(opnsenseMode(g('<mode>divert</mode>')), 'inline');
  assert.equal(opnsenseMode(g('<mode>pcap</mode><ips>1</ips>')), 'ids-only');
});

test('UniFi categories from settings names and ET message prefixes', () => {
  assert.deepEqual(['emerging-p2p', 'p2p', 'P2P', 'emerging-info.rules', 'tor'].map(normalizeCategory), ['P2P', 'P2P', 'P2P', 'INFO', 'TOR']);
  assert.equal(categoryOfRule(parseRule('alert udp any any -> any any (msg:"ET INFO STUN"; sid:1;)')), 'INFO');
  assert.equal(categoryOfRule(parseRule('alert udp any any -> any any (msg:"GPL POLICY x"; sid:1;)')), 'POLICY');
  assert.equal(categoryOfRule(parseRule('alert udp any any -> any any (msg:"LOCAL x"; sid:1;)')), undefined);
});

test('SID lists and base64 fields as the pfSense packages store them', () => {
  assert.deepEqual([...sidSet('1:2016149||2033078|| 3:5 ')], ['1:2016149', '1:2033078', '3:5']);
  assert.equal(decodeBase64Text(Buffer.from('suppress gen_id 1, sig_id 2\n').toString('base64')), 'suppress gen_id 1, sig_id 2\n');
  assert.equal(decodeBase64Text(''), '');
  assert.equal(decodeBase64Text('!!nope!!'), undefined);
});

test('the suggested mesh pass rule parses and passes every mesh packet of ours', () => {
  const rule = parseRule(meshPassRule([41641], 9000001));
  assert.equal(rule.action, 'pass');
  const mesh = ourTraffic({ meshPorts: [41641], relayPorts: [443] }).filter((s) => s.kind === 'wireguard' || s.name.startsWith('stun-peer'));
  assert.ok(mesh.length > 10);
  for (const s of mesh) assert.equal(matchRule(rule, s.packet).verdict, 'match', s.name);
});

test('RootFs: links resolve inside the root, missing files are undefined, bad files are recorded', async () => {
  const root = mkdtempSync(join(tmpdir(), 'conegate-rootfs-'));
  try {
    mkdirSync(join(root, 'cf/conf'), { recursive: true });
    writeFileSync(join(root, 'cf/conf/config.xml'), '<pfsense><a>1</a></pfsense>');
    symlinkSync('/cf/conf', join(root, 'conf'));
    writeFileSync(join(root, 'bad.json'), '{');
    writeFileSync(join(root, 'bad.xml'), '<a>\n<b></a>');
    const fs = new RootFs(root);
    assert.equal((await fs.xml('/conf/config.xml'))?.name, 'pfsense');
    assert.equal(await fs.text('/etc/missing'), undefined);
    assert.deepEqual(await fs.list('/nowhere'), []);
    assert.equal(await fs.json('/bad.json'), undefined);
    assert.equal(await fs.xml('/bad.xml'), undefined);
    assert.equal(await fs.text('/cf'), undefined);
    assert.deepEqual(fs.errors.map((e) => [e.file, e.line]), [['/bad.json', undefined], ['/bad.xml', 2], ['/cf', undefined]]);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
