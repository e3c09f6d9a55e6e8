/**
 * The embedded store: one SQLite file (the coordinator's default, `--db DIR`).
 *
 * Durability: journal_mode=WAL with synchronous=FULL. WAL lets the admin CLI and streams read while a
 * registration writes. With NORMAL a commit is already safe from kill -9 (the WAL frames are in the OS
 * page cache when COMMIT returns), but the last commits can roll back on power loss, and routers lose
 * power; FULL fsyncs the WAL at every commit, so "acknowledged" means "on disk". The cost is one fsync
 * per change, which the coordinator's write rate (registrations, endpoint moves) easily carries.
 *
 * Concurrency: every statement of this process on one file goes through one queue (a transaction's
 * statements are awaited, and an engine call is synchronous: a second connection's BEGIN IMMEDIATE in
 * the same process would block the event loop until the busy timeout). Writers in other processes wait
 * on SQLite's lock (busy_timeout). Commits by other processes (an admin command run against the file)
 * are noticed by polling `PRAGMA data_version`, cheap and constant, every `pollMs`.
 */
import { closeSync, mkdirSync, openSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { ConegateError, isConegateError } from '../../errors.ts';
import { translate } from './schema.ts';
import { openSqliteConn, type SqliteConn, type SqliteEngineName } from './sqlite-engine.ts';
import { openMigrated, type SqlStore, type SqlBackend, type SqlRunner } from './sql-store.ts';
import type { Param } from './sql-rows.ts';

export interface SqliteStoreOptions {
  /** Database file; created 0600 (its directory 0700) when missing. */
  file: string;
  engine?: SqliteEngineName | 'auto';
  /** How often other processes' commits are looked for while someone listens. */
  pollMs?: number;
  /** How long a writer waits for another process's write lock. */
  busyTimeoutMs?: number;
  randomBytes?: (n: number) => Uint8Array;
}

/** The file name the coordinator uses inside `--db DIR`. */
export const SQLITE_FILE_NAME = 'coord.sqlite';

/** Opens (creating if needed) and migrates the SQLite store. */
export async function openSqliteStore(options: SqliteStoreOptions): Promise<SqlStore> {
  const backend = await SqliteBackend.open(options);
  return openMigrated(backend, options);
}

/** One promise chain per file in this process (see "Concurrency" above). */
const queues = new Map<string, { tail: Promise<unknown>; users: number }>();

class SqliteBackend implements SqlBackend {
  readonly dialect = 'sqlite' as const;
  readonly #conn: SqliteConn;
  readonly #file: string;
  readonly #pollMs: number;
  #timer: NodeJS.Timeout | undefined;
  #dataVersion = -1;
  #closed = false;

  private constructor(conn: SqliteConn, file: string, pollMs: number) {
    this.#conn = conn;
    this.#file = file;
    this.#pollMs = pollMs;
    const q = queues.get(file) ?? { tail: Promise.resolve(), users: 0 };
    q.users++;
    queues.set(file, q);
  }

  static async open(options: SqliteStoreOptions): Promise<SqliteBackend> {
    const file = resolve(options.file);
    let conn: SqliteConn;
    try {
      mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
      // Create the file 0600 before SQLite does, so it never exists with wider rights; the -wal and
      // -shm files SQLite makes copy the database file's mode.
      closeSync(openSync(file, 'a', 0o600));
      conn = await openSqliteConn(file, options.engine ?? 'auto');
    } catch (err) {
      if (isConegateError(err)) throw err;
      throw new ConegateError('CG_STORE_FAILED', `cannot open the coordinator database ${file}: ${(err as Error).message}`, { cause: err });
    }
    try {
      conn.exec('PRAGMA journal_mode = WAL');
      conn.exec('PRAGMA synchronous = FULL');
      conn.exec(`PRAGMA busy_timeout = ${Math.max(0, Math.floor(options.busyTimeoutMs ?? 5000))}`);
      conn.all('SELECT COUNT(*) AS n FROM sqlite_master', []);
    } catch (err) {
      conn.close();
      throw new ConegateError('CG_STORE_FAILED', `${file} is not a usable SQLite database: ${(err as Error).message}`, { cause: err });
    }
    return new SqliteBackend(conn, file, options.pollMs ?? 250);
  }

  get engine(): SqliteEngineName {
    return this.#conn.engine;
  }

  read<T>(fn: (q: SqlRunner) => Promise<T>): Promise<T> {
    return this.#queued(() => fn(this.#runner()));
  }

  write<T>(fn: (q: SqlRunner) => Promise<T>): Promise<T> {
    return this.#queued(async () => {
      // IMMEDIATE takes the write lock up front: a deferred transaction that read first could fail
      // with SQLITE_BUSY at its first write instead of waiting for the other process.
      this.#exec('BEGIN IMMEDIATE');
      try {
        const out = await fn(this.#runner());
        this.#exec('COMMIT');
        return out;
      } catch (err) {
        try {
          this.#conn.exec('ROLLBACK');
        } catch {
          // Nothing to roll back: SQLite already ended the transaction with the error.
        }
        throw err;
      }
    });
  }

  async announce(): Promise<void> {
    // Other processes notice the commit through data_version; nothing to send.
  }

  watch(heard: (seq: number) => void): void {
    if (this.#timer || this.#closed) return;
    this.#timer = setInterval(() => {
      this.#queued(async () => this.#poll(heard)).catch(() => undefined);
    }, this.#pollMs);
    this.#timer.unref();
  }

  /** data_version changes only when another connection commits; then the newest seq is read. */
  #poll(heard: (seq: number) => void): void {
    if (this.#closed) return;
    const [v] = this.#conn.all('PRAGMA data_version', []);
    const version = Number(v?.data_version ?? -1);
    if (version === this.#dataVersion) return;
    this.#dataVersion = version;
    const [row] = this.#conn.all('SELECT MAX(seq) AS seq FROM changes', []);
    if (row?.seq !== null && row?.seq !== undefined) heard(Number(row.seq));
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#timer);
    await this.#queued(async () => this.#conn.close(), true).catch(() => undefined);
    const q = queues.get(this.#file);
    if (q && --q.users === 0) queues.delete(this.#file);
  }

  #queued<T>(fn: () => Promise<T>, evenIfClosed = false): Promise<T> {
    const q = queues.get(this.#file) ?? { tail: Promise.resolve(), users: 0 };
    const run = q.tail.then(() => {
      if (this.#closed && !evenIfClosed) return Promise.reject(new ConegateError('CG_INTERNAL', 'the coordinator store is closed'));
      return fn();
    });
    q.tail = run.catch(() => undefined);
    return run;
  }

  #exec(sql: string): void {
    try {
      this.#conn.exec(sql);
    } catch (err) {
      throw storeError(err);
    }
  }

  #runner(): SqlRunner {
    const conn = this.#conn;
    return {
      all: async (sql: string, params: Param[] = []) => {
        try {
          return conn.all(translate(sql, 'sqlite'), params);
        } catch (err) {
          throw storeError(err);
        }
      },
      run: async (sql: string, params: Param[] = []) => {
        try {
          return conn.run(translate(sql, 'sqlite'), params);
        } catch (err) {
          throw storeError(err);
        }
      },
    };
  }
}

function storeError(err: unknown): ConegateError {
  if (isConegateError(err)) return err;
  const code = (err as { code?: string }).code ?? '';
  const what = /BUSY|LOCKED/.test(code) ? 'the database is locked by another process' : (err as Error).message;
  return new ConegateError('CG_STORE_FAILED', `coordinator database: ${what}`, { cause: err, context: { sqliteCode: code } });
}
