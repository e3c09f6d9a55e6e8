import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { isPostgresUrl, openCoordStore, SQLITE_FILE_NAME } from './index.ts';
import { isConegateError } from '../../errors.ts';

test('openCoordStore: a directory holds the SQLite file; a postgres:// URL is PostgreSQL; empty is a usage error', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'conegate-open-'));
  try {
    const s = await openCoordStore(join(dir, 'db'));
    assert.equal(s.driver, 'sqlite');
    await s.close();
    assert.ok(existsSync(join(dir, 'db', SQLITE_FILE_NAME)));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  assert.ok(isPostgresUrl('postgres://u@h/d') && isPostgresUrl('postgresql://h/d') && !isPostgresUrl('/var/lib/conegate'));
  await assert.rejects(openCoordStore(' '), (e) => isConegateError(e) && e.code === 'CG_USAGE');
});
