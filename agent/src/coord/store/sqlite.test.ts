import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { openSqliteStore } from './sqlite.ts';
import { storeCompliance } from './compliance.ts';
import { hasNodeSqlite, openSqliteConn } from './sqlite-engine.ts';
import { isConegateError } from '../../errors.ts';

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'conegate-store-'));
}

storeCompliance('sqlite store', async () => {
  const dir = tempDir();
  return {
    open: () => openSqliteStore({ file: join(dir, 'coord.sqlite'), pollMs: 20 }),
    dispose: async () => rmSync(dir, { recursive: true, force: true }),
  };
});

test('sqlite store: the file is created 0600 in a 0700 directory, in WAL mode', async () => {
  const dir = tempDir();
  try {
    const file = join(dir, 'sub', 'coord.sqlite');
    const s = await openSqliteStore({ file });
    await s.close();
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.equal(statSync(join(dir, 'sub')).mode & 0o777, 0o700);
    const conn = await openSqliteConn(file);
    assert.deepEqual(conn.all('PRAGMA journal_mode', []), [{ journal_mode: 'wal' }]);
    conn.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('sqlite store: a file that is not a database is refused with CG_STORE_FAILED', async () => {
  const dir = tempDir();
  try {
    const file = join(dir, 'coord.sqlite');
    writeFileSync(file, 'this is not a database, just some text long enough to have a header'.repeat(20));
    await assert.rejects(openSqliteStore({ file }), (e) => isConegateError(e) && e.code === 'CG_STORE_FAILED');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('sqlite engine: chosen by the runtime; node:sqlite asked of a Node without it is CG_UNSUPPORTED', async () => {
  const dir = tempDir();
  try {
    const conn = await openSqliteConn(join(dir, 'x.sqlite'));
    assert.equal(conn.engine, hasNodeSqlite() ? 'node:sqlite' : 'better-sqlite3');
    conn.close();
    if (!hasNodeSqlite()) {
      await assert.rejects(openSqliteConn(join(dir, 'y.sqlite'), 'node:sqlite'), (e) => isConegateError(e) && e.code === 'CG_UNSUPPORTED');
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
