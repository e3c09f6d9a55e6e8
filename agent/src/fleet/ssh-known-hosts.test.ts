import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import {
  decideHostKey, fingerprint, formatKnownHostsLine, knownHostsName, knownKeyTypes, parseKnownHosts, parsePublicKey,
} from './ssh-known-hosts.ts';

const fx = (f: string) => readFileSync(new URL(`./fixtures/${f}`, import.meta.url), 'utf8');
const key = (t: string) => parsePublicKey(fx(`hostkey-${t}.pub`)).key;
const ed = key('ed25519');
const ec = key('ecdsa');
const rsa = key('rsa');

test('fingerprints are the ones ssh-keygen -lf prints', () => {
  const lines = fx('fingerprints.txt').trim().split('\n').map((l) => l.split(' ')[1]);
  assert.deepEqual([fingerprint(ed), fingerprint(ec), fingerprint(rsa)], lines);
});

test('hashed entries from ssh-keygen -H match the plain name, and [host]:port for other ports', () => {
  const lines = parseKnownHosts(fx('known_hosts-hashed'));
  assert.equal(lines.length, 3);
  const v = (name: string, k: Buffer) => decideHostKey(k, { name, lines, acceptNew: false });
  assert.equal(v('fw1.example', ed).ok, true);
  assert.equal(v(knownHostsName('203.0.113.7', 2222), ec).ok, true);
  assert.equal(v('198.51.100.9', rsa).ok, true);
  // the same address on port 22 is another name: unknown
  const other = v(knownHostsName('203.0.113.7', 22), ec);
  assert.equal(other.ok, false);
  assert.equal(!other.ok && other.code, 'CG_HOST_KEY_UNKNOWN');
});

test('a changed key is refused with both fingerprints, even with acceptNew', () => {
  const lines = parseKnownHosts(`fw1.example ${fx('hostkey-ed25519.pub')}`);
  const r = decideHostKey(ec, { name: 'fw1.example', lines, acceptNew: true });
  assert.equal(r.ok, false);
  if (r.ok) return;
  assert.equal(r.code, 'CG_HOST_KEY_CHANGED');
  assert.match(r.message, new RegExp(fingerprint(ec).replace(/[+/]/g, '\\$&')));
  assert.match(r.message, new RegExp(fingerprint(ed).replace(/[+/]/g, '\\$&')));
});

test('patterns: wildcards, negation, comma lists, comments and junk lines', () => {
  const pub = fx('hostkey-rsa.pub').trim();
  const lines = parseKnownHosts(`# comment\n\ngarbage\n*.lab,!bad.lab,10.0.0.? ${pub}\n@bogus x ${pub}\n`);
  assert.equal(lines.length, 1);
  assert.equal(decideHostKey(rsa, { name: 'r1.lab', lines, acceptNew: false }).ok, true);
  assert.equal(decideHostKey(rsa, { name: '10.0.0.5', lines, acceptNew: false }).ok, true);
  assert.equal(decideHostKey(rsa, { name: 'bad.lab', lines, acceptNew: false }).ok, false);
  assert.deepEqual(knownKeyTypes(lines, 'r1.lab'), ['ssh-rsa']);
});

test('@revoked refuses the key for every host, pinned or not', () => {
  const lines = parseKnownHosts(`@revoked * ${fx('hostkey-ed25519.pub')}`);
  const r = decideHostKey(ed, { name: 'x', lines, pinned: { keyType: 'ssh-ed25519', key: ed }, acceptNew: true });
  assert.equal(!r.ok && r.code, 'CG_HOST_KEY_REVOKED');
});

test('a pinned key wins over known_hosts; unknown refused unless acceptNew', () => {
  const pinned = parsePublicKey(fx('hostkey-ecdsa.pub'));
  assert.equal(decideHostKey(ec, { name: 'h', lines: [], pinned, acceptNew: false }).ok, true);
  assert.equal(decideHostKey(ed, { name: 'h', lines: [], pinned, acceptNew: true }).ok, false);
  assert.equal(decideHostKey(ed, { name: 'h', lines: [], acceptNew: false }).ok, false);
  const n = decideHostKey(ed, { name: 'h', lines: [], acceptNew: true });
  assert.equal(n.ok && n.source, 'new');
  const rec = parseKnownHosts(formatKnownHostsLine('[h]:2222', ed));
  assert.equal(decideHostKey(ed, { name: '[h]:2222', lines: rec, acceptNew: false }).ok, true);
});

test('a pinned key that is not an OpenSSH public key is a config error', () => {
  assert.throws(() => parsePublicKey('ssh-ed25519 AAAA'), { code: 'CG_CONFIG_INVALID' });
  assert.throws(() => parsePublicKey(`ssh-rsa ${ed.toString('base64')}`), { code: 'CG_CONFIG_INVALID' });
});
