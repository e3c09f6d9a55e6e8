/** `conegate coord` as an operator runs it: real processes, exit statuses, --json on stdout. */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { newMachineKey } from '../../coord/sign.ts';
import { SimNode } from '../../../../test/fakes/coord-node.ts';
import { runCli, startCoordProcess, type CoordProcess } from '../../../../test/fakes/coord-process.ts';
import { durationArg } from './coord.ts';

const dir = mkdtempSync(join(tmpdir(), 'coord-cli-'));
const sock = join(dir, 'admin.sock');
let coord: CoordProcess;
const hex = () => randomBytes(32).toString('hex');

before(async () => {
  coord = await startCoordProcess({ db: join(dir, 'db'), adminSocket: sock });
});
after(async () => {
  await coord?.kill('SIGTERM');
  rmSync(dir, { recursive: true, force: true });
});

test('serve prints the fingerprint it serves with, keeps the SQLite file and TLS key in the db dir (0600)', () => {
  assert.match(coord.fingerprint, /^[0-9a-f]{64}$/);
  assert.equal(statSync(join(dir, 'db', 'coord-tls.key')).mode & 0o777, 0o600);
  assert.equal(statSync(sock).mode & 0o777, 0o600);
});

test('authkey create prints the secret once; a node registers with it; nodes, routes and approve work with --json', async () => {
  const created = await runCli(['coord', 'authkey', 'create', '--reusable', '--expires', '24h', '--tag', 'tag:site', '--admin-socket', sock, '--json']);
  assert.equal(created.code, 0, created.stderr);
  const key = JSON.parse(created.stdout);
  assert.match(key.secret, /^cgk_/);
  assert.deepEqual(key.tags, ['tag:site']);
  const list = await runCli(['coord', 'authkey', 'list', '--admin-socket', sock, '--json']);
  assert.equal(list.code, 0);
  assert.ok(!list.stdout.includes(key.secret), 'list must not show the secret');

  const node = new SimNode({ host: coord.host, port: coord.port, fingerprint: coord.fingerprint }, newMachineKey((n) => randomBytes(n)));
  const self = (await node.register(key.secret, 'site-a', { nodeKey: hex(), discoKey: hex() })).self;
  assert.equal((await node.request('POST', '/v1/routes', { advertise: ['192.168.50.0/24'] })).status, 204);

  const nodes = JSON.parse((await runCli(['coord', 'nodes', 'list', '--admin-socket', sock, '--json'])).stdout);
  assert.deepEqual(nodes.map((n: { id: string }) => n.id), [self.id]);
  const approve = await runCli(['coord', 'routes', 'approve', self.id, '192.168.50.0/24', '--admin-socket', sock, '--json']);
  assert.equal(approve.code, 0, approve.stderr);
  const routes = JSON.parse((await runCli(['coord', 'routes', 'list', '--admin-socket', sock, '--json'])).stdout);
  assert.deepEqual(routes, [{ nodeId: self.id, cidr: '192.168.50.0/24', approved: true }]);
  const renamed = await runCli(['coord', 'nodes', 'rename', self.id, 'gateway', '--admin-socket', sock]);
  assert.equal(renamed.code, 0, renamed.stderr);
  assert.equal((await runCli(['coord', 'nodes', 'revoke', self.id, '--admin-socket', sock])).code, 0);
  assert.equal((await node.request('POST', '/v1/endpoints', { endpoints: [] })).status, 403);
});

test('exit statuses: unknown id 1, bad usage 2, no coordinator 1, no TLS option 2', async () => {
  assert.equal((await runCli(['coord', 'nodes', 'revoke', 'nd_nope', '--admin-socket', sock])).code, 1);
  assert.equal((await runCli(['coord', 'authkey', 'create', '--expires', 'soon', '--admin-socket', sock])).code, 2);
  assert.equal((await runCli(['coord', 'routes', 'approve', 'nd_x', 'not-a-cidr', '--admin-socket', sock])).code, 2);
  const none = await runCli(['coord', 'nodes', 'list', '--admin-socket', join(dir, 'none.sock')]);
  assert.equal(none.code, 1);
  assert.match(none.stderr, /no coordinator is listening/);
  assert.equal((await runCli(['coord', 'serve', '--listen', '127.0.0.1:0', '--db', join(dir, 'db2')])).code, 2);
  assert.equal((await runCli(['coord', 'serve', '--listen', 'nowhere', '--self-signed', '--db', join(dir, 'db2')])).code, 2);
});

test('durations', () => {
  assert.equal(durationArg('24h'), 86400);
  assert.equal(durationArg('90s'), 90);
  assert.throws(() => durationArg('0s'));
  assert.throws(() => durationArg('1y'));
});
