import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { readRelayMap } from './serve.ts';

const dir = mkdtempSync(join(tmpdir(), 'relay-map-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const file = (name: string, v: unknown) => {
  const p = join(dir, name);
  writeFileSync(p, typeof v === 'string' ? v : JSON.stringify(v));
  return p;
};
const NODE = { url: 'https://relay1.example:443', stun: 'relay1.example:3478', certSha256: 'ab'.repeat(32), serverKey: 'cd'.repeat(32) };

test('--relay-map: a valid map is read as it is', async () => {
  const map = { regions: [{ id: 'fra', name: 'Frankfurt', nodes: [NODE, { url: 'https://relay2.example' }] }] };
  assert.deepEqual(await readRelayMap(file('ok.json', map)), map);
});

test('--relay-map: typos, plain http, bad pins and bad STUN addresses are refused at start', async () => {
  const bad = [
    { regions: [{ id: 'fra', name: 'F', nodes: [{ ...NODE, certSha265: 'ab'.repeat(32) }] }] },
    { regions: [{ id: 'fra', name: 'F', nodes: [{ url: 'http://relay1.example' }] }] },
    { regions: [{ id: 'fra', name: 'F', nodes: [{ ...NODE, certSha256: 'xyz' }] }] },
    { regions: [{ id: 'fra', name: 'F', nodes: [{ ...NODE, serverKey: 'CD'.repeat(31) }] }] },
    { regions: [{ id: 'fra', name: 'F', nodes: [{ ...NODE, stun: 'no port' }] }] },
    { regions: [{ id: 'fra', name: 'F', nodes: [NODE], extra: 1 }] },
    { regions: [{ id: 'has space', name: 'F', nodes: [NODE] }] },
    { regions: [], version: 2 },
  ];
  for (const [i, map] of bad.entries()) {
    await assert.rejects(readRelayMap(file(`bad${i}.json`, map)), (e: { code?: string }) => e.code === 'CG_CONFIG_INVALID', JSON.stringify(map));
  }
  await assert.rejects(readRelayMap(file('notjson.json', '{')), (e: { code?: string }) => e.code === 'CG_CONFIG_UNREADABLE');
});
