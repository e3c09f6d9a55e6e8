/** `conegate relay serve` as an operator runs it: real processes, admission through a real coordinator. */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { newMachineKey } from '../../coord/sign.ts';
import { createServer, type AddressInfo } from 'node:net';
import { encodeSend } from '../../relay/frames.ts';
import { connectClient, newNode, testCert, waitUntil, type TestClient } from '../../relay/server/testing.ts';
import { SimNode } from '../../../../test/fakes/coord-node.ts';
import { CONEGATE_BIN, runCli, startCoordProcess } from '../../../../test/fakes/coord-process.ts';
import { recordPid } from '../../../../test/lab/proc.ts';

const dir = mkdtempSync(join(tmpdir(), 'relay-cli-'));
after(() => rmSync(dir, { recursive: true, force: true }));

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((res) => s.listen(0, '127.0.0.1', res));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((res) => s.close(() => res()));
  return port;
}

async function startRelay(args: string[], defaults = true) {
  const child = spawn(process.execPath, [CONEGATE_BIN, '--log-level', 'warn', 'relay', 'serve', ...(defaults ? ['--listen', '127.0.0.1:0', '--self-signed'] : []), '--json', ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, CONEGATE_CONFIG: '' } });
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
    async kill(signal: NodeJS.Signals = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) process.kill(child.pid!, signal);
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

/** Sends from one client to a key until the other client has it: at most `tries` packets, 200 ms apart. */
async function sendUntilReceived(from: TestClient, to: TestClient, dst: Uint8Array, text: string, tries = 50): Promise<void> {
  for (let i = 0; i < tries; i++) {
    from.link.write(encodeSend(dst, Buffer.from(text)));
    const got = await to.waitFor((m) => m.kind === 'recv' && Buffer.from(m.data).toString() === text, 200).then(() => true, () => false);
    if (got) return;
  }
  throw new Error(`"${text}" never arrived`);
}

test('two relay processes of one region: A on the first, B on the second, both ways; kill -9 of the first, A back on the second', async () => {
  const meshKeyFile = join(dir, 'mesh.key');
  writeFileSync(meshKeyFile, `${randomBytes(32).toString('hex')}\n`, { mode: 0o600 });
  const cert = await testCert();
  writeFileSync(join(dir, 'ha.crt'), cert.cert);
  writeFileSync(join(dir, 'ha.key'), cert.key, { mode: 0o600 });
  const [a, b] = [newNode(), newNode()];
  const allow = join(dir, 'allow-ha');
  writeFileSync(allow, `${a.hex}\n${b.hex}\n`);
  const [p1, p2] = [await freePort(), await freePort()];
  const peer = (port: number) => `https://127.0.0.1:${port}#sha256=${cert.fingerprint}`;
  const common = ['--admission-allow-file', allow, '--mesh-key-file', meshKeyFile, '--tls-cert', join(dir, 'ha.crt'), '--tls-key', join(dir, 'ha.key')];
  const r1 = await startRelay(['--listen', `127.0.0.1:${p1}`, '--state-dir', join(dir, 'ha1'), ...common, '--mesh-peer', peer(p2)], false);
  const r2 = await startRelay(['--listen', `127.0.0.1:${p2}`, '--state-dir', join(dir, 'ha2'), ...common, '--mesh-peer', peer(p1)], false);
  try {
    const ca = await connectClient(r1, a);
    const cb = await connectClient(r2, b);
    await sendUntilReceived(cb, ca, a.key, 'b->a');
    await sendUntilReceived(ca, cb, b.key, 'a->b');
    await r1.kill('SIGKILL');
    await ca.closed;
    const again = await connectClient(r2, a);
    await sendUntilReceived(cb, again, a.key, 'b->a again');
    await sendUntilReceived(again, cb, b.key, 'a->b again');
    again.link.close();
    cb.link.close();
  } finally {
    await r1.kill();
    await r2.kill();
  }
});
