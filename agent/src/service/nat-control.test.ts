/** The page's NAT buttons on the real applier (state files, confirm-or-revert) over a memory rule backend. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { realClock } from '../clock/clock.ts';
import { NatApplier } from '../fw/nat/applier.ts';
import type { RuleBackend } from '../fw/nat/backend.ts';
import { readOptional } from '../fw/nat/files.ts';
import { silentLogger } from '../log/logger.ts';
import { isConegateError } from '../errors.ts';
import { NatControl } from './nat-control.ts';

function memoryBackend(): RuleBackend & { inForce: string } {
  const b = {
    kind: 'nftables' as const,
    target: 'ip conegate',
    inForce: '',
    validate: async () => undefined,
    load: async (file: string) => void (b.inForce = (await readOptional(file)) ?? ''),
    show: async () => b.inForce,
    emptyText: () => '',
    countRules: (shown: string) => shown.split('\n').filter((l) => l.trim() && !l.startsWith('#')).length,
  };
  return b;
}

const RULES = 'table ip conegate { chain post { type nat hook postrouting priority srcnat - 1; } }\n';

async function setup() {
  const dir = await mkdtemp(join(tmpdir(), 'cg-natctl-'));
  const backend = memoryBackend();
  const applier = new NatApplier({ backend, stateDir: dir, clock: realClock });
  const ctl = new NatControl({ clock: realClock, log: silentLogger(), enabled: true, confirmSec: () => 60, applier: async () => applier, prepare: async () => ({ applier, text: RULES }) });
  return { dir, backend, ctl };
}

test('apply answers once the rules wait for confirmation; confirm keeps them', async () => {
  const { dir, backend, ctl } = await setup();
  try {
    const r = await ctl.apply(30);
    assert.ok(r.pending, 'waiting for confirmation');
    assert.equal(backend.inForce, RULES);
    const st = await ctl.state();
    assert.equal(st.backend, 'nft');
    assert.ok(st.pending && st.pending.deadlineWallMs > Date.now());
    await assert.rejects(ctl.apply(30), (e) => isConegateError(e) && e.code === 'CG_BUSY', 'one apply at a time');
    await ctl.confirm();
    const after = await ctl.state();
    assert.equal(after.pending, null);
    assert.equal(after.rules, RULES);
    assert.ok(after.appliedAtWallMs !== null);
    await assert.rejects(ctl.confirm(), (e) => isConegateError(e) && e.code === 'CG_NOTHING_PENDING');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('revert while pending rolls back to what was in force', async () => {
  const { dir, backend, ctl } = await setup();
  try {
    await ctl.apply(30);
    const r = await ctl.revert();
    assert.equal(r.outcome, 'rolled-back');
    assert.equal(backend.inForce, '');
    assert.equal((await ctl.state()).pending, null);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
