/**
 * The coordinator over real HTTPS on loopback: a pinned self-signed certificate, a wrong pin refused,
 * a live map stream between two simulated nodes, slow clients cut, and the admin socket.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { connect } from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { realClock } from '../../clock/clock.ts';
import { isConegateError } from '../../errors.ts';
import { createLogger } from '../../log/logger.ts';
import { AdminClient } from '../client/admin.ts';
import { newMachineKey } from '../sign.ts';
import { MemoryStore } from '../store/memory.ts';
import { connectPinned } from '../tls-pin.ts';
import { SimNode, waitFor } from '../../../../test/fakes/coord-node.ts';
import { Coordinator } from './coordinator.ts';
import { SELF_SIGNED_KEY, selfSignedTls, type TlsIdentity } from './tls.ts';

let dir: string;
let tls: TlsIdentity;
let coord: Coordinator;
let admin: AdminClient;
const hex = () => randomBytes(32).toString('hex');

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'coord-https-'));
  tls = await selfSignedTls(dir, ['127.0.0.1']);
  coord = new Coordinator(
    { host: '127.0.0.1', port: 0, tls, adminSocket: join(dir, 'run', 'admin.sock'), timeouts: { headersMs: 1000, requestMs: 2000, checkIntervalMs: 200, handshakeMs: 1000 } },
    { store: new MemoryStore(), clock: realClock, wallNowMs: Date.now, random: Math.random, randomBytes: (n) => randomBytes(n), log: createLogger({ level: 'silent' }) },
  );
  await coord.start();
  admin = new AdminClient({ socketPath: join(dir, 'run', 'admin.sock') });
});

after(async () => {
  await coord.stop();
  await rm(dir, { recursive: true, force: true });
});

const target = () => ({ host: '127.0.0.1', port: coord.port, fingerprint: tls.fingerprint });

test('self-signed: key 0600, made once and reused (same fingerprint)', async () => {
  assert.equal((await stat(join(dir, SELF_SIGNED_KEY))).mode & 0o777, 0o600);
  assert.match(tls.fingerprint, /^[0-9a-f]{64}$/);
  assert.equal((await selfSignedTls(dir, ['127.0.0.1'])).fingerprint, tls.fingerprint);
});

test('a node with the pinned fingerprint registers and streams; a second node reaches its map', async () => {
  const key = (await admin.post<{ secret: string }>('/admin/authkeys', { reusable: true })).secret;
  const a = new SimNode(target(), newMachineKey((n) => randomBytes(n)));
  const b = new SimNode(target(), newMachineKey((n) => randomBytes(n)));
  const selfA = (await a.register(key, 'alpha', { nodeKey: hex(), discoKey: hex() })).self;
  const stream = await a.stream();
  await waitFor(() => stream.messages.length >= 1, 'the full map');
  assert.equal(stream.messages[0]!.t, 'full');
  const selfB = (await b.register(key, 'beta', { nodeKey: hex(), discoKey: hex() })).self;
  await waitFor(() => stream.messages.some((m) => m.t === 'delta' && m.upsert?.some((p) => p.id === selfB.id)), 'beta in alpha\'s map');
  const nodes = await admin.get<{ nodes: { id: string; online: boolean }[] }>('/admin/nodes');
  assert.equal(nodes.nodes.find((n) => n.id === selfA.id)?.online, true);
  stream.close();
  await stream.closed;
});

test('a wrong fingerprint is refused before any request is sent', async () => {
  const wrong = { ...target(), fingerprint: 'ab'.repeat(32) };
  await assert.rejects(connectPinned(wrong), (e) => isConegateError(e) && e.code === 'CG_NETWORK');
  const node = new SimNode(wrong, newMachineKey((n) => randomBytes(n)));
  await assert.rejects(node.request('POST', '/v1/register', {}), (e) => isConegateError(e) && e.code === 'CG_NETWORK');
});

test('a one-byte-a-second request is cut, and the coordinator keeps serving', async () => {
  const socket = connect({ host: '127.0.0.1', port: coord.port, rejectUnauthorized: false });
  await new Promise((r) => socket.once('secureConnect', r));
  let closed = false;
  socket.on('close', () => (closed = true));
  socket.on('error', () => {});
  const text = 'POST /v1/register HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n';
  // At most 40 bytes at 200 ms: the 1 s header timeout (checked every 200 ms) must cut it first.
  for (let i = 0; i < 40 && !closed; i++) {
    socket.write(text[i]!);
    await new Promise((r) => setTimeout(r, 200));
  }
  assert.equal(closed, true, 'the slow request was not cut');
  const node = new SimNode(target(), newMachineKey((n) => randomBytes(n)));
  assert.equal((await node.request('POST', '/v1/register', { nodeKey: hex(), discoKey: hex(), hostname: 'x', authKey: 'cgk_none' })).status, 401);
});

test('admin socket: 0600; authkey create/list/expire, nodes list/rename, unknown ids are CG_NOT_FOUND', async () => {
  assert.equal((await stat(join(dir, 'run', 'admin.sock'))).mode & 0o777, 0o600);
  const created = await admin.post<{ id: string; secret: string; tags: string[] }>('/admin/authkeys', { tags: ['tag:router'], expiresInSec: 3600 });
  assert.match(created.secret, /^cgk_[0-9a-f]{64}$/);
  const list = await admin.get<{ authKeys: Record<string, unknown>[] }>('/admin/authkeys');
  const listed = list.authKeys.find((k) => k.id === created.id)!;
  assert.equal(listed.secret, undefined);
  assert.equal(listed.secretSha256, undefined);
  await admin.post(`/admin/authkeys/${created.id}/expire`);
  await assert.rejects(admin.post('/admin/authkeys/ak_nope/expire'), (e) => isConegateError(e) && e.code === 'CG_NOT_FOUND');
  await assert.rejects(admin.post('/admin/nodes/nd_nope/rename', { name: 'x' }), (e) => isConegateError(e) && e.code === 'CG_NOT_FOUND');
  await assert.rejects(admin.post('/admin/authkeys', { reusable: 'yes' }), (e) => isConegateError(e) && e.code === 'CG_INPUT_INVALID');
  const gone = new AdminClient({ socketPath: join(dir, 'nothing.sock') });
  await assert.rejects(gone.get('/admin/nodes'), (e) => isConegateError(e) && e.code === 'CG_NETWORK');
});
