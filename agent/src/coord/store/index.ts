/**
 * What the coordinator imports from its store: `openCoordStore(db)` picks the driver from the `--db`
 * value (a postgres:// URL, else a directory holding the SQLite file), the interface and record types,
 * and the memory twin for tests.
 */
import { join } from 'node:path';
import { ConegateError } from '../../errors.ts';
import { openPostgresStore } from './postgres.ts';
import { openSqliteStore, SQLITE_FILE_NAME } from './sqlite.ts';
import type { CoordStore } from './types.ts';

export type * from './types.ts';
export { MemoryData, MemoryStore } from './memory.ts';
export { hashSecret } from './rules.ts';
export { SQLITE_FILE_NAME } from './sqlite.ts';
export { describeUrl } from './postgres.ts';

export interface OpenCoordStoreOptions {
  /** Random source for node ids. */
  randomBytes?: (n: number) => Uint8Array;
}

/** Whether `db` names a PostgreSQL database rather than a directory. */
export function isPostgresUrl(db: string): boolean {
  return /^postgres(ql)?:\/\//i.test(db);
}

/**
 * Opens and migrates the store named by `--db`: `postgres://user:pw@host:port/name` for PostgreSQL,
 * anything else is a directory for the SQLite file (created 0700 when missing).
 */
export async function openCoordStore(db: string, options: OpenCoordStoreOptions = {}): Promise<CoordStore> {
  if (db.trim() === '') throw new ConegateError('CG_USAGE', '--db needs a directory or a postgres:// URL');
  const extra = options.randomBytes ? { randomBytes: options.randomBytes } : {};
  if (isPostgresUrl(db)) return openPostgresStore({ url: db, ...extra });
  return openSqliteStore({ file: join(db, SQLITE_FILE_NAME), ...extra });
}
