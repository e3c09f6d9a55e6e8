import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync, existsSync } from 'node:fs';
import { generateNft } from './generate.ts';
import { isConegateError } from '../../../agent/src/errors.ts';

const GOLD = new URL('../../test/golden/', import.meta.url);

function golden(name: string, text: string) {
  const f = new URL(`${name}.nft`, GOLD);
  if (process.env.UPDATE_GOLDEN === '1' || !existsSync(f)) writeFileSync(f, text);
  assert.equal(text, readFileSync(f, 'utf8'));
}

test('nft: all UDP via masquerade without random, before the router\'s masquerade', () => {
  const r = generateNft({ wans: [{ ifname: 'eth0' }], sources: [], ports: [] });
  golden('nft-all', r.text);
  assert.match(r.text, /priority srcnat - 10;/);
  assert.ok(r.rules.every((x) => !/random/.test(x.line)));
});

test('nft: chosen hosts sharing the mesh port get explicit, distinct mappings', () => {
  const r = generateNft({ wans: [{ ifname: 'eth0', address: '203.0.113.2' }], sources: ['192.168.1.10/32', '192.168.1.11', '192.168.1.12'], ports: ['41641'] });
  golden('nft-hosts', r.text);
  assert.deepEqual(r.rules.map((x) => x.line), [
    'oifname "eth0" ip saddr 192.168.1.11 udp sport 41641 snat to 203.0.113.2:61000',
    'oifname "eth0" ip saddr 192.168.1.12 udp sport 41641 snat to 203.0.113.2:61001',
    'oifname "eth0" ip saddr { 192.168.1.10, 192.168.1.11, 192.168.1.12 } udp sport 41641 snat to 203.0.113.2',
  ]);
});

test('nft: bad policies are refused', () => {
  const code = (e: unknown) => isConegateError(e) && e.code === 'CG_CONFIG_INVALID';
  assert.throws(() => generateNft({ wans: [], sources: [], ports: [] }), code);
  assert.throws(() => generateNft({ wans: [{ ifname: 'eth0; flush ruleset' }], sources: [], ports: [] }), code);
  assert.throws(() => generateNft({ wans: [{ ifname: 'eth0' }], sources: ['fd00::/64'], ports: [] }), code);
  assert.throws(() => generateNft({ wans: [{ ifname: 'eth0', address: 'x' }], sources: [], ports: [] }), code);
  assert.throws(() => generateNft({ wans: [{ ifname: 'eth0' }], sources: [], ports: ['99999'] }), code);
});

test('nft: the router\'s own mesh socket is covered too (what it sends from its own address), before the LAN scope', () => {
  const r = generateNft({ wans: [{ ifname: 'eth0' }], sources: ['192.168.1.0/24'], ports: ['41641'], ownPorts: [41641] });
  golden('nft-router-node', r.text);
  assert.deepEqual(r.rules.map((x) => x.line), [
    'oifname "eth0" fib saddr type local udp sport 41641 masquerade',
    'oifname "eth0" ip saddr 192.168.1.0/24 udp sport 41641 masquerade',
  ]);
  assert.throws(() => generateNft({ wans: [{ ifname: 'eth0' }], sources: [], ports: [], ownPorts: [0] }));
});
