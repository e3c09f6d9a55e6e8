/**
 * Interop on loopback: our STUN client against coturn (RFC 5780 on 127.0.0.1 + 127.0.0.2, two ports),
 * and coturn's turnutils_stunclient (a real RFC 5780 client) against our server, which answers its
 * discovery request and refuses its RESPONSE-PORT requests with 420 (the server is no reflector).
 * coturn runs in the foreground with per-run pid, log and db paths, and is stopped by its PID.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { appendFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { realClock } from '../../agent/src/clock/clock.ts';
import { StunClient } from '../../agent/src/stun/client.ts';
import { openDgramBind } from '../../agent/src/stun/dgram-bind.ts';
import { StunServer } from '../../agent/src/stun/server.ts';
import { requirePeers } from '../lab/require-peers.ts';
import { waitFor } from './wg/peers.ts';

/** A UDP port free on both loopback addresses right now. */
async function freePort(): Promise<number> {
  for (let i = 0; i < 20; i++) {
    const s = createSocket('udp4');
    const port = await new Promise<number>((resolve) => s.bind(0, '127.0.0.1', () => resolve(s.address().port)));
    s.close();
    const t = createSocket('udp4');
    const ok = await new Promise<boolean>((resolve) => {
      t.once('error', () => resolve(false));
      t.bind(port, '127.0.0.2', () => resolve(true));
    });
    t.close();
    if (ok) return port;
  }
  throw new Error('no free UDP port on loopback');
}

let dir: string;
let coturn: ChildProcess | undefined;
let p1 = 0;
let p2 = 0;
const RT = { rtoMs: 100, rc: 7, rm: 8 }; // up to ~6.4 s of sends: covers coturn's start-up

before(async () => {
  requirePeers({ turnserver: 'coturn', turnutils_stunclient: 'coturn' });
  dir = mkdtempSync(join(tmpdir(), 'conegate-coturn-'));
  p1 = await freePort();
  p2 = await freePort();
  coturn = spawn('turnserver', [
    '-n', '--stun-only', '--no-auth', '--no-cli', '--no-tls', '--no-dtls', '--no-stdout-log', '--simple-log',
    '--listening-ip', '127.0.0.1', '--listening-ip', '127.0.0.2', '--listening-port', String(p1), '--alt-listening-port', String(p2),
    '--log-file', join(dir, 'turn.log'), '--pidfile', join(dir, 'turn.pid'), '--userdb', join(dir, 'turndb'),
  ], { stdio: 'ignore' });
  if (process.env.CONEGATE_LAB_RUNDIR && coturn.pid) appendFileSync(join(process.env.CONEGATE_LAB_RUNDIR, 'pids'), `${coturn.pid} coturn (stun interop)\n`);
});

after(async () => {
  if (coturn && coturn.exitCode === null) {
    const gone = new Promise((resolve) => coturn!.once('exit', resolve));
    coturn.kill('SIGTERM');
    await Promise.race([gone, new Promise((resolve) => setTimeout(resolve, 3000).unref())]);
    if (coturn.exitCode === null) coturn.kill('SIGKILL');
  }
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('our client against coturn: mapped address, OTHER-ADDRESS, and CHANGE-REQUEST answers from the alternate', async () => {
  const bind = await openDgramBind('127.0.0.1');
  const client = new StunClient({ bind, clock: realClock, randomBytes: (n) => randomBytes(n) });
  try {
    const plain = await client.binding({ address: '127.0.0.1', port: p1 }, { retransmit: RT });
    assert.ok(plain.ok, JSON.stringify(plain));
    assert.deepEqual(plain.mapped, { family: 4, address: '127.0.0.1', port: bind.local.port });
    assert.deepEqual(plain.otherAddress, { family: 4, address: '127.0.0.2', port: p2 });
    assert.match(plain.software ?? '', /Coturn/);
    const other = { address: '127.0.0.2', port: p2 };
    const both = await client.binding({ address: '127.0.0.1', port: p1 }, { changeIp: true, changePort: true, expectFrom: other, retransmit: RT });
    assert.ok(both.ok, JSON.stringify(both));
    assert.deepEqual(both.from, other);
    const port = await client.binding({ address: '127.0.0.1', port: p1 }, { changePort: true, expectFrom: { address: '127.0.0.1', port: p2 }, retransmit: RT });
    assert.ok(port.ok, JSON.stringify(port));
    assert.equal(client.stats.ignoredWrongSource, 0);
  } finally {
    client.close();
    await bind.close();
  }
});

test('turnutils_stunclient against our server: RFC 5780 discovery answered, RESPONSE-PORT refused with 420', async () => {
  const port = await freePort();
  const alt = await freePort();
  const server = new StunServer([{ primary: { address: '127.0.0.1', port }, other: { address: '127.0.0.2', port: alt } }], { openBind: openDgramBind });
  await server.start();
  const c = spawn('timeout', ['10', 'turnutils_stunclient', '-p', String(port), '127.0.0.1'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  c.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  const exited = new Promise<void>((resolve) => c.on('exit', () => resolve()));
  try {
    // turnutils_stunclient sends RESPONSE-PORT in every request after the first and does not give up
    // on a 420, so the test waits for the refusal and then ends it by PID.
    await waitFor(() => server.stats.errors >= 1 && /Other addr/.test(stdout), 8000, 'the 420 answer to RESPONSE-PORT');
    assert.match(stdout, /RFC 5780 response 1/);
    assert.match(stdout, new RegExp(`Response origin: : 127\\.0\\.0\\.1:${port}`));
    assert.match(stdout, new RegExp(`Other addr: : 127\\.0\\.0\\.2:${alt}`));
    assert.match(stdout, /UDP reflexive addr: 127\.0\.0\.1:\d+/);
    assert.equal(server.stats.changed, 0, 'nothing was sent from another socket or to another port');
  } finally {
    if (c.exitCode === null && c.pid !== undefined) process.kill(c.pid, 'SIGTERM');
    await exited;
    await server.stop();
  }
});
