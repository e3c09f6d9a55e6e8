import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemoryBackend } from '../fw/memory.ts';
import { recoverSaved, saveState } from './recovery.ts';
import type { Mapping } from './table.ts';

const WAN = '198.51.100.1';
const mapping = (id: string, port: number): Mapping => ({ id, via: 'pmp', client: '10.0.0.5', transport: 'udp', internalAddress: '10.0.0.5', internalPort: port, externalPort: port, lifetimeSec: 3600, expiresAtMs: 1_000_000 + 3_600_000 });
const rule = (m: Mapping) => ({ id: m.id, transport: m.transport, externalAddress: WAN, externalPort: m.externalPort, internalAddress: m.internalAddress, internalPort: m.internalPort });

async function setup(clean: boolean) {
  const dir = await mkdtemp(join(tmpdir(), 'cg-recovery-'));
  const stateFile = join(dir, 'state.json');
  const backend = new MemoryBackend();
  const kept = mapping('m-kept', 40000);
  assert.equal(await saveState({ stateFile, mappings: [kept], epochSec: 500, nowMs: 1_000_000, wallNowMs: 5_000_000, clean, externalAddress: WAN, backend: 'memory' }), undefined);
  await backend.add(rule(kept));
  return { dir, stateFile, backend, kept };
}

test('a clean stop with every rule installed: the epoch continues, rules the table no longer knows go', async () => {
  const s = await setup(true);
  try {
    await s.backend.add(rule(mapping('m-stray', 40001)));
    const r = await recoverSaved({ stateFile: s.stateFile, backend: s.backend, externalAddress: WAN, nowMs: 2_000_000, wallNowMs: 5_010_000 });
    assert.equal(r.kind, 'restored');
    if (r.kind !== 'restored') return;
    assert.deepEqual(r.mappings.map((m) => m.id), ['m-kept']);
    assert.equal(r.epochSec, 510, 'the epoch carries the 10 s of downtime');
    assert.deepEqual((await s.backend.list()).map((m) => m.id), ['m-kept']);
  } finally {
    await rm(s.dir, { recursive: true, force: true });
  }
});

test('anything that may have lost a mapping is a reason for a new epoch, with nothing half-restored', async () => {
  const cases: [string, (s: Awaited<ReturnType<typeof setup>>) => Promise<Parameters<typeof recoverSaved>[0]>, RegExp][] = [
    ['no file configured', async (s) => ({ stateFile: undefined, backend: s.backend, externalAddress: WAN, nowMs: 0, wallNowMs: 0 }), /no state file/],
    ['WAN changed', async (s) => ({ stateFile: s.stateFile, backend: s.backend, externalAddress: '198.51.100.2', nowMs: 0, wallNowMs: 0 }), /WAN address changed/],
    ['rule gone', async (s) => {
      await s.backend.flush();
      return { stateFile: s.stateFile, backend: s.backend, externalAddress: WAN, nowMs: 0, wallNowMs: 0 };
    }, /firewall lost mappings/],
    ['firewall unreadable', async (s) => {
      s.backend.list = async () => {
        throw new Error('nft: permission denied');
      };
      return { stateFile: s.stateFile, backend: s.backend, externalAddress: WAN, nowMs: 0, wallNowMs: 0 };
    }, /state unreadable: nft: permission denied/],
  ];
  for (const [name, input, reason] of cases) {
    const s = await setup(true);
    try {
      const r = await recoverSaved(await input(s));
      assert.equal(r.kind, 'lost', name);
      if (r.kind === 'lost') assert.match(r.reason, reason, name);
    } finally {
      await rm(s.dir, { recursive: true, force: true });
    }
  }
  const unclean = await setup(false);
  try {
    const r = await recoverSaved({ stateFile: unclean.stateFile, backend: unclean.backend, externalAddress: WAN, nowMs: 0, wallNowMs: 0 });
    assert.deepEqual(r, { kind: 'lost', reason: 'previous run did not stop cleanly' });
  } finally {
    await rm(unclean.dir, { recursive: true, force: true });
  }
});
