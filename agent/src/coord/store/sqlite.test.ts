import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { openSqliteStore } from './sqlite.ts';
import { storeCompliance } from './compliance.ts';
import { hasNodeSqlite, openSqliteConn } from './sqlite-engine.ts';
import { isConegateError } from '../../errors.ts';
import { spawn } from 'node:child_process';
import { recordPid } from '../../../../test/lab/proc.ts';
import { authKey, okNode, regInput, T0 } from './compliance-kit.ts';
import { nextChange } from './compliance-log.ts';

const CHILD = new URL('./durability-child.ts', import.meta.url).pathname;

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
    assert.equal(conn.all('PRAGMA journal_mode', [])[0]?.journal_mode, 'wal');
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

/** Runs the writer child to completion (bounded); rejects with its stderr if it fails. */
async function runChild(file: string, rounds: number, first: number): Promise<void> {
  const child = spawn(process.execPath, ['--import', 'tsx', CHILD, 'sqlite', file, 'durable', String(rounds), String(first)], { stdio: ['ignore', 'ignore', 'pipe'] });
  recordPid(child.pid!, 'durability-child sqlite (second process)');
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  const code = await new Promise<number | null>((res) => child.once('exit', (c) => res(c)));
  clearTimeout(timer);
  assert.equal(code, 0, err);
}

test('sqlite store: another process writing the same file (an admin command) reaches onChange; concurrent writers both succeed', async () => {
  const dir = tempDir();
  const file = join(dir, 'coord.sqlite');
  try {
    const s = await openSqliteStore({ file, pollMs: 20 });
    await s.createAuthKey(authKey('ak_seed', 'durable', { reusable: true }));
    const mine = okNode(await s.registerNode(regInput(100_000, 'durable')));
    // Both processes write at once: they wait on SQLite's lock (busy_timeout), neither fails.
    const rounds = 20;
    const other = runChild(file, rounds, 1);
    for (let i = 0; i < rounds; i++) await s.updateNode(mine.id, { lastSeenMs: T0 + i + 1 }, T0 + i + 1);
    await other;
    assert.equal((await s.listNodes()).length, rounds + 1);
    // Now only the other process writes: this one hears it through data_version alone.
    const before = await s.latestSeq();
    const heard = nextChange(s, (seq) => seq >= before + 2, 60_000);
    await runChild(file, 1, 1000);
    assert.equal(await heard, before + 2);
    await s.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('sqlite store: a database written by a newer build is refused with CG_UNSUPPORTED, untouched', async () => {
  const dir = tempDir();
  const file = join(dir, 'coord.sqlite');
  try {
    await (await openSqliteStore({ file })).close();
    const conn = await openSqliteConn(file);
    conn.run(`UPDATE coord_meta SET v = '99' WHERE k = 'schema_version'`, []);
    conn.close();
    await assert.rejects(openSqliteStore({ file }), (e) => isConegateError(e) && e.code === 'CG_UNSUPPORTED');
    const again = await openSqliteConn(file);
    assert.equal(again.all(`SELECT v FROM coord_meta WHERE k = 'schema_version'`, [])[0]?.v, '99');
    again.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
