/** `conegate relay serve` as an operator runs it: real processes, admission through a real coordinator. */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { newMachineKey } from '../../coord/sign.ts';
import { connectClient, newNode, waitUntil } from '../../relay/server/testing.ts';
import { SimNode } from '../../../../test/fakes/coord-node.ts';
import { CONEGATE_BIN, runCli, startCoordProcess } from '../../../../test/fakes/coord-process.ts';
import { recordPid } from '../../../../test/lab/proc.ts';

const dir = mkdtempSync(join(tmpdir(), 'relay-cli-'));
after(() => rmSync(dir, { recursive: true, force: true }));

async function startRelay(args: string[]) {
  const child = spawn(process.execPath, [CONEGATE_BIN, '--log-level', 'warn', 'relay', 'serve', '--listen', '127.0.0.1:0', '--self-signed', '--json', ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, CONEGATE_CONFIG: '' } });
  recordPid(child.pid!, 'conegate relay serve');
  let out = '';
  let err = '';
  child.stderr!.setEncoding('utf8').on('data', (c: string) => (err += c));
  const exited = new Promise<number | null>((r) => child.once('exit', r));
  const info = await new Promise<{ listen: string; fingerprint: string; serverKey: string; stun?: string }>((resolve, reject) => {
    child.stdout!.setEncoding('utf8').on('data', (c: string) => {
      out += c;
      try {
        resolve(JSON.parse(out));
      } catch {
        // not the whole document yet
      }
    });
    void exited.then((code) => reject(new Error(`relay serve exited ${code}: ${err}`)));
  });
  return {
    ...info,
    url: `https://${info.listen}`,
    async kill() {
      if (child.exitCode === null && child.signalCode === null) process.kill(child.pid!, 'SIGTERM');
      await exited;
    },
  };
}

test('usage: admission is mandatory, mesh peers need the mesh key, secrets must be 0600 and well-formed', async () => {
  const state = join(dir, 'usage-state');
  const base = ['relay', 'serve', '--listen', '127.0.0.1:0', '--self-signed', '--state-dir', state];
  assert.equal((await runCli(base)).code, 2, 'no admission source');
  const allow = join(dir, 'allow-usage');
  writeFileSync(allow, `${'ab'.repeat(32)}\n`);
  assert.equal((await runCli([...base, '--admission-allow-file', allow, '--mesh-peer', 'https://127.0.0.1:1'])).code, 2, 'mesh peer without key');
  const loose = join(dir, 'mesh-loose');
  writeFileSync(loose, `${'cd'.repeat(32)}\n`, { mode: 0o644 });
  assert.equal((await runCli([...base, '--admission-allow-file', allow, '--mesh-key-file', loose])).code, 1, 'mesh key readable by others');
  const bad = join(dir, 'mesh-bad');
  writeFileSync(bad, 'short\n', { mode: 0o600 });
  assert.equal((await runCli([...base, '--admission-allow-file', allow, '--mesh-key-file', bad])).code, 2, 'malformed mesh key');
  assert.equal((await runCli([...base, '--admission-allow-file', allow, '--mesh-key-file', bad, '--mesh-peer', 'http://x'])).code, 2, 'http mesh peer');
  const junk = join(dir, 'allow-junk');
  writeFileSync(junk, 'not a key\n');
  assert.equal((await runCli([...base, '--admission-allow-file', junk])).code, 2, 'malformed allow file');
  assert.equal((await runCli([...base, '--coordinator', 'https://127.0.0.1:1'])).code, 2, 'coordinator without secret');
  assert.equal((await runCli(['relay', 'serve', '--listen', 'nowhere', '--self-signed', '--admission-allow-file', allow])).code, 2, 'bad listen');
});

test('with a coordinator: a registered node is admitted, an unknown key refused, a revoked node cut; STUN answers beside it', async () => {
  const secretFile = join(dir, 'relay.secret');
  const relayMap = join(dir, 'relays.json');
  writeFileSync(relayMap, JSON.stringify({ regions: [{ id: 'lab', name: 'Lab', nodes: [{ url: 'https://relay.example:443', stun: 'relay.example:3478', certSha256: 'ab'.repeat(32) }] }] }));
  const coord = await startCoordProcess({ db: join(dir, 'db'), adminSocket: join(dir, 'admin.sock'), extra: ['--relay-secret-file', secretFile, '--relay-map', relayMap] });
  assert.equal(statSync(secretFile).mode & 0o777, 0o600);
  const relay = await startRelay(['--state-dir', join(dir, 'state'), '--stun', '127.0.0.1:0', '--coordinator', `https://127.0.0.1:${coord.port}`, '--coordinator-fingerprint', coord.fingerprint, '--coordinator-secret-file', secretFile]);
  try {
    assert.equal(statSync(join(dir, 'state', 'relay-server.key')).mode & 0o777, 0o600);
    assert.match(relay.stun ?? '', /^127\.0\.0\.1:\d+$/);
    const probe = await runCli(['stun', 'probe', relay.stun!, '--json']);
    assert.equal(probe.code, 0, probe.stderr);
    const created = await runCli(['coord', 'authkey', 'create', '--reusable', '--admin-socket', coord.adminSocket, '--json']);
    const node = newNode();
    const sim = new SimNode({ host: coord.host, port: coord.port, fingerprint: coord.fingerprint }, newMachineKey((n) => randomBytes(n)));
    const self = (await sim.register(JSON.parse(created.stdout).secret, 'site-a', { nodeKey: node.hex, discoKey: randomBytes(32).toString('hex') })).self;
    // The node's full map carries the relay map the coordinator was started with.
    const stream = await sim.stream();
    await waitUntil(() => stream.messages.length > 0, 10_000, 'the full map');
    const full = stream.messages[0]!;
    assert.ok(full.t === 'full');
    assert.deepEqual(full.relays.regions.map((g) => g.id), ['lab']);
    stream.close();
    const r = { url: relay.url, fingerprint: relay.fingerprint };
    const client = await connectClient(r, node);
    await assert.rejects(connectClient(r, newNode()), /not admitted/);
    assert.equal((await runCli(['coord', 'nodes', 'revoke', self.id, '--admin-socket', coord.adminSocket])).code, 0);
    // The relay re-asks every 10 s: the revoked node is cut within that (bounded wait, no fixed sleep).
    let closed = false;
    void client.closed.then(() => (closed = true));
    await waitUntil(() => closed, 20_000, 'the revoked node to be disconnected');
  } finally {
    await relay.kill();
    await coord.kill('SIGTERM');
  }
});
