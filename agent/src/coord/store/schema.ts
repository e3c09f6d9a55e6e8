/**
 * The one schema and migration set of the coordinator store, written once in portable SQL. The few
 * differences between SQLite and PostgreSQL are tokens translated here, and nowhere else:
 * - `{{SEQ}}`: the change-log key. SQLite `INTEGER PRIMARY KEY AUTOINCREMENT` (AUTOINCREMENT so a seq
 *   is never handed out twice, even after trimChanges empties the table; plain rowid would restart at
 *   max+1), PostgreSQL `BIGSERIAL PRIMARY KEY`.
 * - `?` placeholders: SQLite takes them as they are, PostgreSQL wants `$1, $2, ...`.
 * Lists (tags, endpoints, fields) are JSON in TEXT columns and booleans are INTEGER 0/1 in both, so
 * rows read back identically; PostgreSQL returns BIGINT as a string, which the row readers convert.
 */
export type Dialect = 'sqlite' | 'postgres';

export interface Migration {
  version: number;
  statements: string[];
}

/** Append only: a released migration is never edited; a change is a new version. */
export const MIGRATIONS: Migration[] = [
  {
    version: 1,
    statements: [
      `CREATE TABLE auth_keys (
        id TEXT PRIMARY KEY,
        secret_sha256 TEXT NOT NULL UNIQUE,
        reusable INTEGER NOT NULL,
        tags TEXT NOT NULL,
        created_at_ms BIGINT NOT NULL,
        expires_at_ms BIGINT,
        used_at_ms BIGINT,
        revoked_at_ms BIGINT,
        uses INTEGER NOT NULL
      )`,
      // ipv4/ipv6 UNIQUE over revoked nodes too: an address is never handed out twice, and two replicas
      // racing past the allocation lock by mistake would fail loudly instead of sharing an address.
      `CREATE TABLE nodes (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        machine_key TEXT NOT NULL UNIQUE,
        node_key TEXT NOT NULL,
        disco_key TEXT NOT NULL,
        ipv4 TEXT NOT NULL UNIQUE,
        ipv6 TEXT NOT NULL UNIQUE,
        tags TEXT NOT NULL,
        endpoints TEXT NOT NULL,
        home_relay TEXT,
        auth_key_id TEXT NOT NULL,
        created_at_ms BIGINT NOT NULL,
        last_seen_ms BIGINT NOT NULL,
        revoked_at_ms BIGINT
      )`,
      `CREATE TABLE routes (
        node_id TEXT NOT NULL,
        cidr TEXT NOT NULL,
        approved INTEGER NOT NULL,
        PRIMARY KEY (node_id, cidr)
      )`,
      `CREATE TABLE changes (
        seq {{SEQ}},
        node_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        fields TEXT NOT NULL,
        at_ms BIGINT NOT NULL
      )`,
    ],
  },
];

/** Holds schema_version and trimmed_through; created before any migration runs. */
export const META_TABLE = `CREATE TABLE IF NOT EXISTS coord_meta (k TEXT PRIMARY KEY, v TEXT NOT NULL)`;

const SEQ: Record<Dialect, string> = {
  sqlite: 'INTEGER PRIMARY KEY AUTOINCREMENT',
  postgres: 'BIGSERIAL PRIMARY KEY',
};

/** The statement as the dialect wants it. Our SQL never has `?` inside a string literal. */
export function translate(sql: string, dialect: Dialect): string {
  const typed = sql.replaceAll('{{SEQ}}', SEQ[dialect]);
  if (dialect === 'sqlite') return typed;
  let n = 0;
  return typed.replace(/\?/g, () => `$${++n}`);
}

/** The newest schema version this build knows. */
export const SCHEMA_VERSION = MIGRATIONS[MIGRATIONS.length - 1]!.version;
