/**
 * One tiny synchronous SQLite connection interface over the two engines conegate can use, chosen at
 * run time: `node:sqlite` where the runtime has it (Node 22.13+/24; what a FreeBSD appliance without a
 * compiler runs), else better-sqlite3 (a native addon built at install; what Node 20 runs). Both are
 * loaded by dynamic import, so Node 20 never touches node:sqlite and a runtime with node:sqlite never
 * needs the addon to be built.
 */
import { ConegateError } from '../../errors.ts';
import type { Param, Row } from './sql-rows.ts';

export type SqliteEngineName = 'node:sqlite' | 'better-sqlite3';

export interface SqliteConn {
  readonly engine: SqliteEngineName;
  exec(sql: string): void;
  all(sql: string, params: Param[]): Row[];
  /** Returns the number of rows changed. */
  run(sql: string, params: Param[]): number;
  close(): void;
}

interface Stmt {
  all(...params: Param[]): unknown[];
  run(...params: Param[]): { changes: number | bigint };
}
interface RawDb {
  exec(sql: string): unknown;
  prepare(sql: string): Stmt;
  close(): unknown;
}

/** Whether this runtime ships node:sqlite without a flag (checked without importing it). */
export function hasNodeSqlite(): boolean {
  const [major = 0, minor = 0] = process.versions.node.split('.').map(Number);
  return major > 22 || (major === 22 && minor >= 13);
}

/** Opens `file` with the engine asked for, or the best one this runtime has. */
export async function openSqliteConn(file: string, engine: SqliteEngineName | 'auto' = 'auto'): Promise<SqliteConn> {
  const chosen: SqliteEngineName = engine === 'auto' ? (hasNodeSqlite() ? 'node:sqlite' : 'better-sqlite3') : engine;
  const raw = chosen === 'node:sqlite' ? await openNodeSqlite(file) : await openBetterSqlite(file);
  return wrap(chosen, raw);
}

async function openNodeSqlite(file: string): Promise<RawDb> {
  if (!hasNodeSqlite()) {
    throw new ConegateError('CG_UNSUPPORTED', `node:sqlite needs Node 22.13 or newer (this is ${process.versions.node}); use better-sqlite3`);
  }
  // A computed specifier keeps bundlers and the Node 20 type checker from resolving it ahead of time.
  const specifier = 'node:sqlite';
  const mod = (await import(specifier)) as { DatabaseSync: new (path: string) => RawDb };
  return new mod.DatabaseSync(file);
}

async function openBetterSqlite(file: string): Promise<RawDb> {
  let Database: new (path: string) => RawDb;
  try {
    Database = (await import('better-sqlite3')).default as unknown as new (path: string) => RawDb;
  } catch (cause) {
    throw new ConegateError('CG_UNSUPPORTED', 'better-sqlite3 is not installed or not built for this Node (npm rebuild better-sqlite3), and this Node has no node:sqlite', { cause });
  }
  return new Database(file);
}

function wrap(engine: SqliteEngineName, db: RawDb): SqliteConn {
  // Prepared once per statement text: the store's statements are a small fixed set.
  const cache = new Map<string, Stmt>();
  const prepare = (sql: string): Stmt => {
    let s = cache.get(sql);
    if (!s) cache.set(sql, (s = db.prepare(sql)));
    return s;
  };
  return {
    engine,
    exec: (sql) => void db.exec(sql),
    all: (sql, params) => prepare(sql).all(...params) as Row[],
    run: (sql, params) => Number(prepare(sql).run(...params).changes),
    close: () => {
      cache.clear();
      db.close();
    },
  };
}
