import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createConnection } from 'node:net';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isConegateError } from '../errors.ts';
import { silentLogger } from '../log/logger.ts';
import { controlRequest } from './control-client.ts';
import { parseControlRequest } from './control-protocol.ts';
import { ControlServer, type ControlHandlers } from './control-server.ts';

let dir: string;
let server: ControlServer;
let downs = 0;
const handlers: ControlHandlers = {
  status: () => ({ peers: [] }),
  down: () => {
    downs++;
    return { stopping: true };
  },
  logout: () => {
    throw new Error('boom');
  },
  'pmp-list': () => ({ mappings: [] }),
  ping: () => 'pong',
  'set-routes': (req) => ({ advertiseRoutes: req.advertiseRoutes ?? null }),
  'ping-peer': (req) => ({ peer: req.peer ?? null, timeoutMs: req.timeoutMs ?? null }),
  page: () => ({ peers: [] }),
  'pmp-delete': (req) => ({ deleted: `${req.client}/${req.protocol}/${req.internalPort}` }),
  'settings-get': () => ({}),
  'settings-set': () => ({}),
  'nat-apply': (req) => ({ confirmSeconds: req.confirmSeconds ?? null }),
  'nat-confirm': () => ({}),
  'nat-revert': () => ({}),
};

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cg-control-'));
  server = await ControlServer.listen(join(dir, 'run', 'conegate.sock'), handlers, silentLogger());
});
after(async () => {
  await server.close();
  await rm(dir, { recursive: true, force: true });
});

/** Raw exchange: send bytes, collect answer lines until the server closes or `lines` arrived. */
function raw(path: string, data: string, lines: number): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const s = createConnection(path);
    let buf = '';
    const done = () => {
      s.destroy();
      resolve(buf.split('\n').filter(Boolean));
    };
    s.on('connect', () => s.write(data));
    s.on('data', (c) => {
      buf += c.toString();
      if (buf.split('\n').filter(Boolean).length >= lines) done();
    });
    s.on('close', done);
    s.on('error', reject);
  });
}

test('the socket is 0600 and answers commands; a second agent on the same path is refused', async () => {
  assert.equal((await stat(server.path)).mode & 0o777, 0o600);
  assert.deepEqual(await controlRequest(server.path, 'status'), { peers: [] });
  assert.deepEqual(await controlRequest(server.path, 'down'), { stopping: true });
  assert.equal(downs, 1);
  await assert.rejects(ControlServer.listen(server.path, handlers, silentLogger()), (e) => isConegateError(e) && e.code === 'CG_BUSY');
});

test('bad requests get an error answer on the same connection and the server keeps serving', async () => {
  const answers = await raw(server.path, ['nope', '{"cmd":"rm -rf"}', '{"cmd":"status","extra":1}', '{"id":"x","cmd":"status"}', '[]', 'null', '{"id":7,"cmd":"ping"}'].join('\n') + '\n', 7);
  const parsed = answers.map((l) => JSON.parse(l) as { ok: boolean; id?: number; error?: { code: string } });
  assert.deepEqual(parsed.map((p) => p.ok), [false, false, false, false, false, false, true]);
  assert.ok(parsed.slice(0, 6).every((p) => p.error?.code === 'CG_INPUT_INVALID'));
  assert.equal(parsed[6]!.id, 7);
  await assert.rejects(controlRequest(server.path, 'logout'), (e) => isConegateError(e) && e.code === 'CG_INTERNAL');
  const long = await raw(server.path, 'x'.repeat(20_000), 1);
  assert.match(long[0]!, /longer than/);
  assert.equal(await controlRequest(server.path, 'ping'), 'pong');
});

test('request schemas: exact keys per command', () => {
  assert.deepEqual(parseControlRequest('{"cmd":"status","id":3}'), { cmd: 'status', id: 3 });
  assert.throws(() => parseControlRequest('{"cmd":"status","id":-1}'), (e) => isConegateError(e) && e.code === 'CG_INPUT_INVALID');
  // set-routes takes its parameters; no other command takes any.
  assert.deepEqual(parseControlRequest('{"cmd":"set-routes","advertiseRoutes":["10.2.0.0/24"],"acceptRoutes":true}'), { cmd: 'set-routes', advertiseRoutes: ['10.2.0.0/24'], acceptRoutes: true });
  for (const bad of ['{"cmd":"status","advertiseRoutes":[]}', '{"cmd":"set-routes","advertiseRoutes":"10.2.0.0/24"}', '{"cmd":"set-routes","acceptRoutes":1}', `{"cmd":"set-routes","advertiseRoutes":${JSON.stringify(Array.from({ length: 65 }, (_, i) => `10.${i}.0.0/16`))}}`]) {
    assert.throws(() => parseControlRequest(bad), (e) => isConegateError(e) && e.code === 'CG_INPUT_INVALID', bad);
  }
});

test('ping-peer: a peer and a bounded timeout, nothing else', async () => {
  assert.deepEqual(parseControlRequest('{"cmd":"ping-peer","peer":"b-h1","timeoutMs":2000}'), { cmd: 'ping-peer', peer: 'b-h1', timeoutMs: 2000 });
  for (const bad of ['{"cmd":"ping-peer","peer":""}', '{"cmd":"ping-peer","peer":"b","timeoutMs":99}', '{"cmd":"ping-peer","peer":"b","timeoutMs":10001}', `{"cmd":"ping-peer","peer":"${'x'.repeat(129)}"}`, '{"cmd":"ping-peer","peer":"b","count":3}', '{"cmd":"status","peer":"b"}']) {
    assert.throws(() => parseControlRequest(bad), (e) => isConegateError(e) && e.code === 'CG_INPUT_INVALID', bad);
  }
  assert.deepEqual(await controlRequest(server.path, 'ping-peer', 5000, { peer: 'b-h1', timeoutMs: 500 }), { peer: 'b-h1', timeoutMs: 500 });
});

test('no agent: CG_NOT_RUNNING; a stale socket file from a crash is replaced', async () => {
  const stale = join(dir, 'stale.sock');
  await assert.rejects(controlRequest(stale, 'status'), (e) => isConegateError(e) && e.code === 'CG_NOT_RUNNING');
  await writeFile(stale, '');
  const s2 = await ControlServer.listen(stale, handlers, silentLogger());
  try {
    assert.equal(await controlRequest(stale, 'ping'), 'pong');
  } finally {
    await s2.close();
  }
});

test('the page commands: each with its own schema, required parameters, nothing extra', () => {
  assert.deepEqual(parseControlRequest('{"cmd":"pmp-delete","client":"192.168.1.10","protocol":"udp","internalPort":5555}'), { cmd: 'pmp-delete', client: '192.168.1.10', protocol: 'udp', internalPort: 5555 });
  assert.deepEqual(parseControlRequest('{"cmd":"nat-apply","confirmSeconds":30}'), { cmd: 'nat-apply', confirmSeconds: 30 });
  assert.deepEqual(parseControlRequest('{"cmd":"nat-apply"}'), { cmd: 'nat-apply' });
  assert.deepEqual(parseControlRequest('{"cmd":"settings-set","config":{"log":{"level":"debug"}}}'), { cmd: 'settings-set', config: { log: { level: 'debug' } } });
  for (const ok of ['page', 'settings-get', 'nat-confirm', 'nat-revert']) assert.deepEqual(parseControlRequest(`{"cmd":"${ok}"}`), { cmd: ok });
  for (const bad of [
    '{"cmd":"pmp-delete","client":"192.168.1.10","protocol":"udp"}',
    '{"cmd":"pmp-delete","client":"192.168.1.10","protocol":"icmp","internalPort":5555}',
    '{"cmd":"pmp-delete","client":"192.168.1.10","protocol":"udp","internalPort":70000}',
    '{"cmd":"pmp-delete","client":"; rm -rf /","protocol":"udp","internalPort":5555}',
    '{"cmd":"nat-apply","confirmSeconds":0}',
    '{"cmd":"nat-apply","confirmSeconds":"30"}',
    '{"cmd":"settings-set"}',
    '{"cmd":"settings-set","config":[]}',
    '{"cmd":"page","config":{}}',
    '{"cmd":"nat-confirm","confirmSeconds":30}',
  ]) {
    assert.throws(() => parseControlRequest(bad), (e) => isConegateError(e) && e.code === 'CG_INPUT_INVALID', bad);
  }
});
