/**
 * Coordinator store figures, per driver (SQLite file, PostgreSQL from test/services/postgres.ts):
 * registrations/s (sequential, and 8 at once), endpoint updates/s (the coordinator's steady write),
 * changesSince and listNodes at `nodes` nodes, and the RSS this process gains by opening a SQLite
 * store. `npm run bench coord-store [--nodes=N]`. Figures on a shared machine are noisy: compare runs
 * made together, not with old results.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { performance } from 'node:perf_hooks';
import { openSqliteStore } from '../agent/src/coord/store/sqlite.ts';
import { openPostgresStore } from '../agent/src/coord/store/postgres.ts';
import { authKey, okNode, regInput } from '../agent/src/coord/store/compliance-kit.ts';
import type { CoordStore } from '../agent/src/coord/store/types.ts';
import { startPostgres } from '../test/services/postgres.ts';

const perSec = (n: number, ms: number): number => Math.round((n / ms) * 1000);

async function measure(store: CoordStore, nodes: number): Promise<Record<string, number>> {
  await store.createAuthKey(authKey('ak_bench', 'bench', { reusable: true }));
  let t = performance.now();
  const ids: string[] = [];
  for (let i = 0; i < nodes; i++) ids.push(okNode(await store.registerNode(regInput(i, 'bench'))).id);
  const registerMs = performance.now() - t;

  t = performance.now();
  const batch = 200;
  for (let i = 0; i < batch; i += 8) {
    await Promise.all(Array.from({ length: 8 }, (_, j) => store.registerNode(regInput(nodes + i + j, 'bench')).then(okNode)));
  }
  const parallelMs = performance.now() - t;

  const updates = 1000;
  t = performance.now();
  for (let i = 0; i < updates; i++) {
    await store.updateNode(ids[i % ids.length]!, { endpoints: [{ addr: `198.51.100.${i % 250}:${1024 + i}`, type: 'stun' }] }, 1_800_000_000_000 + i);
  }
  const updateMs = performance.now() - t;

  t = performance.now();
  const changes = await store.changesSince(0, 100_000);
  const changesMs = performance.now() - t;
  t = performance.now();
  const listed = await store.listNodes();
  const listMs = performance.now() - t;
  return {
    nodes: listed.length,
    registrationsPerSec: perSec(nodes, registerMs),
    registrationsPerSec8Parallel: perSec(batch, parallelMs),
    endpointUpdatesPerSec: perSec(updates, updateMs),
    changesSinceMs: Math.round(changesMs * 10) / 10,
    changesRead: changes.length,
    listNodesMs: Math.round(listMs * 10) / 10,
  };
}

export async function run(args: string[]): Promise<unknown> {
  const nodesArg = args.find((a) => a.startsWith('--nodes='));
  const nodes = nodesArg ? Number(nodesArg.slice('--nodes='.length)) : 1000;
  const dir = mkdtempSync(join(tmpdir(), 'conegate-bench-store-'));
  const pgServer = await startPostgres();
  try {
    global.gc?.();
    const rssBefore = process.memoryUsage().rss;
    const sqlite = await openSqliteStore({ file: join(dir, 'coord.sqlite') });
    const rssOpenKb = Math.round((process.memoryUsage().rss - rssBefore) / 1024);
    const sqliteFigures = await measure(sqlite, nodes);
    const rssAfterKb = Math.round(process.memoryUsage().rss / 1024);
    await sqlite.close();
    const pgStore = await openPostgresStore({ url: await pgServer.createDatabase('bench') });
    const pgFigures = await measure(pgStore, nodes);
    await pgStore.close();
    return {
      note: 'shared 2-core machine: noisy; synchronous=FULL (SQLite) and fsync=on (PostgreSQL), one fsync per commit',
      sqlite: { ...sqliteFigures, rssGainOnOpenKb: rssOpenKb, processRssAfterKb: rssAfterKb },
      postgres: pgFigures,
    };
  } finally {
    await pgServer.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
