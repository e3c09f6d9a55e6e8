import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { realClock } from '../../clock/clock.ts';
import { acquireLock } from './files.ts';

const dir = mkdtempSync(join(tmpdir(), 'cg-lock-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('the apply lock excludes: contenders racing for it (same PID too) never hold it at once', async () => {
  let holders = 0;
  let most = 0;
  const contender = async () => {
    const release = await acquireLock(dir, { clock: realClock, pid: process.pid, waitMs: 20_000, pollMs: 1 });
    holders++;
    most = Math.max(most, holders);
    await new Promise((r) => setImmediate(r));
    holders--;
    await release();
  };
  for (let round = 0; round < 40; round++) await Promise.all(Array.from({ length: 8 }, contender));
  assert.equal(most, 1);
});
