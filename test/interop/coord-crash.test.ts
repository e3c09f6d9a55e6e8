/**
 * kill -9 of `conegate coord serve` in the middle of registrations, then a restart on the same
 * database, with SQLite and with PostgreSQL: every node, auth key and route approval the coordinator
 * acknowledged is there after the restart, with the same ids and addresses; nothing half-made is
 * visible; and the interrupted nodes can simply register again.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { AdminClient } from '../../agent/src/coord/client/admin.ts';
import { newMachineKey, type MachineKeyPair } from '../../agent/src/coord/sign.ts';
import type { NodeView } from '../../agent/src/coord/server/admin-api.ts';
import type { RouteRecord } from '../../agent/src/coord/store/types.ts';
import { SimNode } from '../fakes/coord-node.ts';
import { startCoordProcess, type CoordProcess } from '../fakes/coord-process.ts';
import { startPostgres, type PostgresServer } from '../services/postgres.ts';

const dir = mkdtempSync(join(tmpdir(), 'coord-crash-'));
let pg: PostgresServer;
before(async () => {
  pg = await startPostgres();
});
after(async () => {
  await pg?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const hex = () => randomBytes(32).toString('hex');
/** Kill once this many nodes were acknowledged; PARALLEL registrations are in flight at that moment. */
const KILL_AFTER = 12;
const PARALLEL = 6;

interface Acked {
  nodes: Map<string, { id: string; addresses: string[]; key: MachineKeyPair }>;
  keys: string[];
  routes: { nodeId: string; cidr: string }[];
}

async function crashRun(db: string, name: string): Promise<void> {
  const sock = join(dir, `${name}.sock`);
  const common = { db, adminSocket: sock, extra: ['--tls-dir', join(dir, `${name}-tls`)] };
  let coord: CoordProcess = await startCoordProcess(common);
  const admin = new AdminClient({ socketPath: sock });
  const acked: Acked = { nodes: new Map(), keys: [], routes: [] };
  try {
    const key = await admin.post<{ id: string; secret: string }>('/admin/authkeys', { reusable: true });
    acked.keys.push(key.id);
    let killed = false;
    let n = 0;
    const worker = async () => {
      while (!killed) {
        const m = newMachineKey((k) => randomBytes(k));
        const node = new SimNode({ host: coord.host, port: coord.port, fingerprint: coord.fingerprint }, m);
        const i = n++;
        try {
          const self = (await node.register(key.secret, `n${i}`, { nodeKey: hex(), discoKey: hex() })).self;
          acked.nodes.set(m.publicKeyHex, { id: self.id, addresses: self.addresses, key: m });
          if (i % 3 === 0) {
            const cidr = `10.${i % 250}.0.0/16`;
            if ((await node.request('POST', '/v1/routes', { advertise: [cidr] })).status === 204) {
              await admin.post('/admin/routes/approve', { nodeId: self.id, cidr });
              acked.routes.push({ nodeId: self.id, cidr });
            }
          }
          if (i % 4 === 0) acked.keys.push((await admin.post<{ id: string }>('/admin/authkeys', {})).id);
        } catch {
          // the kill: whatever was in flight was never acknowledged
          return;
        }
        if (acked.nodes.size >= KILL_AFTER && !killed) {
          killed = true;
          await coord.kill('SIGKILL');
        }
      }
    };
    await Promise.all(Array.from({ length: PARALLEL }, worker));
    assert.equal(coord.child.signalCode, 'SIGKILL');

    coord = await startCoordProcess(common);
    const nodes = (await admin.get<{ nodes: NodeView[] }>('/admin/nodes')).nodes;
    const byKey = new Map(nodes.map((x) => [x.machineKey, x]));
    for (const [mk, a] of acked.nodes) {
      const got = byKey.get(mk);
      assert.ok(got, `acknowledged node ${a.id} lost`);
      assert.equal(got.id, a.id);
      assert.deepEqual([`${got.ipv4}/32`, `${got.ipv6}/128`], a.addresses);
    }
    const keys = new Set((await admin.get<{ authKeys: { id: string }[] }>('/admin/authkeys')).authKeys.map((k) => k.id));
    for (const id of acked.keys) assert.ok(keys.has(id), `acknowledged auth key ${id} lost`);
    const routes = (await admin.get<{ routes: RouteRecord[] }>('/admin/routes')).routes;
    for (const r of acked.routes) assert.ok(routes.some((x) => x.nodeId === r.nodeId && x.cidr === r.cidr && x.approved), `approved route ${r.cidr} of ${r.nodeId} lost`);
    // addresses stay unique across the crash; an acknowledged node re-registers to the same record
    assert.equal(new Set(nodes.map((x) => x.ipv4)).size, nodes.length);
    const [first] = acked.nodes.values();
    const again = new SimNode({ host: coord.host, port: coord.port, fingerprint: coord.fingerprint }, first!.key);
    assert.equal((await again.register(undefined, 'again', { nodeKey: hex(), discoKey: hex() })).self.id, first!.id);
  } finally {
    await coord.kill('SIGTERM');
  }
}

test('kill -9 mid-registration, SQLite: nothing acknowledged is lost', async () => {
  await crashRun(join(dir, 'sqlite'), 'sqlite');
});

test('kill -9 mid-registration, PostgreSQL: nothing acknowledged is lost', async () => {
  await crashRun(await pg.createDatabase('coord_crash'), 'pg');
});
