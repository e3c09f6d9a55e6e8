/**
 * Two coordinator replicas on one PostgreSQL database: node A streams from replica 1, node B registers
 * and reports through replica 2 and A sees it; a route approved through replica 2's admin socket
 * reaches A's stream within 2 s (the acceptance bound of the mesh issue; fan-out is LISTEN/NOTIFY).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { AdminClient } from '../../agent/src/coord/client/admin.ts';
import { newMachineKey } from '../../agent/src/coord/sign.ts';
import { SimNode, waitFor } from '../fakes/coord-node.ts';
import { startCoordProcess, type CoordProcess } from '../fakes/coord-process.ts';
import { startPostgres, type PostgresServer } from '../services/postgres.ts';

const dir = mkdtempSync(join(tmpdir(), 'coord-replicas-'));
let pg: PostgresServer;
let r1: CoordProcess;
let r2: CoordProcess;
const hex = () => randomBytes(32).toString('hex');

before(async () => {
  pg = await startPostgres();
  const db = await pg.createDatabase('coord_replicas');
  r1 = await startCoordProcess({ db, adminSocket: join(dir, 'r1.sock'), extra: ['--tls-dir', join(dir, 'r1')] });
  r2 = await startCoordProcess({ db, adminSocket: join(dir, 'r2.sock'), extra: ['--tls-dir', join(dir, 'r2')] });
});
after(async () => {
  await r1?.kill('SIGTERM');
  await r2?.kill('SIGTERM');
  await pg?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const via = (r: CoordProcess) => ({ host: r.host, port: r.port, fingerprint: r.fingerprint });

test('node A on replica 1 sees node B registered on replica 2; a route approved on replica 2 reaches A within 2 s', async () => {
  const admin2 = new AdminClient({ socketPath: r2.adminSocket });
  const secret = (await new AdminClient({ socketPath: r1.adminSocket }).post<{ secret: string }>('/admin/authkeys', { reusable: true })).secret;
  const a = new SimNode(via(r1), newMachineKey((n) => randomBytes(n)));
  const b = new SimNode(via(r2), newMachineKey((n) => randomBytes(n)));
  await a.register(secret, 'a', { nodeKey: hex(), discoKey: hex() });
  const stream = await a.stream();
  await waitFor(() => stream.messages.length > 0, 'A\'s full map');
  const bSelf = (await b.register(secret, 'b', { nodeKey: hex(), discoKey: hex() })).self;
  await waitFor(() => stream.messages.some((m) => m.t === 'delta' && m.upsert?.some((p) => p.id === bSelf.id)), 'B in A\'s map (from replica 2)');
  assert.equal((await b.request('POST', '/v1/endpoints', { endpoints: [{ addr: '203.0.113.20:41641', type: 'stun' }] })).status, 204);
  await waitFor(() => stream.messages.some((m) => m.t === 'delta' && m.patch?.some((p) => p.id === bSelf.id && p.endpoints?.[0]?.addr === '203.0.113.20:41641')), 'B\'s endpoint in A\'s map');
  assert.equal((await b.request('POST', '/v1/routes', { advertise: ['192.168.77.0/24'] })).status, 204);
  const approvedAt = performance.now();
  await admin2.post('/admin/routes/approve', { nodeId: bSelf.id, cidr: '192.168.77.0/24' });
  await waitFor(() => stream.messages.some((m) => m.t === 'delta' && m.patch?.some((p) => p.id === bSelf.id && p.routes?.includes('192.168.77.0/24'))), 'the approved route in A\'s stream', 2000);
  const ms = Math.round(performance.now() - approvedAt);
  process.stderr.write(`route approved on replica 2 reached A on replica 1 in ${ms} ms\n`);
  stream.close();
  await stream.closed;
});
