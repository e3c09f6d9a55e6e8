import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { realClock } from '../clock/clock.ts';
import { isConegateError } from '../errors.ts';
import { silentLogger } from '../log/logger.ts';
import { CoordTwin } from '../../../test/fakes/coordinator.ts';
import { selfSignedCert, type TestCert } from '../../../test/fakes/tls-cert.ts';
import { CoordClient } from './coord-client.ts';
import { loadIdentity, type NodeIdentity } from './identity.ts';
import { CoordSession } from './session.ts';
import { waitFor } from './testkit-net.ts';
import { startConnectProxy } from '../../../test/fakes/connect-proxy.ts';

let cert: TestCert;
let other: TestCert;
let twin: CoordTwin;
let dir: string;
const ids: NodeIdentity[] = [];

before(async () => {
  [cert, other] = await Promise.all([selfSignedCert(), selfSignedCert()]);
  twin = new CoordTwin({ cert: cert.cert, key: cert.key, authKeys: ['tskey-good'], keepaliveMs: 200 });
  await twin.up();
  dir = await mkdtemp(join(tmpdir(), 'cg-coordclient-'));
  for (const n of ['a', 'b', 'c']) ids.push(await loadIdentity(join(dir, n)));
});
after(async () => {
  await twin.down();
  await rm(dir, { recursive: true, force: true });
});

const client = (id: NodeIdentity, trust: { ca?: string; fingerprint?: string } = { fingerprint: cert.fingerprint }) => new CoordClient({ url: twin.url, trust, machine: id.machine });

test('TLS: a pinned fingerprint or the CA is accepted; a wrong pin or an unknown CA is refused before any request', async () => {
  const before = twin.counts['POST /v1/register'] ?? 0;
  for (const trust of [{ fingerprint: other.fingerprint }, {}, { ca: other.cert }]) {
    await assert.rejects(client(ids[2]!, trust).register({ nodeKey: 'a'.repeat(64), discoKey: 'b'.repeat(64), hostname: 'x', authKey: 'tskey-good' }), (e) => isConegateError(e) && e.code === 'CG_COORD_REFUSED');
  }
  assert.equal(twin.counts['POST /v1/register'] ?? 0, before, 'no request reached the server');
  await assert.rejects(client(ids[2]!, { ca: cert.cert }).register({ nodeKey: 'a'.repeat(64), discoKey: 'b'.repeat(64), hostname: 'x', authKey: 'bad' }), (e) => isConegateError(e) && e.context.coordCode === 'auth-key-unknown');
});

test('session: register, full map, deltas, endpoints, survive a coordinator outage and resume, then revocation', async () => {
  const log = silentLogger();
  const events: string[] = [];
  let revoked = false;
  const mk = (id: NodeIdentity, name: string) =>
    new CoordSession({ hostname: name, advertiseRoutes: [], authKey: async () => 'tskey-good' }, { api: client(id), identity: id, clock: realClock, log, random: () => 0 }, {
      map: (s, ch) => events.push(`${name}:${s.peers.size}:${ch.removed.length}`),
      revoked: () => { if (name === 'a') revoked = true; },
    });
  const a = mk(ids[0]!, 'a');
  const b = mk(ids[1]!, 'b');
  try {
    a.start();
    await waitFor(() => a.phase === 'streaming' && a.map !== undefined, 'a streaming');
    b.start();
    await waitFor(() => a.map!.peers.size === 1 && b.map?.peers.size === 1, 'a and b see each other');
    a.reportEndpoints([{ addr: '203.0.113.5:41641', type: 'local' }]);
    await waitFor(() => [...b.map!.peers.values()][0]!.endpoints.length === 1, 'b sees a\'s endpoint');

    await twin.down();
    await waitFor(() => a.phase === 'backoff' || a.phase === 'connecting', 'a notices the outage');
    assert.equal(a.map!.peers.size, 1, 'map kept while the coordinator is down');
    const seqBefore = a.map!.seq;
    await twin.up();
    await waitFor(() => a.phase === 'streaming' && b.phase === 'streaming', 'both resume');
    assert.equal(a.map!.seq, seqBefore);
    assert.ok(a.reconnects >= 1);

    twin.revoke(a.self!.id);
    await waitFor(() => revoked && b.map!.peers.size === 0, 'a revoked, b loses a');
    assert.equal(a.phase, 'revoked');
    assert.equal(a.map, undefined);
  } finally {
    await a.stop();
    await b.stop();
  }
  assert.ok(events.length >= 3);
});

test('session: an unknown auth key is a refusal, not a retry loop', async () => {
  const twin2 = new CoordTwin({ cert: cert.cert, key: cert.key, authKeys: [] });
  await twin2.up();
  let refused: string | undefined;
  const s = new CoordSession({ hostname: 'c', advertiseRoutes: [], authKey: async () => 'nope' }, { api: new CoordClient({ url: twin2.url, trust: { fingerprint: cert.fingerprint }, machine: ids[2]!.machine }), identity: ids[2]!, clock: realClock, log: silentLogger() }, { refused: (e) => (refused = e.context.coordCode as string) });
  try {
    s.start();
    await waitFor(() => s.phase === 'refused', 'refused');
    assert.equal(refused, 'auth-key-unknown');
    assert.equal(twin2.counts['POST /v1/register'], 1);
  } finally {
    await s.stop();
    await twin2.down();
  }
});

test('proxy: register and the map stream go through HTTPS_PROXY (CONNECT with Basic auth); NO_PROXY and "none" go direct; a refused password is CG_PROXY_REFUSED', async () => {
  const proxy = await startConnectProxy('alice:s3cret');
  const target = twin.url.replace('https://', '');
  const id = await loadIdentity(join(dir, 'p'));
  const viaEnv = (env: Record<string, string>, config?: string) => new CoordClient({ url: twin.url, trust: { fingerprint: cert.fingerprint }, machine: id.machine, proxy: { ...(config !== undefined ? { config } : {}), env } });
  const req = { nodeKey: Buffer.from(id.node.publicKey).toString('hex'), discoKey: 'b'.repeat(64), hostname: 'p', authKey: 'tskey-good' };
  try {
    const before = twin.counts['POST /v1/register'] ?? 0;
    const withProxy = viaEnv({ HTTPS_PROXY: proxy.url('alice:s3cret') });
    await withProxy.register(req);
    const ctl = new AbortController();
    const lines = await withProxy.openMap(undefined, ctl.signal);
    for await (const line of lines) {
      assert.equal((JSON.parse(line) as { t: string }).t, 'full');
      break;
    }
    ctl.abort();
    assert.deepEqual(proxy.seen.connects, [target, target], 'both requests were tunnelled');
    assert.equal(twin.counts['POST /v1/register'], before + 1);
    // NO_PROXY (and mesh.proxy "none") reach the coordinator directly.
    await viaEnv({ https_proxy: proxy.url('alice:s3cret'), NO_PROXY: '127.0.0.1' }).register(req);
    await viaEnv({ HTTPS_PROXY: proxy.url('alice:s3cret') }, 'none').register(req);
    assert.equal(proxy.seen.connects.length, 2, 'no CONNECT for a host in NO_PROXY or with mesh.proxy none');
    // mesh.proxy wins over the environment; wrong credentials are the proxy's refusal, without the password.
    await assert.rejects(viaEnv({ HTTPS_PROXY: proxy.url('alice:s3cret') }, proxy.url('alice:wrong')).register(req), (e) => isConegateError(e) && e.code === 'CG_PROXY_REFUSED' && !e.message.includes('wrong'));
    assert.equal(twin.counts['POST /v1/register'], before + 3);
  } finally {
    await proxy.close();
  }
});
