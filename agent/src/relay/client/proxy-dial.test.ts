/**
 * The CONNECT edge against an in-process HTTP proxy on 127.0.0.1 (no root; the lab test runs Debian's
 * tinyproxy): tunnel + Basic auth, 407, a proxy that hangs up, NO_PROXY, and the whole client through it.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { x25519 } from '@noble/curves/ed25519.js';
import { realClock } from '../../clock/clock.ts';
import { createLogger } from '../../log/logger.ts';
import { staticAdmission } from '../server/admission.ts';
import { startTestRelay, waitUntil, type TestRelay } from '../server/testing.ts';
import { createRelayClient } from './create.ts';
import { dialRelay } from './dial.ts';
import { rnd } from './testkit.ts';

const admission = staticAdmission([]);
const closers: (() => Promise<void>)[] = [];
after(async () => {
  for (const c of closers.reverse()) await c();
});

/** A CONNECT-only proxy: `auth` = the expected "user:password", or undefined for none; counts what it saw. */
async function fakeProxy(auth: string | undefined, mode: 'ok' | 'hang-up' = 'ok') {
  const seen = { connects: [] as string[], authorized: 0 };
  const sockets = new Set<Socket>();
  const server: Server = createServer((sock) => {
    sockets.add(sock);
    sock.on('close', () => sockets.delete(sock));
    sock.on('error', () => {});
    let buf = '';
    const onData = (c: Buffer) => {
      buf += c.toString('latin1');
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      sock.off('data', onData);
      const [line, ...headers] = buf.slice(0, end).split('\r\n');
      const target = /^CONNECT (\S+) HTTP\/1\.1$/.exec(line ?? '')?.[1] ?? '?';
      seen.connects.push(target);
      if (mode === 'hang-up') return void sock.destroy();
      const got = headers.find((h) => /^proxy-authorization:/i.test(h))?.split(/:\s*Basic\s+/i)[1];
      if (auth !== undefined && got !== Buffer.from(auth).toString('base64')) {
        return void sock.end('HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm="t"\r\nContent-Length: 0\r\n\r\n');
      }
      seen.authorized++;
      const [host, port] = [target.slice(0, target.lastIndexOf(':')), Number(target.slice(target.lastIndexOf(':') + 1))];
      const up = connect(port, host, () => {
        sock.write('HTTP/1.1 200 Connection established\r\n\r\n');
        up.pipe(sock);
        sock.pipe(up);
      });
      sockets.add(up);
      up.on('close', () => (sockets.delete(up), sock.destroy()));
      up.on('error', () => sock.destroy());
    };
    sock.on('data', onData);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  closers.push(async () => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((r) => server.close(() => r()));
  });
  return { url: (cred?: string) => `http://${cred ? `${cred}@` : ''}127.0.0.1:${(server.address() as AddressInfo).port}`, seen };
}

async function relay(): Promise<TestRelay> {
  const r = await startTestRelay({ admission });
  closers.push(() => r.stop());
  return r;
}

const dialVia = (r: TestRelay, proxy: string, env: Record<string, string> = {}) =>
  dialRelay({ url: r.url, certSha256: r.fingerprint }, { proxy: { config: proxy, env }, transport: 'upgrade', randomBytes: rnd, timeoutMs: 5_000 });

test('proxy dial: CONNECT with Basic auth, then TLS to the relay inside the tunnel', async () => {
  const r = await relay();
  const p = await fakeProxy('alice:pa ss:word');
  const d = await dialVia(r, p.url('alice:pa%20ss%3Aword'));
  assert.equal(d.proxy, p.url(), 'shown without the credentials');
  assert.deepEqual(p.seen.connects, [`127.0.0.1:${r.port}`]);
  d.stream.close();
});

test('proxy dial: 407 and a proxy that hangs up are clear errors; NO_PROXY goes direct', async () => {
  const r = await relay();
  const p = await fakeProxy('alice:right');
  await assert.rejects(dialVia(r, p.url('alice:wrong')), (e: { code: string; message: string }) => e.code === 'CG_PROXY_REFUSED' && /refused the credentials/.test(e.message) && !e.message.includes('wrong'));
  await assert.rejects(dialVia(r, p.url()), (e: { code: string; message: string }) => e.code === 'CG_PROXY_REFUSED' && /requires authentication/.test(e.message));
  const h = await fakeProxy(undefined, 'hang-up');
  await assert.rejects(dialVia(r, h.url()), (e: { code: string; message: string }) => e.code === 'CG_NETWORK' && /proxy .* closed the connection/.test(e.message));
  const before = p.seen.connects.length;
  const direct = await dialRelay({ url: r.url, certSha256: r.fingerprint }, { proxy: { env: { HTTPS_PROXY: p.url('alice:right'), NO_PROXY: '127.0.0.0/8' } }, transport: 'upgrade', randomBytes: rnd });
  assert.equal(direct.proxy, undefined);
  assert.equal(p.seen.connects.length, before, 'NO_PROXY: the proxy saw nothing');
  direct.stream.close();
});

test('proxy dial: the whole client through the proxy exchanges packets and says so in status', async () => {
  const r = await relay();
  const p = await fakeProxy('bob:secret');
  const mk = (proxy: string) => {
    const secret = x25519.utils.randomSecretKey();
    const key = Buffer.from(x25519.getPublicKey(secret)).toString('hex');
    admission.keys.add(key);
    const link = createRelayClient({ proxy }, { clock: realClock, log: createLogger({ level: 'silent' }), nodeSecret: secret, env: {} });
    closers.push(() => link.close());
    link.setRelayMap({ regions: [{ id: 'p', name: 'P', nodes: [{ url: r.url, certSha256: r.fingerprint }] }] });
    return { key, link };
  };
  const a = mk(p.url('bob:secret'));
  const b = mk('none');
  const got: number[] = [];
  a.link.onReceive((_s, pkt) => got.push(pkt[0]!));
  await waitUntil(() => a.link.status().regions[0]!.connected && b.link.status().regions[0]!.connected, 5_000, 'both connected');
  b.link.send('p', a.key, Uint8Array.of(42));
  await waitUntil(() => got.includes(42), 5_000, 'packet through the proxy');
  assert.equal(a.link.status().regions[0]!.viaProxy, true);
  assert.equal(b.link.status().regions[0]!.viaProxy, false);
  assert.ok(p.seen.authorized >= 1);
});
