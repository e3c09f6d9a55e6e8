/**
 * The PostgreSQL store (`--db postgres://...`), for operators who run several coordinator replicas on
 * one database. Same schema and statements as SQLite (sql-store.ts); what differs lives here.
 *
 * Writers are serialized by one transaction-scoped advisory lock taken first in every write
 * transaction, under READ COMMITTED:
 * - address allocation: every statement after the lock sees all earlier writers' commits, so "lowest
 *   free" is computed over every allocation of every replica (the UNIQUE ipv4/ipv6 columns back it up);
 * - the change log: a BIGSERIAL value is taken at INSERT, so without the lock a transaction could
 *   commit seq 7 after another committed seq 8, and a replica that had read up to 8 would never see 7.
 *   Under the lock, seqs commit in order. (SERIALIZABLE alone would not give that order.)
 * Coordinator writes are small and rare next to reads (registrations, endpoint moves, admin commands),
 * so one lock costs nothing that matters and makes both properties hold by construction.
 *
 * Fan-out: each write that appended changes runs pg_notify(channel, newest seq), delivered at commit to
 * every replica's LISTEN connection; that connection is reconnected with backoff if it drops, and on
 * reconnect the newest seq is read, so a notification missed while disconnected is not lost.
 */
import pg from 'pg';
import { ConegateError, isConegateError } from '../../errors.ts';
import { translate } from './schema.ts';
import { openMigrated, type SqlStore, type SqlBackend, type SqlRunner } from './sql-store.ts';
import { numberFromColumn, type Param } from './sql-rows.ts';

export interface PostgresStoreOptions {
  /** postgres://user:password@host:port/database (the password is never logged or put in errors). */
  url: string;
  /** Pool size. @default 10 */
  poolMax?: number;
  /** NOTIFY channel; replicas of one coordinator share it. @default 'conegate_coord' */
  channel?: string;
  /** First delay before reconnecting the LISTEN connection; doubles up to 5 s. @default 100 */
  reconnectMs?: number;
  /** Bound for each connection attempt. @default 10000 */
  connectTimeoutMs?: number;
  randomBytes?: (n: number) => Uint8Array;
}

/** Key of the writers' advisory lock: "conegate" in ASCII, so it is recognisable in pg_locks. */
const WRITE_LOCK_KEY = BigInt('0x636f6e6567617465').toString();
/** application_name of the LISTEN connection (visible in pg_stat_activity). */
export const LISTEN_APPLICATION_NAME = 'conegate-coord-listen';
/** SQLSTATEs after which the whole transaction may simply run again. */
const RETRYABLE = new Set(['40001', '40P01']);

/** Opens a pool to the database and migrates it (safe when several replicas start at once). */
export async function openPostgresStore(options: PostgresStoreOptions): Promise<SqlStore> {
  const backend = new PostgresBackend(options);
  return openMigrated(backend, options);
}

/** host:port/database of a URL, for messages (never the user's password). */
export function describeUrl(url: string): string {
  try {
    // Credentials dropped first: WHATWG URL refuses "user:pw@" before an empty host (socket URLs).
    const u = new URL(url.replace(/\/\/[^@/]*@/, '//'));
    const host = u.hostname || u.searchParams.get('host') || 'localhost';
    return `${host}:${u.port || u.searchParams.get('port') || 5432}${u.pathname}`;
  } catch {
    return '(unparsable database URL)';
  }
}

class PostgresBackend implements SqlBackend {
  readonly dialect = 'postgres' as const;
  readonly #pool: pg.Pool;
  readonly #opts: PostgresStoreOptions;
  readonly #where: string;
  readonly #channel: string;
  #listener: pg.Client | undefined;
  #retryTimer: NodeJS.Timeout | undefined;
  #retryMs: number;
  #heard: ((seq: number) => void) | undefined;
  #closed = false;

  constructor(options: PostgresStoreOptions) {
    this.#opts = options;
    this.#where = describeUrl(options.url);
    this.#channel = options.channel ?? 'conegate_coord';
    if (!/^[a-z_][a-z0-9_]{0,62}$/.test(this.#channel)) throw new ConegateError('CG_CONFIG_INVALID', `NOTIFY channel "${this.#channel}" is not a plain identifier`);
    this.#retryMs = options.reconnectMs ?? 100;
    this.#pool = new pg.Pool({ connectionString: options.url, max: options.poolMax ?? 10, connectionTimeoutMillis: options.connectTimeoutMs ?? 10_000 });
    // An idle pooled connection that dies (server restart) emits 'error'; unhandled it would end the process.
    this.#pool.on('error', () => undefined);
  }

  async read<T>(fn: (q: SqlRunner) => Promise<T>): Promise<T> {
    this.#open();
    return fn(this.#runner((sql, params) => this.#pool.query(sql, params)));
  }

  async write<T>(fn: (q: SqlRunner) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      this.#open();
      const client = await this.#connect();
      let broken: Error | undefined;
      try {
        await client.query('BEGIN');
        await client.query(`SELECT pg_advisory_xact_lock(${WRITE_LOCK_KEY})`);
        const out = await fn(this.#runner((sql, params) => client.query(sql, params)));
        await client.query('COMMIT');
        return out;
      } catch (err) {
        await client.query('ROLLBACK').catch((e: Error) => (broken = e));
        const code = (err as { cause?: { code?: string } }).cause?.code;
        if (attempt < 3 && code && RETRYABLE.has(code)) continue;
        throw err;
      } finally {
        client.release(broken);
      }
    }
  }

  async announce(q: SqlRunner, seq: number): Promise<void> {
    await q.all(`SELECT pg_notify('${this.#channel}', ?)`, [String(seq)]);
  }

  watch(heard: (seq: number) => void): void {
    if (this.#heard || this.#closed) return;
    this.#heard = heard;
    void this.#listen();
  }

  async #listen(): Promise<void> {
    if (this.#closed) return;
    const client = new pg.Client({
      connectionString: this.#opts.url,
      connectionTimeoutMillis: this.#opts.connectTimeoutMs ?? 10_000,
      application_name: LISTEN_APPLICATION_NAME,
    });
    const lost = (): void => {
      if (this.#listener === client) this.#listener = undefined;
      client.removeAllListeners('notification');
      void client.end().catch(() => undefined);
      this.#scheduleListen();
    };
    client.on('error', lost);
    client.on('end', () => (this.#listener === client ? lost() : undefined));
    client.on('notification', (msg) => {
      const seq = Number(msg.payload);
      if (msg.channel === this.#channel && Number.isSafeInteger(seq)) this.#heard?.(seq);
    });
    try {
      await client.connect();
      await client.query(`LISTEN ${this.#channel}`);
      if (this.#closed) return void (await client.end().catch(() => undefined));
      this.#listener = client;
      this.#retryMs = this.#opts.reconnectMs ?? 100;
      // Whatever was committed while no LISTEN was up is announced now.
      const { rows } = await client.query('SELECT MAX(seq) AS seq FROM changes');
      if (rows[0]?.seq !== null && rows[0]?.seq !== undefined) this.#heard?.(numberFromColumn(rows[0].seq));
    } catch {
      client.removeAllListeners('end');
      lost();
    }
  }

  #scheduleListen(): void {
    if (this.#closed || this.#retryTimer) return;
    const delay = this.#retryMs;
    this.#retryMs = Math.min(this.#retryMs * 2, 5000);
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = undefined;
      void this.#listen();
    }, delay);
    this.#retryTimer.unref();
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#retryTimer);
    const l = this.#listener;
    this.#listener = undefined;
    if (l) {
      l.removeAllListeners('end');
      await l.end().catch(() => undefined);
    }
    await this.#pool.end().catch(() => undefined);
  }

  async #connect(): Promise<pg.PoolClient> {
    try {
      return await this.#pool.connect();
    } catch (err) {
      throw this.#error(err);
    }
  }

  #runner(exec: (sql: string, params: Param[]) => Promise<pg.QueryResult>): SqlRunner {
    const run = async (sql: string, params: Param[] = []): Promise<pg.QueryResult> => {
      try {
        return await exec(translate(sql, 'postgres'), params);
      } catch (err) {
        throw this.#error(err);
      }
    };
    return {
      all: async (sql, params) => (await run(sql, params)).rows,
      run: async (sql, params) => (await run(sql, params)).rowCount ?? 0,
    };
  }

  #error(err: unknown): ConegateError {
    if (isConegateError(err)) return err;
    const e = err as { code?: string; message?: string };
    return new ConegateError('CG_STORE_FAILED', `coordinator database ${this.#where}: ${e.message ?? String(err)}`, { cause: err, context: { sqlState: e.code } });
  }

  #open(): void {
    if (this.#closed) throw new ConegateError('CG_INTERNAL', 'the coordinator store is closed');
  }
}
