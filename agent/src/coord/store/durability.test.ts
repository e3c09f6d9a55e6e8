/**
 * kill -9 of the process writing to the store: every write it acknowledged is there after reopening,
 * with SQLite (WAL, synchronous=FULL) and PostgreSQL, and the store takes new registrations without
 * clashing with what the killed process left.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { startPostgres, type PostgresServer } from '../../../../test/services/postgres.ts';
import { recordPid } from '../../../../test/lab/proc.ts';
import { openSqliteStore } from './sqlite.ts';
import { openPostgresStore } from './postgres.ts';
import { authKey, okNode, regInput } from './compliance-kit.ts';
import type { CoordStore } from './types.ts';

const CHILD = new URL('./durability-child.ts', import.meta.url).pathname;
const ROUNDS = 2000;
/** Kill once the child has acknowledged this many nodes (it is then mid-loop, usually mid-transaction). */
const KILL_AFTER_NODES = 40;

let server: PostgresServer;
before(async () => {
  server = await startPostgres();
});
after(async () => {
  await server?.stop();
});

/** Runs the child until it acknowledged KILL_AFTER_NODES nodes, SIGKILLs it by PID, returns its complete lines. */
async function runAndKill(driver: string, target: string, crashFirst?: () => Promise<void>): Promise<string[]> {
  const child = spawn(process.execPath, ['--import', 'tsx', CHILD, driver, target, 'durable', String(ROUNDS)], { stdio: ['ignore', 'pipe', 'pipe'] });
  recordPid(child.pid!, `durability-child ${driver}`);
  let out = '';
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<void>((res) => child.once('exit', () => res()));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`child acknowledged too little within 60 s: ${out.slice(-500)} ${err.slice(-2000)}`)), 60_000);
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if ((out.match(/^node /gm) ?? []).length >= KILL_AFTER_NODES && timer.hasRef()) {
        clearTimeout(timer);
        timer.unref();
        void (crashFirst ?? (async () => undefined))().then(() => {
          child.kill('SIGKILL');
          resolve();
        }, reject);
      }
    });
    child.once('exit', (code, signal) => {
      if (!timer.hasRef()) return;
      clearTimeout(timer);
      reject(new Error(`child exited early (${code ?? signal}): ${err.slice(-2000)}`));
    });
  });
  await exited;
  // Only whole lines are acknowledgements; a torn last line was never fully written.
  return out.split('\n').slice(0, -1);
}

async function verify(store: CoordStore, lines: string[]): Promise<void> {
  const nodes = new Map((await store.listNodes()).map((n) => [n.id, n]));
  const routes = new Set((await store.listRoutes()).filter((r) => r.approved).map((r) => `${r.nodeId} ${r.cidr}`));
  const keys = new Set((await store.listAuthKeys()).map((k) => k.id));
  let acked = 0;
  for (const line of lines) {
    const [kind, a, b] = line.split(' ');
    if (kind === 'node') assert.equal(nodes.get(a!)?.ipv4, b, `acknowledged node ${a} kept with ${b}`);
    else if (kind === 'route') assert.ok(routes.has(`${a} ${b}`), `acknowledged approval of ${b} on ${a} kept`);
    else if (kind === 'key') assert.ok(keys.has(a!), `acknowledged auth key ${a} kept`);
    else continue;
    acked++;
  }
  assert.ok(acked >= KILL_AFTER_NODES);
  // Whatever the killed process left half-done, the next registration gets a fresh, unique address.
  const fresh = okNode(await store.registerNode(regInput(ROUNDS + 1, 'durable')));
  assert.ok(![...nodes.values()].some((n) => n.ipv4 === fresh.ipv4 || n.ipv6 === fresh.ipv6));
}

test('durability: SQLite keeps every acknowledged node, route approval and auth key after kill -9', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'conegate-durable-'));
  const file = join(dir, 'coord.sqlite');
  try {
    const seed = await openSqliteStore({ file });
    await seed.createAuthKey(authKey('ak_seed', 'durable', { reusable: true }));
    await seed.close();
    const lines = await runAndKill('sqlite', file);
    const store = await openSqliteStore({ file });
    try {
      await verify(store, lines);
    } finally {
      await store.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('durability: PostgreSQL keeps every acknowledged node, route approval and auth key after kill -9', async () => {
  const url = await server.createDatabase('durable');
  const seed = await openPostgresStore({ url });
  await seed.createAuthKey(authKey('ak_seed', 'durable', { reusable: true }));
  await seed.close();
  const lines = await runAndKill('postgres', url);
  const store = await openPostgresStore({ url });
  try {
    await verify(store, lines);
  } finally {
    await store.close();
  }
});

test('durability: PostgreSQL itself killed -9 mid-write keeps every acknowledged write after its restart', async () => {
  const url = await server.createDatabase('durable_server');
  const seed = await openPostgresStore({ url });
  await seed.createAuthKey(authKey('ak_seed', 'durable', { reusable: true }));
  await seed.close();
  const lines = await runAndKill('postgres', url, () => server.crashAndRestart());
  const store = await openPostgresStore({ url });
  try {
    await verify(store, lines);
  } finally {
    await store.close();
  }
});
