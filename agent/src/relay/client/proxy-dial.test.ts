/**
 * The CONNECT edge against an in-process HTTP proxy on 127.0.0.1 (no root; the lab test runs Debian's
 * tinyproxy): tunnel + Basic auth, 407, a proxy that hangs up, NO_PROXY, and the whole client through it.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { x25519 } from '@noble/curves/ed25519.js';
import { realClock } from '../../clock/clock.ts';
import { createLogger } from '../../log/logger.ts';
import { staticAdmission } from '../server/admission.ts';
import { startTestRelay, waitUntil, type TestRelay } from '../server/testing.ts';
import { createRelayClient } from './create.ts';
import { dialRelay } from './dial.ts';
import { rnd } from './testkit.ts';
import { startConnectProxy } from '../../../../test/fakes/connect-proxy.ts';

const admission = staticAdmission([]);
const closers: (() => Promise<void>)[] = [];
after(async () => {
  for (const c of closers.reverse()) await c();
});

const fakeProxy = async (auth: string | undefined, mode: 'ok' | 'hang-up' = 'ok') => {
  const p = await startConnectProxy(auth, mode);
  closers.push(p.close);
  return p;
};

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
