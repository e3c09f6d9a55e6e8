import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { startPostgres, type PostgresServer } from '../../../../test/services/postgres.ts';
import { describeUrl, LISTEN_APPLICATION_NAME, openPostgresStore } from './postgres.ts';
import { storeCompliance } from './compliance.ts';
import { authKey, okNode, regInput, withStore } from './compliance-kit.ts';
import { nextChange } from './compliance-log.ts';
import { isConegateError } from '../../errors.ts';

let server: PostgresServer;
let dbCount = 0;
before(async () => {
  server = await startPostgres();
});
after(async () => {
  await server?.stop();
});

async function harness() {
  const name = `t${process.pid}_${++dbCount}`;
  const url = await server.createDatabase(name);
  return {
    open: () => openPostgresStore({ url, poolMax: 4 }),
    dispose: () => server.dropDatabase(name),
  };
}

storeCompliance('postgres store', harness);

test('postgres store: the LISTEN connection comes back after the server ends it, and misses nothing', () =>
  withStore(harness, async (s, h) => {
    const other = await h.open();
    await s.createAuthKey(authKey('ak_1', 'k', { reusable: true }));
    const first = nextChange(other, (seq) => seq >= 1);
    okNode(await s.registerNode(regInput(1, 'k')));
    assert.equal(await first, 1);
    const admin = new pg.Client({ connectionString: server.url });
    await admin.connect();
    try {
      const { rowCount } = await admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1', [LISTEN_APPLICATION_NAME]);
      assert.ok((rowCount ?? 0) >= 1, 'a LISTEN connection was there to end');
    } finally {
      await admin.end();
    }
    // Committed while the other replica may be reconnecting: heard either by NOTIFY or by the catch-up read.
    const second = nextChange(other, (seq) => seq >= 2);
    okNode(await s.registerNode(regInput(2, 'k')));
    assert.equal(await second, 2);
  }));

test('postgres store: an unreachable server is CG_STORE_FAILED naming host and port, never the password', async () => {
  const url = `postgres://conegate:s3cret-pw@127.0.0.1:${server.port}/no_such_database`;
  await assert.rejects(openPostgresStore({ url }), (e) => {
    assert.ok(isConegateError(e) && e.code === 'CG_STORE_FAILED', String(e));
    assert.ok(e.message.includes(`127.0.0.1:${server.port}/no_such_database`), e.message);
    assert.ok(!e.message.includes('s3cret'), e.message);
    return true;
  });
  assert.equal(describeUrl('postgres://u:pw@/db?host=%2Ftmp%2Fx&port=5433'), '/tmp/x:5433/db');
});

test('postgres store: replicas starting at once migrate the same database once', async () => {
  const h = await harness();
  const stores = await Promise.all([h.open(), h.open(), h.open()]);
  try {
    await stores[0]!.createAuthKey(authKey('ak_1', 'k'));
    assert.equal((await stores[2]!.listAuthKeys()).length, 1);
    assert.equal(await stores[1]!.latestSeq(), 0);
  } finally {
    for (const s of stores) await s.close();
    await h.dispose();
  }
});

test('postgres test service: the same server over the unix socket URL (for lab namespaces)', async () => {
  const c = new pg.Client({ connectionString: server.socketUrl });
  await c.connect();
  try {
    assert.deepEqual((await c.query('SELECT 1 AS one')).rows, [{ one: 1 }]);
  } finally {
    await c.end();
  }
});
