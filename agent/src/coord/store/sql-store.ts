/**
 * CoordStore over SQL, shared by the SQLite and PostgreSQL drivers: the same statements (schema.ts
 * translates the few dialect differences) and the same decisions (rules.ts). A driver supplies only a
 * SqlBackend: how to run a read, how to run a write transaction serialized with every other writer of
 * the database, and how other processes' commits are heard.
 */
import { AddressCache } from './address-cache.ts';
import { ConegateError } from '../../errors.ts';
import { applyPatch, authKeyRefusal, byCreation, ChangeListeners, compareRoutes, consumeAuthKey, countArg, hashSecret, mergeRoutes, newNodeId, newNodeRecord, sameRoutes, uniqueName } from './rules.ts';
import { META_TABLE, MIGRATIONS, SCHEMA_VERSION, translate, type Dialect } from './schema.ts';
import {
  AUTH_KEY_COLUMNS,
  authKeyFromRow,
  authKeyParams,
  changeFromRow,
  NODE_COLUMNS,
  nodeFromRow,
  nodeParams,
  numberFromColumn,
  PATCH_COLUMNS,
  routeFromRow,
  type Param,
  type Row,
} from './sql-rows.ts';
import type { AuthKeyRecord, ChangeKind, ChangeRecord, CoordStore, NodePatch, NodeRecord, RegisterInput, RegisterResult, RouteRecord } from './types.ts';

/** Statements in portable SQL with `?` placeholders; the backend translates them for its dialect. */
export interface SqlRunner {
  all(sql: string, params?: Param[]): Promise<Row[]>;
  /** Returns the number of rows changed. */
  run(sql: string, params?: Param[]): Promise<number>;
}

export interface SqlBackend {
  readonly dialect: Dialect;
  read<T>(fn: (q: SqlRunner) => Promise<T>): Promise<T>;
  /**
   * One transaction, serialized with every writer of the database (all processes, all replicas), so
   * change-log seqs commit in order and address allocation never races. Rolled back if fn throws.
   */
  write<T>(fn: (q: SqlRunner) => Promise<T>): Promise<T>;
  /** Inside a write that appended changes up to `seq`: tell other processes once it commits. */
  announce(q: SqlRunner, seq: number): Promise<void>;
  /** Starts hearing other processes' commits; `heard()` is called with the newest seq seen. */
  watch(heard: (seq: number) => void): void;
  close(): Promise<void>;
}

type NewChange = { nodeId: string; kind: ChangeKind; fields: string[] };

export class SqlStore implements CoordStore {
  readonly driver: Dialect;
  readonly #db: SqlBackend;
  readonly #listeners = new ChangeListeners();
  readonly #randomBytes: ((n: number) => Uint8Array) | undefined;
  readonly #addresses = new AddressCache();
  #emitted = 0;
  #watching = false;
  #closed = false;

  constructor(backend: SqlBackend, options: { randomBytes?: (n: number) => Uint8Array } = {}) {
    this.#db = backend;
    this.driver = backend.dialect;
    this.#randomBytes = options.randomBytes;
  }

  async migrate(): Promise<void> {
    await this.#db.write(async (q) => {
      await q.run(META_TABLE);
      const [row] = await q.all(`SELECT v FROM coord_meta WHERE k = 'schema_version'`);
      const current = row ? numberFromColumn(row.v) : 0;
      if (current > SCHEMA_VERSION) {
        throw new ConegateError('CG_UNSUPPORTED', `the coordinator database has schema ${current}, newer than this build (${SCHEMA_VERSION}); upgrade conegate`);
      }
      for (const m of MIGRATIONS.filter((x) => x.version > current)) for (const sql of m.statements) await q.run(sql);
      await setMeta(q, 'schema_version', String(SCHEMA_VERSION));
    });
    this.#emitted = await this.latestSeq();
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#db.close();
  }

  async createAuthKey(key: AuthKeyRecord): Promise<void> {
    await this.#write(async (q) => {
      const clash = await q.all(`SELECT id FROM auth_keys WHERE id = ? OR secret_sha256 = ?`, [key.id, key.secretSha256]);
      if (clash.length) throw new ConegateError('CG_INPUT_INVALID', `auth key ${key.id} already exists`);
      await q.run(`INSERT INTO auth_keys (${AUTH_KEY_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, authKeyParams(key));
      return [];
    });
  }

  async listAuthKeys(): Promise<AuthKeyRecord[]> {
    const rows = await this.#db.read((q) => q.all(`SELECT ${AUTH_KEY_COLUMNS} FROM auth_keys`));
    return rows.map(authKeyFromRow).sort(byCreation);
  }

  async expireAuthKey(id: string, nowMs: number): Promise<boolean> {
    return this.#write(async (q) => {
      const rows = await q.all(`SELECT id FROM auth_keys WHERE id = ?`, [id]);
      await q.run(`UPDATE auth_keys SET revoked_at_ms = ? WHERE id = ? AND revoked_at_ms IS NULL`, [nowMs, id]);
      return { result: rows.length > 0, changes: [] };
    });
  }

  async registerNode(input: RegisterInput): Promise<RegisterResult> {
    let countBefore = -1;
    try {
      const result = await this.#write((q) => this.#register(q, input, (n) => (countBefore = n)));
      if (result.ok && result.created) this.#addresses.committed(countBefore, [result.node.ipv4, result.node.ipv6]);
      return result;
    } catch (err) {
      this.#addresses.invalidate();
      throw err;
    }
  }

  async #register(q: SqlRunner, input: RegisterInput, seen: (count: number) => void): Promise<Written<RegisterResult>> {
    const [known] = await q.all(`SELECT ${NODE_COLUMNS} FROM nodes WHERE machine_key = ?`, [input.machineKey]);
    if (known) return this.#reRegister(q, nodeFromRow(known), input);
    const [keyRow] = await q.all(`SELECT ${AUTH_KEY_COLUMNS} FROM auth_keys WHERE secret_sha256 = ?`, [hashSecret(input.authKeySecret)]);
    const key = keyRow && authKeyFromRow(keyRow);
    const refusal = authKeyRefusal(key, input.nowMs);
    if (refusal || !key) return { result: { ok: false, reason: refusal ?? 'auth-key-unknown' }, changes: [] };
    const [counted] = await q.all(`SELECT COUNT(*) AS n FROM nodes`);
    const count = numberFromColumn(counted!.n);
    seen(count);
    await this.#addresses.sync(count, async () => (await q.all(`SELECT ipv4, ipv6 FROM nodes`)).flatMap((r) => [String(r.ipv4), String(r.ipv6)]));
    const ipv4 = this.#addresses.lowestFree(input.prefix4);
    const ipv6 = this.#addresses.lowestFree(input.prefix6);
    if (!ipv4 || !ipv6) return { result: { ok: false, reason: 'no-address' }, changes: [] };
    const live = new Set((await q.all(`SELECT name FROM nodes WHERE revoked_at_ms IS NULL`)).map((r) => String(r.name)));
    const id = newNodeId(this.#randomBytes);
    const node = newNodeRecord(input, key, { id, name: uniqueName(input.hostname, live), ipv4, ipv6 });
    const used = consumeAuthKey(key, input.nowMs);
    await q.run(`UPDATE auth_keys SET uses = ?, used_at_ms = ? WHERE id = ?`, [used.uses, used.usedAtMs, key.id]);
    await q.run(`INSERT INTO nodes (${NODE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, nodeParams(node));
    await insertRoutes(q, mergeRoutes(id, [], input.advertiseRoutes));
    const result: RegisterResult = { ok: true, node, created: true };
    return { result, changes: [{ nodeId: id, kind: 'node-upsert', fields: [] }], atMs: input.nowMs };
  }

  async #reRegister(q: SqlRunner, known: NodeRecord, input: RegisterInput): Promise<Written<RegisterResult>> {
    if (known.revokedAtMs !== null) return { result: { ok: false, reason: 'node-revoked' }, changes: [] };
    const changes: NewChange[] = [];
    const patched = applyPatch(known, { nodeKey: input.nodeKey, discoKey: input.discoKey });
    if (patched) {
      await updateColumns(q, known.id, patched.node, patched.fields);
      changes.push({ nodeId: known.id, kind: patched.kind, fields: patched.fields });
    }
    if (await replaceRoutes(q, known.id, input.advertiseRoutes)) changes.push({ nodeId: known.id, kind: 'routes', fields: [] });
    return { result: { ok: true, node: patched?.node ?? known, created: false }, changes, atMs: input.nowMs };
  }

  async nodeById(id: string): Promise<NodeRecord | undefined> {
    const [row] = await this.#db.read((q) => q.all(`SELECT ${NODE_COLUMNS} FROM nodes WHERE id = ?`, [id]));
    return row && nodeFromRow(row);
  }

  async nodeByMachineKey(machineKey: string): Promise<NodeRecord | undefined> {
    const [row] = await this.#db.read((q) => q.all(`SELECT ${NODE_COLUMNS} FROM nodes WHERE machine_key = ?`, [machineKey]));
    return row && nodeFromRow(row);
  }

  async listNodes(opts: { includeRevoked?: boolean } = {}): Promise<NodeRecord[]> {
    const where = opts.includeRevoked ? '' : 'WHERE revoked_at_ms IS NULL';
    const rows = await this.#db.read((q) => q.all(`SELECT ${NODE_COLUMNS} FROM nodes ${where}`));
    return rows.map(nodeFromRow).sort(byCreation);
  }

  async updateNode(id: string, patch: NodePatch, nowMs: number): Promise<NodeRecord | undefined> {
    return this.#write(async (q) => {
      const [row] = await q.all(`SELECT ${NODE_COLUMNS} FROM nodes WHERE id = ? AND revoked_at_ms IS NULL`, [id]);
      if (!row) return { result: undefined, changes: [] };
      const node = nodeFromRow(row);
      const patched = applyPatch(node, patch);
      if (!patched) return { result: node, changes: [] };
      await updateColumns(q, id, patched.node, patched.fields);
      return { result: patched.node, changes: [{ nodeId: id, kind: patched.kind, fields: patched.fields }], atMs: nowMs };
    });
  }

  async revokeNode(id: string, nowMs: number): Promise<boolean> {
    return this.#write(async (q) => {
      const n = await q.run(`UPDATE nodes SET revoked_at_ms = ? WHERE id = ? AND revoked_at_ms IS NULL`, [nowMs, id]);
      return n ? { result: true, changes: [{ nodeId: id, kind: 'node-remove', fields: [] }], atMs: nowMs } : { result: false, changes: [] };
    });
  }

  async setAdvertisedRoutes(nodeId: string, cidrs: string[], nowMs: number): Promise<void> {
    await this.#write(async (q) => {
      const live = await q.all(`SELECT id FROM nodes WHERE id = ? AND revoked_at_ms IS NULL`, [nodeId]);
      if (!live.length) throw new ConegateError('CG_INPUT_INVALID', `no node ${nodeId}`);
      const changed = await replaceRoutes(q, nodeId, cidrs);
      return { result: undefined, changes: changed ? [{ nodeId, kind: 'routes', fields: [] }] : [], atMs: nowMs };
    });
  }

  async listRoutes(): Promise<RouteRecord[]> {
    const rows = await this.#db.read((q) =>
      q.all(`SELECT r.node_id, r.cidr, r.approved FROM routes r JOIN nodes n ON n.id = r.node_id WHERE n.revoked_at_ms IS NULL`),
    );
    // Sorted here, not by ORDER BY: a PostgreSQL database's text collation follows its locale.
    return rows.map(routeFromRow).sort(compareRoutes);
  }

  async setRouteApproval(nodeId: string, cidr: string, approved: boolean, nowMs: number): Promise<boolean> {
    return this.#write(async (q) => {
      const [row] = await q.all(
        `SELECT r.approved FROM routes r JOIN nodes n ON n.id = r.node_id WHERE r.node_id = ? AND r.cidr = ? AND n.revoked_at_ms IS NULL`,
        [nodeId, cidr],
      );
      if (!row) return { result: false, changes: [] };
      if ((numberFromColumn(row.approved) === 1) === approved) return { result: true, changes: [] };
      await q.run(`UPDATE routes SET approved = ? WHERE node_id = ? AND cidr = ?`, [approved ? 1 : 0, nodeId, cidr]);
      return { result: true, changes: [{ nodeId, kind: 'routes', fields: [] }], atMs: nowMs };
    });
  }

  async noteRoutesMoved(nodeIds: string[], nowMs: number): Promise<void> {
    const ids = [...new Set(nodeIds)];
    if (!ids.length) return;
    await this.#write(async (q) => {
      const live = await q.all(`SELECT id FROM nodes WHERE revoked_at_ms IS NULL AND id IN (${ids.map(() => '?').join(', ')})`, ids);
      const known = new Set(live.map((r) => String(r.id)));
      return { result: undefined, changes: ids.filter((id) => known.has(id)).map((nodeId) => ({ nodeId, kind: 'routes' as const, fields: [] })), atMs: nowMs };
    });
  }

  async initSetting(key: string, value: string): Promise<string> {
    return this.#db.write(async (q) => {
      // Settings share coord_meta with the schema's own keys, under a prefix so they can never clash.
      await q.run(`INSERT INTO coord_meta (k, v) VALUES (?, ?) ON CONFLICT (k) DO NOTHING`, [`setting:${key}`, value]);
      const [row] = await q.all(`SELECT v FROM coord_meta WHERE k = ?`, [`setting:${key}`]);
      return String(row!.v);
    });
  }

  async latestSeq(): Promise<number> {
    return this.#db.read(async (q) => {
      const [row] = await q.all(`SELECT MAX(seq) AS seq FROM changes`);
      const max = row?.seq === null || row?.seq === undefined ? 0 : numberFromColumn(row.seq);
      return Math.max(max, await trimmedThrough(q));
    });
  }

  async changesSince(afterSeq: number, limit: number): Promise<ChangeRecord[]> {
    const rows = await this.#db.read((q) => q.all(`SELECT seq, node_id, kind, fields, at_ms FROM changes WHERE seq > ? ORDER BY seq LIMIT ?`, [afterSeq, countArg(limit, 'limit')]));
    return rows.map(changeFromRow);
  }

  async oldestSeq(): Promise<number> {
    return this.#db.read(async (q) => (await trimmedThrough(q)) + 1);
  }

  async trimChanges(keep: number): Promise<void> {
    await this.#db.write(async (q) => {
      const [row] = await q.all(`SELECT seq FROM changes ORDER BY seq DESC LIMIT 1 OFFSET ?`, [countArg(keep, 'keep')]);
      if (!row) return;
      const cut = numberFromColumn(row.seq);
      await q.run(`DELETE FROM changes WHERE seq <= ?`, [cut]);
      await setMeta(q, 'trimmed_through', String(cut));
    });
  }

  onChange(listener: (seq: number) => void): () => void {
    if (!this.#watching && !this.#closed) {
      this.#watching = true;
      this.#db.watch((seq) => this.#emit(seq));
    }
    return this.#listeners.add(listener);
  }

  /** A write that may append changes: appended in the same transaction, announced, emitted after commit. */
  async #write<T>(fn: (q: SqlRunner) => Promise<Written<T> | NewChange[]>): Promise<T> {
    let last = 0;
    const result = await this.#db.write(async (q) => {
      last = 0; // a backend may run this again after a serialization failure
      const out = await fn(q);
      const written: Written<T> = Array.isArray(out) ? { result: undefined as T, changes: out } : out;
      for (const c of written.changes) {
        const [row] = await q.all(`INSERT INTO changes (node_id, kind, fields, at_ms) VALUES (?, ?, ?, ?) RETURNING seq`, [
          c.nodeId,
          c.kind,
          JSON.stringify(c.fields),
          written.atMs ?? 0,
        ]);
        last = numberFromColumn(row!.seq);
      }
      if (last) await this.#db.announce(q, last);
      return written.result;
    });
    if (last) this.#emit(last);
    return result;
  }

  /** Listeners hear each newer seq once, whether from this process or another one. */
  #emit(seq: number): void {
    if (seq <= this.#emitted || this.#closed) return;
    this.#emitted = seq;
    this.#listeners.emit(seq);
  }
}

interface Written<T> {
  result: T;
  changes: NewChange[];
  atMs?: number;
}

async function setMeta(q: SqlRunner, k: string, v: string): Promise<void> {
  await q.run(`INSERT INTO coord_meta (k, v) VALUES (?, ?) ON CONFLICT (k) DO UPDATE SET v = excluded.v`, [k, v]);
}

async function trimmedThrough(q: SqlRunner): Promise<number> {
  const [row] = await q.all(`SELECT v FROM coord_meta WHERE k = 'trimmed_through'`);
  return row ? numberFromColumn(row.v) : 0;
}

async function updateColumns(q: SqlRunner, id: string, node: NodeRecord, fields: string[]): Promise<void> {
  const cols = fields.map((f) => PATCH_COLUMNS[f]);
  if (cols.some((c) => !c)) throw new ConegateError('CG_INTERNAL', `node field not patchable: ${fields.join(',')}`);
  const sets = cols.map((c) => `${c!.column} = ?`).join(', ');
  const values = fields.map((f, i) => cols[i]!.bind((node as unknown as Record<string, unknown>)[f]));
  await q.run(`UPDATE nodes SET ${sets} WHERE id = ?`, [...values, id]);
}

async function insertRoutes(q: SqlRunner, routes: RouteRecord[]): Promise<void> {
  for (const r of routes) await q.run(`INSERT INTO routes (node_id, cidr, approved) VALUES (?, ?, ?)`, [r.nodeId, r.cidr, r.approved ? 1 : 0]);
}

/** Replaces a node's routes (approval kept for those still advertised); true if anything changed. */
async function replaceRoutes(q: SqlRunner, nodeId: string, cidrs: string[]): Promise<boolean> {
  const current = (await q.all(`SELECT node_id, cidr, approved FROM routes WHERE node_id = ?`, [nodeId])).map(routeFromRow);
  const next = mergeRoutes(nodeId, current, cidrs);
  if (sameRoutes(current, next)) return false;
  await q.run(`DELETE FROM routes WHERE node_id = ?`, [nodeId]);
  await insertRoutes(q, next);
  return true;
}

/** A store over `backend`, migrated (safe when several replicas start at once); closed again if that fails. */
export async function openMigrated(backend: SqlBackend, options: { randomBytes?: (n: number) => Uint8Array }): Promise<SqlStore> {
  const store = new SqlStore(backend, options.randomBytes ? { randomBytes: options.randomBytes } : {});
  try {
    await store.migrate();
  } catch (err) {
    await store.close();
    throw err;
  }
  return store;
}
